"""Reference: multi-head self-attention from scratch (Vaswani et al., 2017, section 3.2).

Checked against torch.nn.MultiheadAttention (weights transplanted) and
F.scaled_dot_product_attention by the exercise's suite (`grade validate`).
"""
import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(head_dim)) V per head, heads concatenated, then projected."""

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        assert d_model % num_heads == 0, f"d_model={d_model} must be divisible by num_heads={num_heads}"
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        B, T, C = x.shape
        assert C == self.d_model, f"expected last dim {self.d_model}, got {C}"
        q = self.split_heads(self.q_proj(x))  # (B, H, T, hd)
        k = self.split_heads(self.k_proj(x))  # (B, H, T, hd)
        v = self.split_heads(self.v_proj(x))  # (B, H, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)

        allowed = self.allowed_keys(B, T, key_padding_mask, causal, x.device)  # (B, 1, T, T)
        has_key = allowed.any(dim=-1, keepdim=True)  # (B, 1, T, 1)
        # Masked keys get -inf (exactly zero weight). A query with no key at all would give a
        # softmax of only -inf (NaN); its scores are zeroed first and its weights set to 0 after,
        # so its output is finite (the out_proj bias) and no NaN reaches the gradients.
        scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has_key, 0.0)
        weights = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)  # (B, H, T, T)

        y = weights @ v  # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side again
        return self.out_proj(y)

    @staticmethod
    def allowed_keys(B: int, T: int, key_padding_mask: torch.Tensor | None, causal: bool,
                     device: torch.device) -> torch.Tensor:
        """Bool (B, 1, T, T): may query i attend to key j."""
        allowed = torch.ones(T, T, dtype=torch.bool, device=device)
        if causal:
            allowed = torch.tril(allowed)  # key j <= query i
        allowed = allowed.expand(B, 1, T, T)
        if key_padding_mask is not None:
            assert key_padding_mask.shape == (B, T), f"key_padding_mask must be (B, T), got {tuple(key_padding_mask.shape)}"
            allowed = allowed & ~key_padding_mask.bool()[:, None, None, :]  # True marks padding
        return allowed
