"""TextCNN by definition: a Python loop over window starts, each window flattened and scored by F.linear
against the flattened filters, the maximum kept as it goes; short inputs padded with zero vectors
(the padding row of the embedding is zero)."""
import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_filters, kernel_sizes, num_classes, dropout=0.5, padding_idx=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(kernel_sizes), num_classes)

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, L)
        K = max(c.kernel_size[0] for c in self.convs)
        if x.shape[2] < K:
            x = F.pad(x, (0, K - x.shape[2]))  # zero vectors == the padding row's embedding
        feats = []
        for conv in self.convs:
            k = conv.kernel_size[0]
            w = conv.weight.reshape(conv.weight.shape[0], -1)  # (F, E * k)
            best = None
            for t in range(x.shape[2] - k + 1):
                s = F.relu(F.linear(x[:, :, t:t + k].reshape(x.shape[0], -1), w, conv.bias))  # (B, F)
                best = s if best is None else torch.maximum(best, s)
            feats.append(best)
        return self.fc(self.dropout(torch.cat(feats, dim=1)))
