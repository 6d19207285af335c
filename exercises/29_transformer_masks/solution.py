"""Your solution for 29_transformer_masks: the masks a Transformer needs.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/29_transformer_masks

Convention (nn.MultiheadAttention, nn.Transformer): a bool mask is True where attention is
NOT allowed; a float mask is added to the attention scores (-inf forbids, 0 allows).
"""
import torch


def causal_mask(size: int, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """The (T, T) mask, T = size, that lets query i attend only to keys j <= i.

    Args:
        size: T >= 1.
        dtype: torch.bool, or a float dtype (float16, bfloat16, float32, float64).
        device: where to create it.

    Returns:
        bool: True above the diagonal (j > i), False elsewhere.
        float: -inf above the diagonal, 0.0 on and below it (like
        nn.Transformer.generate_square_subsequent_mask), in `dtype`.
    """
    raise NotImplementedError("build the (T, T) mask: bool True / float -inf strictly above the diagonal")


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """The key_padding_mask of a right-padded batch.

    Args:
        lengths: (B,) integer tensor, the number of real tokens of each sequence (may be 0).
        max_len: L, the padded length; None means lengths.max(). Never shorter than a sequence.

    Returns:
        (B, L) bool, True at padding positions: mask[b, j] = j >= lengths[b].
    """
    raise NotImplementedError("compare positions 0..L-1 with each length")


def merge_masks(attn_mask: torch.Tensor, key_padding_mask: torch.Tensor, num_heads: int) -> torch.Tensor:
    """One attn_mask equivalent to giving nn.MultiheadAttention both masks separately.

    Dimensions: B batch, H = num_heads, T query length, S key length.

    Args:
        attn_mask: (T, S) (same for every batch element and head) or (B*H, T, S) (row b*H + h is
            batch b, head h); bool or float.
        key_padding_mask: (B, S), bool or float.
        num_heads: H.

    Returns:
        (B*H, T, S), row b*H + h for batch b, head h. Both masks bool: bool, True where either
        blocks. Otherwise float (the float mask's dtype): the sum of both masks' float forms
        (a bool mask counts as -inf where True, 0 where False).
    """
    raise NotImplementedError("broadcast both masks to (B, H, T, S), combine, reshape to (B*H, T, S)")
