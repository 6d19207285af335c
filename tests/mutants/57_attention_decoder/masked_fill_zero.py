"""Fills masked scores with 0 instead of -inf: padded positions still get weight."""
import torch
from torch import nn


class LuongAttention(nn.Module):
    """Scores a decoder state against every encoder output; returns the context and the weights."""

    def __init__(self, hidden: int, score: str = "dot"):
        super().__init__()
        assert score in ("dot", "general"), f"score must be 'dot' or 'general', got {score!r}"
        self.score = score
        if score == "general":
            self.W_a = nn.Linear(hidden, hidden, bias=False)

    def forward(self, query: torch.Tensor, encoder_outputs: torch.Tensor,
                src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, S, H = encoder_outputs.shape
        assert query.shape == (B, H), f"query should be (B, H) = {(B, H)}, got {tuple(query.shape)}"
        keys = self.W_a(encoder_outputs) if self.score == "general" else encoder_outputs  # (B, S, H)
        scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, S): one score per source position
        if src_mask is not None:
            assert src_mask.shape == (B, S), f"src_mask should be (B, S) = {(B, S)}, got {tuple(src_mask.shape)}"
            # -inf BEFORE the softmax, so masked positions get exactly 0 weight and the rest still sum to 1
            scores = scores.masked_fill(~src_mask, 0.0)
        weights = torch.softmax(scores, dim=-1)  # (B, S), over the source positions of each example
        context = torch.bmm(weights.unsqueeze(1), encoder_outputs).squeeze(1)  # (B, H)
        return context, weights


class AttentionDecoder(nn.Module):
    """A GRU decoder with Luong attention (no input feeding). The state is h (B, H)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, score: str = "general", bos_id: int = 0):
        super().__init__()
        self.bos_id = bos_id
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.cell = nn.GRUCell(embed_dim, hidden)
        self.attention = LuongAttention(hidden, score)
        self.W_c = nn.Linear(2 * hidden, hidden, bias=False)  # acts on [context; h]
        self.out = nn.Linear(hidden, vocab_size)

    def step(self, prev_token: torch.Tensor, state: torch.Tensor, encoder_outputs: torch.Tensor,
             src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.cell(self.embedding(prev_token), state)  # (B, H): update first, then attend (Luong)
        context, weights = self.attention(h, encoder_outputs, src_mask)  # (B, H), (B, S)
        h_tilde = torch.tanh(self.W_c(torch.cat([context, h], dim=-1)))  # (B, 2H) -> (B, H)
        return self.out(h_tilde), h, weights  # (B, V), (B, H), (B, S)

    def forward(self, targets: torch.Tensor, state: torch.Tensor, encoder_outputs: torch.Tensor,
                src_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T = targets.shape
        bos = torch.full((B, 1), self.bos_id, dtype=targets.dtype, device=targets.device)
        inputs = torch.cat([bos, targets[:, :-1]], dim=1)  # (B, T): step t sees y_{t-1} (BOS at t = 0)
        logits = []
        for t in range(T):
            step_logits, state, _ = self.step(inputs[:, t], state, encoder_outputs, src_mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (B, T, V)
