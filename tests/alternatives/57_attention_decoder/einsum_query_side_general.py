"""Luong decoder with einsum scores, the general score applied on the query side (h W_a) and W_c split into its context and state halves."""
import torch
import torch.nn as nn


class LuongAttention(nn.Module):
    def __init__(self, hidden, score="dot"):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"unknown score {score!r}")
        self.kind = score
        if score == "general":
            self.W_a = nn.Linear(hidden, hidden, bias=False)

    def forward(self, query, encoder_outputs, src_mask=None):
        # h^T W_a s = (h W_a) . s: transform the one query instead of the S encoder outputs
        q = query @ self.W_a.weight if self.kind == "general" else query  # (B, H)
        scores = torch.einsum("bh,bsh->bs", q, encoder_outputs)  # (B, S)
        if src_mask is not None:
            scores = torch.where(src_mask, scores, torch.full_like(scores, float("-inf")))
        weights = scores.softmax(dim=1)  # (B, S)
        context = torch.einsum("bs,bsh->bh", weights, encoder_outputs)  # (B, H)
        return context, weights


class AttentionDecoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden, score="general", bos_id=0):
        super().__init__()
        self.hidden = hidden
        self.bos_id = bos_id
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.cell = nn.GRUCell(embed_dim, hidden)
        self.attention = LuongAttention(hidden, score)
        self.W_c = nn.Linear(2 * hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, vocab_size)

    def step(self, prev_token, state, encoder_outputs, src_mask=None):
        h = self.cell(self.embedding(prev_token), state)  # (B, H)
        context, weights = self.attention(h, encoder_outputs, src_mask)
        w_context, w_state = self.W_c.weight.split(self.hidden, dim=1)  # W_c [c; h] = W1 c + W2 h
        h_tilde = torch.tanh(context @ w_context.T + h @ w_state.T)  # (B, H)
        return self.out(h_tilde), h, weights

    def forward(self, targets, state, encoder_outputs, src_mask=None):
        prev = torch.full_like(targets[:, 0], self.bos_id)  # (B,)
        outputs = []
        for t in range(targets.shape[1]):
            logits, state, _ = self.step(prev, state, encoder_outputs, src_mask)
            outputs.append(logits)
            prev = targets[:, t]  # the next step is fed this step's target
        return torch.stack(outputs, 1)  # (B, T, V)
