"""Masks from index comparisons and torch.where, merged by repeat_interleave over the heads (no 4D view)."""
import torch


def causal_mask(size, dtype=torch.float32, device=None):
    rows = torch.arange(size, device=device)
    blocked = rows[None, :] > rows[:, None]  # (T, T): key index j greater than query index i
    if dtype is torch.bool:
        return blocked
    # full(-inf).triu(1): triu zeroes everything on and below the diagonal
    return torch.full((size, size), float("-inf"), dtype=dtype, device=device).triu(1)


def padding_mask(lengths, max_len=None):
    lengths = torch.as_tensor(lengths)
    if max_len is None:
        max_len = int(lengths.max().item()) if len(lengths) > 0 else 0
    return lengths.unsqueeze(1) <= torch.arange(max_len, device=lengths.device).unsqueeze(0)  # (B, L)


def to_additive(mask, dtype):
    if mask.dtype is not torch.bool:
        return mask
    return torch.where(mask, torch.tensor(float("-inf"), dtype=dtype, device=mask.device),
                       torch.tensor(0.0, dtype=dtype, device=mask.device))


def merge_masks(attn_mask, key_padding_mask, num_heads):
    batch, keys = key_padding_mask.shape
    queries = attn_mask.size(-2)
    per_row = key_padding_mask.repeat_interleave(num_heads, dim=0).unsqueeze(1)  # (B*H, 1, S): b*H + h -> b
    if attn_mask.dtype is torch.bool and key_padding_mask.dtype is torch.bool:
        out = torch.logical_or(attn_mask, per_row)  # broadcasts a (T, S) mask over the rows
    else:
        dtype = key_padding_mask.dtype if attn_mask.dtype is torch.bool else attn_mask.dtype
        out = to_additive(attn_mask, dtype) + to_additive(per_row, dtype)
    return out.expand(batch * num_heads, queries, keys).contiguous()
