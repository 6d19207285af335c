"""Your solution for 09_multihead_attention: functional multi-head attention with masks.

Read README.md for the task, then replace the `raise NotImplementedError`.
Grade it with:  grade exercises/09_multihead_attention
"""
import torch


def multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_heads: int,
                         in_proj_weight: torch.Tensor, in_proj_bias: torch.Tensor | None,
                         out_proj_weight: torch.Tensor, out_proj_bias: torch.Tensor | None,
                         key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                         need_weights: bool = True, average_attn_weights: bool = True):
    """Multi-head scaled dot-product attention of `query` over `key`/`value` (batch first).

    Dimensions: B batch, T query length, S key/value length, E embed dim,
    H = num_heads, hd = E // H.

    Args:
        query: (B, T, E) float tensor.
        key, value: (B, S, E), same dtype; S may differ from T (cross-attention).
        num_heads: H; E must be divisible by it.
        in_proj_weight: (3E, E), rows [W_q; W_k; W_v] stacked as in nn.MultiheadAttention.
        in_proj_bias: (3E,) [b_q; b_k; b_v], or None.
        out_proj_weight: (E, E).  out_proj_bias: (E,) or None.
        key_padding_mask: optional (B, S). bool: True marks a key no query may attend to;
            float: added to every query's scores for that key.
        attn_mask: optional (T, S) (the same for every batch element and head) or (B*H, T, S)
            (row b*H + h is batch b, head h). bool: True = may NOT attend; float: added to the
            scaled scores.
        need_weights: return the attention weights too.
        average_attn_weights: weights averaged over heads (B, T, S), else per head (B, H, T, S).

    Returns:
        (output (B, T, E), weights or None), same dtype as query.
    """
    raise NotImplementedError("project with in_proj, split heads, scaled scores + masks, softmax, "
                              "weighted sum, merge heads, out_proj")
