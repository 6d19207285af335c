"""TextCNN as most tutorials write it: token padding by torch.full + cat, conv modules called directly,
F.max_pool1d over the whole length, F.dropout with training=self.training."""
import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_filters, kernel_sizes, num_classes, dropout=0.5, padding_idx=0):
        super().__init__()
        self.p = dropout
        self.pad = padding_idx
        self.min_len = max(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.convs = nn.ModuleList()
        for k in kernel_sizes:
            self.convs.append(nn.Conv1d(in_channels=embed_dim, out_channels=num_filters, kernel_size=k))
        self.fc = nn.Linear(len(kernel_sizes) * num_filters, num_classes)

    def forward(self, tokens):
        if tokens.size(1) < self.min_len:
            fill = torch.full((tokens.size(0), self.min_len - tokens.size(1)), self.pad,
                              dtype=tokens.dtype, device=tokens.device)
            tokens = torch.cat((tokens, fill), dim=1)
        x = self.embedding(tokens).permute(0, 2, 1)  # (B, E, L)
        outs = []
        for i in range(len(self.convs)):
            h = torch.relu(self.convs[i](x))  # (B, F, T)
            outs.append(F.max_pool1d(h, kernel_size=h.size(2)).squeeze(2))  # (B, F)
        z = torch.cat(outs, 1)
        z = F.dropout(z, p=self.p, training=self.training)
        return self.fc(z)
