"""Alternative: frequencies as exp(-2i ln(base) / d) (the PyTorch tutorial's form), sin and cos interleaved by stack + flatten, the learned table read through an nn.Embedding lookup, and (T, B, D) inputs handled by transposing to batch-first and back."""
import math

import torch
from torch import nn


def sinusoidal_table(max_len, d_model, base=10000.0, dtype=torch.float32):
    if max_len <= 0 or d_model <= 0:
        raise ValueError(f"need max_len >= 1 and d_model >= 1, got {max_len} and {d_model}")
    pairs = (d_model + 1) // 2
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    div_term = torch.exp(torch.arange(pairs, dtype=torch.float64) * (-2.0 * math.log(base) / d_model))  # (P,)
    angle = position * div_term  # (L, P)
    table = torch.stack((torch.sin(angle), torch.cos(angle)), dim=2).flatten(1)  # (L, 2P): sin, cos, sin, ...
    return table[:, :d_model].to(dtype)  # an odd d_model drops the last cos


class _AddPositions(nn.Module):
    """Shared forward: checks, layout, addition out of place, then dropout."""

    def _add(self, x, rows):
        if x.ndim != 3 or x.size(-1) != self.d_model:
            raise ValueError(f"x must be 3-d with last dim {self.d_model}, got shape {tuple(x.shape)}")
        xb = x if self.batch_first else x.transpose(0, 1)  # (B, T, D)
        seq_len = xb.size(1)
        if seq_len > self.max_len:
            raise ValueError(f"T={seq_len} exceeds max_len={self.max_len}")
        out = xb + rows(seq_len).to(dtype=x.dtype).unsqueeze(0)  # (B, T, D)
        out = self.drop(out)
        return out if self.batch_first else out.transpose(0, 1)


class PositionalEncoding(_AddPositions):
    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.drop = nn.Dropout(p=dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x):
        return self._add(x, lambda T: self.pe[:T])


class LearnedPositionalEmbedding(_AddPositions):
    def __init__(self, d_model, max_len, dropout=0.0, batch_first=True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, mean=0.0, std=0.02)
        self.drop = nn.Dropout(p=dropout)

    def forward(self, x):
        return self._add(x, lambda T: self.embedding(torch.arange(T, device=x.device)))
