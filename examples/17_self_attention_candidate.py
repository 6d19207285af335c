"""An example candidate's submission for 17_self_attention, used by `make demo`.

Written the way many candidates do it (einsum, one mask tensor). It has one realistic bug:
the causal mask is built with triu(diagonal=0), so each query is also hidden from ITSELF.
The report shows which tests catch it and where the outputs differ.
"""
import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        assert d_model % num_heads == 0
        self.h = num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, key_padding_mask=None, causal=False):
        B, T, C = x.shape
        hd = C // self.h
        q = self.q_proj(x).reshape(B, T, self.h, hd)
        k = self.k_proj(x).reshape(B, T, self.h, hd)
        v = self.v_proj(x).reshape(B, T, self.h, hd)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)

        blocked = torch.zeros(B, 1, T, T, dtype=torch.bool, device=x.device)
        if causal:
            blocked = blocked | torch.ones(T, T, dtype=torch.bool, device=x.device).triu(0)  # bug: should be triu(1)
        if key_padding_mask is not None:
            blocked = blocked | key_padding_mask[:, None, None, :]
        scores = scores.masked_fill(blocked, float("-inf"))
        empty = blocked.all(dim=-1, keepdim=True)
        weights = torch.softmax(scores.masked_fill(empty, 0.0), dim=-1).masked_fill(blocked, 0.0)

        out = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(B, T, C)
        return self.out_proj(out)
