"""Reference: the masks a Transformer needs (Vaswani et al., 2017, sections 3.2.3 and 5),
in the convention of nn.MultiheadAttention / nn.Transformer: a bool mask is True where
attention is NOT allowed; a float mask is added to the attention scores (-inf forbids).

Checked against nn.Transformer.generate_square_subsequent_mask and against
nn.MultiheadAttention fed the masks separately by the exercise's suite (`grade validate`).
"""
import torch


def causal_mask(size: int, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """(size, size): query i may attend to keys j <= i. bool: True above the diagonal;
    float: -inf above the diagonal, 0 on and below it."""
    assert size >= 1, f"size must be positive, got {size}"
    future = torch.ones(size, size, dtype=torch.bool, device=device).triu(diagonal=1)  # key j > query i
    if dtype == torch.bool:
        return future
    assert dtype.is_floating_point, f"dtype must be bool or a float type, got {dtype}"
    # masked_fill, never future * -inf: 0 * -inf is NaN
    return torch.zeros(size, size, dtype=dtype, device=device).masked_fill(future, float("-inf"))


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B, max_len) bool, True at padding: position j of sequence b is padding when j >= lengths[b]."""
    lengths = torch.as_tensor(lengths)
    assert lengths.dim() == 1, f"lengths must be 1-D (B,), got shape {tuple(lengths.shape)}"
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else max_len
    assert max_len >= longest, f"max_len={max_len} is shorter than the longest sequence ({longest})"
    positions = torch.arange(max_len, device=lengths.device)  # (max_len,)
    return positions[None, :] >= lengths[:, None]  # (B, max_len)


def as_float(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as 0 / -inf in `dtype`; a float mask as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask


def merge_masks(attn_mask: torch.Tensor, key_padding_mask: torch.Tensor, num_heads: int) -> torch.Tensor:
    """One (B*H, T, S) attn_mask equivalent to passing attn_mask (T, S) or (B*H, T, S) and
    key_padding_mask (B, S) separately to nn.MultiheadAttention with num_heads heads.

    Both bool: bool, True where either masks. Otherwise float: the sum of their float forms
    (a bool one becomes -inf / 0 in the float one's dtype)."""
    B, S = key_padding_mask.shape
    H = num_heads
    T = attn_mask.shape[-2]
    assert attn_mask.shape in ((T, S), (B * H, T, S)), \
        f"attn_mask must be (T, S) or (B*H, T, S) = {(B * H, T, S)}, got {tuple(attn_mask.shape)}"
    attn = attn_mask.reshape(-1, H, T, S) if attn_mask.dim() == 3 else attn_mask[None, None]  # (B or 1, H or 1, T, S)
    kpm = key_padding_mask[:, None, None, :]  # (B, 1, 1, S): the same for every head and query
    if attn.dtype == torch.bool and kpm.dtype == torch.bool:
        merged = attn | kpm  # (B, H, T, S)
    else:
        dtype = attn.dtype if attn.dtype != torch.bool else kpm.dtype
        merged = as_float(attn, dtype) + as_float(kpm, dtype)  # (B, H, T, S)
    # batch-major like nn.MultiheadAttention: row b*H + h is batch b, head h
    return merged.expand(B, H, T, S).reshape(B * H, T, S)  # (B*H, T, S)
