"""Delegates to nn.MultiheadAttention, the API the exercise forbids (values are otherwise right)."""
import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        self.mha = nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=True)

    def forward(self, x, key_padding_mask=None, causal=False):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1) if causal else None
        y, _ = self.mha(x, x, x, key_padding_mask=key_padding_mask, attn_mask=mask, need_weights=False)
        return y
