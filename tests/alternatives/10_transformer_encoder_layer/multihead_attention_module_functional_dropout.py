"""nn.MultiheadAttention for the attention, functional dropout with the training flag, one residual helper."""
import torch
import torch.nn.functional as F
from torch import nn


class EncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_ff=2048, dropout=0.1, norm_first=False):
        super().__init__()
        self.p = dropout
        self.norm_first = norm_first
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def _drop(self, t):
        return F.dropout(t, p=self.p, training=self.training)

    def _attend(self, h, attn_mask, padding):
        out, _ = self.self_attn(h, h, h, attn_mask=attn_mask, key_padding_mask=padding, need_weights=False)
        return self._drop(out)

    def _feed_forward(self, h):
        return self._drop(self.linear2(self._drop(torch.relu(self.linear1(h)))))

    def _residual(self, x, norm, branch):
        if self.norm_first:
            return x + branch(norm(x))
        return norm(x + branch(x))

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        out = self._residual(src, self.norm1, lambda h: self._attend(h, src_mask, src_key_padding_mask))
        return self._residual(out, self.norm2, self._feed_forward)
