"""masked_mean as an einsum with per-token weights; positions by slicing the table; the encoder's nested-tensor fast path left on."""
import torch
from torch import nn


def masked_mean(x, mask):
    real = mask.bool()
    per_row = real.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)  # (B, 1)
    weights = real.to(x.dtype) / per_row  # (B, T): 1/n at real tokens, 0 at padding
    clean = x.masked_fill(~real.unsqueeze(-1), 0.0)  # junk (even inf) at padding never reaches the sum
    return torch.einsum("btd,bt->bd", clean, weights)


class TransformerClassifier(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_layers, dim_ff, num_classes, max_len,
                 pad_idx=0, dropout=0.1):
        super().__init__()
        self.pad_idx = pad_idx
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        self.pos_embedding = nn.Embedding(max_len, d_model)
        block = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=dim_ff,
                                           dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(block, num_layers=num_layers)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        is_pad = tokens.eq(self.pad_idx)  # (B, T), True = padding
        h = self.embedding(tokens) + self.pos_embedding.weight[: tokens.size(1)]
        h = self.encoder(h, src_key_padding_mask=is_pad)
        return self.classifier(masked_mean(h, ~is_pad))
