"""Reference: functional multi-head attention with packed in-projection weights, the way
torch.nn.MultiheadAttention stores them (Vaswani et al., 2017, section 3.2).

Checked against F.multi_head_attention_forward and nn.MultiheadAttention(batch_first=True)
by the exercise's suite (`grade validate`). Masks follow nn.MultiheadAttention: a bool mask
is True where attention is NOT allowed; a float mask is added to the scaled scores.
"""
import math

import torch
import torch.nn.functional as F


def split_heads(t: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, E) -> (B, H, L, hd): head h owns features h*hd .. (h+1)*hd - 1."""
    B, L, E = t.shape
    return t.view(B, L, num_heads, E // num_heads).transpose(1, 2)  # (B, H, L, hd)


def additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask (True = not allowed) as 0 / -inf; a float mask as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    assert mask.is_floating_point(), f"a mask must be bool or float, got {mask.dtype}"
    return mask.to(dtype)


def score_bias(B: int, H: int, T: int, S: int, key_padding_mask, attn_mask, dtype) -> torch.Tensor | None:
    """The sum of both masks as one additive bias that broadcasts to the scores (B, H, T, S)."""
    bias = None
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            assert attn_mask.shape == (T, S), f"2D attn_mask must be (T, S) = {(T, S)}, got {tuple(attn_mask.shape)}"
            bias = additive(attn_mask, dtype)[None, None]  # (1, 1, T, S): the same for every batch and head
        else:
            assert attn_mask.shape == (B * H, T, S), \
                f"3D attn_mask must be (B*H, T, S) = {(B * H, T, S)}, got {tuple(attn_mask.shape)}"
            bias = additive(attn_mask, dtype).view(B, H, T, S)  # row b*H + h is batch b, head h
    if key_padding_mask is not None:
        assert key_padding_mask.shape == (B, S), \
            f"key_padding_mask must be (B, S) = {(B, S)}, got {tuple(key_padding_mask.shape)}"
        kpm = additive(key_padding_mask, dtype)[:, None, None, :]  # (B, 1, 1, S): masks key columns
        bias = kpm if bias is None else bias + kpm
    return bias


def multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_heads: int,
                         in_proj_weight: torch.Tensor, in_proj_bias: torch.Tensor | None,
                         out_proj_weight: torch.Tensor, out_proj_bias: torch.Tensor | None,
                         key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                         need_weights: bool = True, average_attn_weights: bool = True):
    """softmax(Q K^T / sqrt(hd) + mask) V per head, heads concatenated, then out-projected.

    query (B, T, E); key, value (B, S, E); returns (output (B, T, E), weights or None) with
    weights (B, T, S) averaged over heads or (B, H, T, S) per head.
    """
    B, T, E = query.shape
    S = key.shape[1]
    H = num_heads
    assert E % H == 0, f"embed_dim={E} must be divisible by num_heads={H}"
    assert key.shape == (B, S, E) and value.shape == (B, S, E), \
        f"key and value must be (B, S, E) = {(B, S, E)}, got {tuple(key.shape)} and {tuple(value.shape)}"
    hd = E // H

    # in_proj_weight stacks W_q, W_k, W_v along its rows: (3E, E) -> three (E, E)
    w_q, w_k, w_v = in_proj_weight.chunk(3, dim=0)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q = split_heads(F.linear(query, w_q, b_q), H)  # (B, H, T, hd)
    k = split_heads(F.linear(key, w_k, b_k), H)  # (B, H, S, hd)
    v = split_heads(F.linear(value, w_v, b_v), H)  # (B, H, S, hd)

    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, H, T, S)
    bias = score_bias(B, H, T, S, key_padding_mask, attn_mask, scores.dtype)
    if bias is None:
        weights = torch.softmax(scores, dim=-1)  # (B, H, T, S)
    else:
        scores = scores + bias  # float masks add after the scaling, as torch does
        # A query whose every key is masked (-inf) would softmax to NaN: its scores are zeroed
        # before and its weights zeroed after, so its output is just the out_proj bias.
        has_key = (bias > float("-inf")).any(dim=-1, keepdim=True)  # (B or 1, H or 1, T, 1)
        weights = torch.softmax(scores.masked_fill(~has_key, 0.0), dim=-1).masked_fill(~has_key, 0.0)

    y = weights @ v  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, E)  # (B, T, E): heads side by side again
    out = F.linear(y, out_proj_weight, out_proj_bias)  # (B, T, E)
    if not need_weights:
        return out, None
    return out, (weights.mean(dim=1) if average_attn_weights else weights)  # (B, T, S) or (B, H, T, S)
