"""Treats mask True as padding (the nn.MultiheadAttention key_padding_mask convention).

A realistic wrong solution; the suite must fail it.
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
            has_token = mask.any(dim=-1, keepdim=True)
            scores = scores.masked_fill(mask.bool(), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T)
        weights = torch.nan_to_num(weights, nan=0.0)
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
