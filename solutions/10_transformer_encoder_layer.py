"""Reference: one Transformer encoder layer (Vaswani et al., 2017, section 3.1), post-norm as
in the paper or pre-norm (Xiong et al., 2020), with the state_dict of
torch.nn.TransformerEncoderLayer(batch_first=True, activation="relu").

The attention is written out here (the exercise allows nn.MultiheadAttention; this file does
not need it). Checked against nn.TransformerEncoderLayer by the exercise's suite
(`grade validate`). Masks follow the library: a bool mask is True where attention is NOT
allowed (padding, the future); a float mask is added to the scaled scores.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask (True = not allowed) as 0 / -inf; a float mask as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    assert mask.is_floating_point(), f"a mask must be bool or float, got {mask.dtype}"
    return mask.to(dtype)


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names: a packed
    in_proj_weight [W_q; W_k; W_v] (3C, C), in_proj_bias (3C,), and out_proj (Linear C -> C)."""

    def __init__(self, d_model: int, nhead: int, dropout: float):
        super().__init__()
        assert d_model % nhead == 0, f"d_model={d_model} must be divisible by nhead={nhead}"
        self.nhead, self.head_dim, self.dropout = nhead, d_model // nhead, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention initializes it
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(C, dim=-1)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.nhead, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)
        if attn_mask is not None:
            assert attn_mask.shape == (T, T), f"src_mask must be (T, T) = {(T, T)}, got {tuple(attn_mask.shape)}"
            scores = scores + additive(attn_mask, x.dtype)  # (T, T) broadcasts over batch and heads
        if key_padding_mask is not None:
            assert key_padding_mask.shape == (B, T), \
                f"src_key_padding_mask must be (B, T) = {(B, T)}, got {tuple(key_padding_mask.shape)}"
            scores = scores + additive(key_padding_mask, x.dtype)[:, None, None, :]  # (B, 1, 1, T): key columns
        # A query whose every key is masked would softmax -inf's into NaN; like the library, it
        # gets all-zero weights instead (its attention output is just the out_proj bias).
        has_key = (scores > float("-inf")).any(dim=-1, keepdim=True)  # (B, H, T, 1)
        weights = torch.softmax(scores.masked_fill(~has_key, 0.0), dim=-1) * has_key  # (B, H, T, T)
        # the library drops attention weights (not renormalized: kept ones are scaled by 1/(1-p))
        weights = F.dropout(weights, self.dropout, self.training)
        y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side again
        return self.out_proj(y)


class EncoderLayer(nn.Module):
    """Self-attention and a ReLU feed-forward network, each wrapped in dropout + residual +
    LayerNorm; norm_first picks where the LayerNorm goes:

        post-norm (norm_first=False):  x = norm1(x + sa(x));        x = norm2(x + ff(x))
        pre-norm  (norm_first=True):   x = x + sa(norm1(x));        x = x + ff(norm2(x))
    """

    def __init__(self, d_model: int, nhead: int, dim_ff: int = 2048, dropout: float = 0.1,
                 norm_first: bool = False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = SelfAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout = nn.Dropout(dropout)  # on the FFN's hidden activations
        self.dropout1 = nn.Dropout(dropout)  # on the attention branch's output
        self.dropout2 = nn.Dropout(dropout)  # on the FFN branch's output

    def sa_block(self, x, src_mask, src_key_padding_mask):
        return self.dropout1(self.self_attn(x, src_mask, src_key_padding_mask))  # (B, T, C)

    def ff_block(self, x):
        hidden = self.dropout(F.relu(self.linear1(x)))  # (B, T, dim_ff)
        return self.dropout2(self.linear2(hidden))  # (B, T, C)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = src
        if self.norm_first:
            # the residual stream itself is never normalized: only each branch's input
            x = x + self.sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self.ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self.sa_block(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self.ff_block(x))
        return x
