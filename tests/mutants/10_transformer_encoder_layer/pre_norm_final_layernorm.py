"""Adds a final (parameter-free) LayerNorm to the pre-norm output."""
import torch
import torch.nn.functional as F
from torch import nn


class EncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_ff=2048, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def sa(self, x, src_mask, src_key_padding_mask):
        y, _ = self.self_attn(x, x, x, attn_mask=src_mask, key_padding_mask=src_key_padding_mask,
                              need_weights=False)
        return self.dropout1(y)

    def ff(self, x):
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src
        if self.norm_first:
            x = x + self.sa(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self.ff(self.norm2(x))
            x = F.layer_norm(x, x.shape[-1:])
        else:
            x = self.norm1(x + self.sa(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self.ff(x))
        return x
