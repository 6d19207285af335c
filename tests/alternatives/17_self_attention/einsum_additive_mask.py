"""Alternative: einsum for the head products, an additive -inf bias and a hand-written stable softmax."""
import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.h = num_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(d_model, d_model, bias=bias) for _ in range(4))

    def forward(self, x, key_padding_mask=None, causal=False):
        B, T, C = x.shape
        q, k, v = (p(x).unflatten(-1, (self.h, C // self.h)) for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, T, H, hd)
        s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(C // self.h)  # (B, H, T, T)
        bias = torch.zeros(B, 1, T, T, dtype=x.dtype, device=x.device)  # (B, 1, T, T)
        if causal:
            future = torch.arange(T, device=x.device)[None, :] > torch.arange(T, device=x.device)[:, None]  # (T, T)
            bias = bias.masked_fill(future, float("-inf"))
        if key_padding_mask is not None:
            bias = bias.masked_fill(key_padding_mask.bool().view(B, 1, 1, T), float("-inf"))
        s = s + bias
        top = s.detach().amax(dim=-1, keepdim=True)  # (B, H, T, 1)
        e = torch.exp(s - torch.where(torch.isfinite(top), top, torch.zeros_like(top)))
        w = e / e.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)  # 0 for a query with no key
        y = torch.einsum("bhqk,bkhd->bqhd", w, v).flatten(2)  # (B, T, C)
        return self.out_proj(y)
