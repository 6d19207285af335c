"""Reference: positional encodings for a transformer (Vaswani et al., 2017, section 3.5).

    PE[t, 2i]   = sin(t * w_i)        w_i = base^(-2i / d_model)
    PE[t, 2i+1] = cos(t * w_i)

plus the learned alternative (BERT, GPT-2): one trained vector per position.
Checked against a plain-loop float64 formula by the exercise's suite (`grade validate`).
"""
import torch
from torch import nn


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(max_len, d_model) table of sinusoidal encodings; any d_model >= 1, odd included."""
    if max_len < 1 or d_model < 1:
        raise ValueError(f"max_len and d_model must be >= 1, got max_len={max_len}, d_model={d_model}")
    # Angles are computed in float64 whatever `dtype` is: t * w_i reaches ~max_len, and a float32
    # angle of 2000 is off by ~1e-4, which sin/cos pass straight through.
    t = torch.arange(max_len, dtype=torch.float64)[:, None]  # (L, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(D/2),) the even column indices 2i
    w = base ** (-two_i / d_model)  # (ceil(D/2),) one frequency per (sin, cos) pair
    angles = t * w  # (L, ceil(D/2))
    pe = torch.empty(max_len, d_model, dtype=torch.float64)  # (L, D)
    pe[:, 0::2] = torch.sin(angles)  # columns 0, 2, 4, ...
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # columns 1, 3, ...: an odd D's last sin has no cos
    return pe.to(dtype)


def check_input(x: torch.Tensor, d_model: int, max_len: int, batch_first: bool) -> int:
    """The sequence length T of x, after checking x's layout against the module's settings."""
    if x.dim() != 3 or x.shape[-1] != d_model:
        layout = "(B, T, D)" if batch_first else "(T, B, D)"
        raise ValueError(f"expected x of shape {layout} with D={d_model}, got {tuple(x.shape)}")
    T = x.shape[1] if batch_first else x.shape[0]
    if T > max_len:
        raise ValueError(f"sequence length T={T} is longer than max_len={max_len}: "
                         f"build the module with max_len >= {T}")
    return T


def add_positions(x: torch.Tensor, pe: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """x + pe with pe (T, D) broadcast over the batch dim of either layout."""
    if not batch_first:
        pe = pe[:, None, :]  # (T, 1, D) against x (T, B, D)
    return x + pe  # out of place: the caller still owns x


class PositionalEncoding(nn.Module):
    """x + PE[:T], then dropout. x is (B, T, D) if batch_first else (T, B, D)."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = nn.Dropout(dropout)
        # A buffer, not a Parameter: it follows .to(dtype/device) but the optimizer never sees it.
        # Not persistent: it is a pure function of (max_len, d_model), so saving it would only add
        # max_len * d_model numbers to every checkpoint and make checkpoints fail to load into a
        # model built with another max_len.
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)  # (L, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = check_input(x, self.d_model, self.max_len, self.batch_first)
        pe = self.pe[:T].to(x.dtype)  # (T, D) in x's dtype (no silent upcast of bf16 inputs)
        return self.dropout(add_positions(x, pe, self.batch_first))


class LearnedPositionalEmbedding(nn.Module):
    """x + E[:T] with E a trained (max_len, D) table, then dropout; layouts as PositionalEncoding."""

    def __init__(self, d_model: int, max_len: int, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.embedding = nn.Embedding(max_len, d_model)  # row t = the vector of position t
        nn.init.normal_(self.embedding.weight, std=0.02)  # small, as GPT-2: positions must not drown tokens
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = check_input(x, self.d_model, self.max_len, self.batch_first)
        pe = self.embedding.weight[:T].to(x.dtype)  # (T, D): rows >= T get no gradient
        return self.dropout(add_positions(x, pe, self.batch_first))
