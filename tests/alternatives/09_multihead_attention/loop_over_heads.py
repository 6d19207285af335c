"""Multi-head attention as a Python loop over the heads, each head slicing its own rows of the packed weights."""
import math

import torch


def _as_bias(mask, dtype):
    # bool: True = blocked -> -inf; float: added as it is
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.where(mask, float("-inf"), 0.0).to(dtype)
    return mask.to(dtype)


def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, key_padding_mask=None, attn_mask=None, need_weights=True,
                         average_attn_weights=True):
    batch, tgt_len, embed = query.shape
    src_len = key.shape[1]
    head_dim = embed // num_heads
    kpm = _as_bias(key_padding_mask, query.dtype)  # (B, S)
    am = _as_bias(attn_mask, query.dtype)  # (T, S) or (B*H, T, S)
    if am is not None and am.dim() == 3:
        am = am.reshape(batch, num_heads, tgt_len, src_len)

    head_outputs, head_weights = [], []
    for h in range(num_heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        parts = []
        for i, x in enumerate((query, key, value)):  # i = 0, 1, 2: the q, k, v blocks of in_proj
            w = in_proj_weight[i * embed:(i + 1) * embed][rows]  # (hd, E)
            y = torch.matmul(x, w.t())
            if in_proj_bias is not None:
                y = y + in_proj_bias[i * embed:(i + 1) * embed][rows]
            parts.append(y)
        q, k, v = parts  # (B, T, hd), (B, S, hd), (B, S, hd)
        logits = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(head_dim)  # (B, T, S)
        if am is not None:
            logits = logits + (am[:, h] if am.dim() == 4 else am)
        if kpm is not None:
            logits = logits + kpm[:, None, :]
        p = torch.softmax(logits, dim=-1)
        head_weights.append(p)
        head_outputs.append(torch.matmul(p, v))  # (B, T, hd)

    concat = torch.cat(head_outputs, dim=-1)  # (B, T, E), head h in columns h*hd..(h+1)*hd-1
    output = torch.matmul(concat, out_proj_weight.t())
    if out_proj_bias is not None:
        output = output + out_proj_bias
    if not need_weights:
        return output, None
    weights = torch.stack(head_weights, dim=1)  # (B, H, T, S)
    return output, weights.mean(dim=1) if average_attn_weights else weights
