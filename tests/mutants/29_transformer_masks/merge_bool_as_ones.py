"""Adds a bool mask to a float one as 0/1 (mask.to(dtype)) instead of 0/-inf."""
import torch


def causal_mask(size, dtype=torch.float32, device=None):
    mask = torch.triu(torch.ones(size, size, dtype=torch.bool, device=device), diagonal=1)
    if dtype == torch.bool:
        return mask
    return torch.zeros(size, size, dtype=dtype, device=device).masked_fill(mask, float("-inf"))


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = int(lengths.max())
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def to_float(mask, dtype):
    return mask.to(dtype)


def merge_masks(attn_mask, key_padding_mask, num_heads):
    B, S = key_padding_mask.shape
    T = attn_mask.shape[-2]
    if attn_mask.dim() == 2:
        attn_mask = attn_mask.unsqueeze(0).expand(B * num_heads, T, S)
    kpm = key_padding_mask.repeat_interleave(num_heads, dim=0)[:, None, :]  # (B*H, 1, S)
    if attn_mask.dtype == torch.bool and kpm.dtype == torch.bool:
        return attn_mask | kpm
    dtype = attn_mask.dtype if attn_mask.is_floating_point() else kpm.dtype
    return to_float(attn_mask, dtype) + to_float(kpm, dtype)
