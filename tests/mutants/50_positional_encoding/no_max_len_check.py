"""No length check: T > max_len fails later with an unclear broadcasting RuntimeError."""
import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_table(max_len, d_model, base=10000.0, dtype=torch.float32):
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(base) / d_model))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])
    return pe.to(dtype)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=True):
        super().__init__()
        self.max_len, self.batch_first = max_len, batch_first
        self.dropout = nn.Dropout(p=dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x):
        T = x.size(1) if self.batch_first else x.size(0)
        pe = self.pe[:T].to(x.dtype)
        if not self.batch_first:
            pe = pe.unsqueeze(1)
        x = x + pe
        return self.dropout(x)


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, d_model, max_len, dropout=0.0, batch_first=True):
        super().__init__()
        self.max_len, self.batch_first = max_len, batch_first
        self.embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        T = x.size(1) if self.batch_first else x.size(0)
        if T > self.max_len:
            raise ValueError(f"sequence of length {T} exceeds max_len {self.max_len}")
        pos = self.embedding(torch.arange(T, device=x.device)).to(x.dtype)
        if not self.batch_first:
            pos = pos.unsqueeze(1)
        return self.dropout(x + pos)
