"""Merges heads with a reshape of (B, H, T, hd) without transposing back."""
import math

import torch
import torch.nn.functional as F


def to_bias(mask, dtype):
    """bool (True = blocked) -> 0 / -inf; float -> as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(mask, float("-inf"))
    return mask


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, key_padding_mask=None, attn_mask=None, need_weights=True,
                         average_attn_weights=True):
    B, T, E = query.shape
    S = key.shape[1]
    H, hd = num_heads, E // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q = F.linear(query, w_q, b_q).view(B, T, H, hd).transpose(1, 2)
    k = F.linear(key, w_k, b_k).view(B, S, H, hd).transpose(1, 2)
    v = F.linear(value, w_v, b_v).view(B, S, H, hd).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
    if attn_mask is not None:
        bias = to_bias(attn_mask, scores.dtype)
        scores = scores + (bias.view(B, H, T, S) if bias.dim() == 3 else bias)
    if key_padding_mask is not None:
        scores = scores + to_bias(key_padding_mask, scores.dtype)[:, None, None, :]
    weights = torch.softmax(scores, dim=-1)
    y = (weights @ v).reshape(B, T, E)
    out = F.linear(y, out_proj_weight, out_proj_bias)
    if not need_weights:
        return out, None
    return out, weights.mean(dim=1) if average_attn_weights else weights
