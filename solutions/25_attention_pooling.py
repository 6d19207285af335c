"""Reference: attention pooling with a learned query (Yang et al., 2016, "Hierarchical Attention
Networks", section 2.2) and a BiLSTM + attention text classifier.

u_t = tanh(W h_t + b); score_t = u_t . q (q is a learned query, the "context vector");
weights = softmax over the real tokens t only; pooled = sum_t weights_t h_t.
Checked by the exercise's suite against a plain-loop float64 spec and a one-sequence-at-a-time
nn.LSTM oracle (`grade validate`).
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class AttentionPooling(nn.Module):
    """Pools (B, T, D) hidden states into one (B, D) vector with a learned query."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = dim if hidden is None else hidden
        self.proj = nn.Linear(dim, hidden)  # W, b
        # The query is a free parameter: "which token matters" is learned, not computed from the input.
        self.query = nn.Parameter(torch.randn(hidden) / hidden ** 0.5)  # (hidden,)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, D = h.shape
        scores = torch.tanh(self.proj(h)) @ self.query  # (B, T, hidden) @ (hidden,) -> (B, T)
        if mask is not None:
            assert mask.shape == (B, T), f"mask must be (B={B}, T={T}), got {tuple(mask.shape)}"
            mask = mask.bool()  # True = a real token
            has_token = mask.any(dim=-1, keepdim=True)  # (B, 1)
            # -inf (not 0) so padding gets exactly zero weight. An all-padding row would be a softmax
            # of all -inf (NaN, and NaN gradients): let such a row see every position, zero it below.
            scores = scores.masked_fill(~(mask | ~has_token), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T): over the tokens, never over the batch
        if mask is not None:
            weights = weights.masked_fill(~mask, 0.0)  # exact zeros; all-padding rows become all 0
        pooled = (weights[:, :, None] * h).sum(dim=1)  # (B, D); all-padding rows: zeros
        return pooled, weights


class BiLSTMAttentionClassifier(nn.Module):
    """Embedding -> packed BiLSTM -> attention pooling over the real tokens -> linear head."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int, pad_idx: int = 0):
        super().__init__()
        self.pad_idx = pad_idx
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.pooling = AttentionPooling(2 * hidden_size)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T = tokens.shape
        assert lengths.shape == (B,), f"lengths must be (B={B},), got {tuple(lengths.shape)}"
        assert int(lengths.min()) >= 1 and int(lengths.max()) <= T, f"lengths must be in 1..{T}, got {lengths.tolist()}"
        x = self.embedding(tokens)  # (B, T, E)
        # Packing is what keeps padding out of the BACKWARD direction: unpacked, it would start
        # its pass on the pad tokens and carry them into every real position.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        # total_length=T keeps the (B, T) layout of the mask even when the last columns are all padding.
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H), zeros at padding
        mask = torch.arange(T, device=tokens.device)[None, :] < lengths.to(tokens.device)[:, None]  # (B, T)
        pooled, weights = self.pooling(out, mask)  # (B, 2H), (B, T)
        return self.head(pooled), weights  # (B, C), (B, T)
