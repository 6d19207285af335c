"""Delegates to F.multi_head_attention_forward, the API the exercise forbids (values are otherwise right)."""
import torch.nn.functional as F


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, key_padding_mask=None, attn_mask=None, need_weights=True,
                         average_attn_weights=True):
    # torch's function is sequence-first: (L, B, E)
    out, weights = F.multi_head_attention_forward(
        query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), query.shape[-1], num_heads,
        in_proj_weight, in_proj_bias, None, None, False, 0.0, out_proj_weight, out_proj_bias, training=False,
        key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
        average_attn_weights=average_attn_weights)
    return out.transpose(0, 1), weights
