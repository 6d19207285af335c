"""TextCNN with the windows cut by Tensor.unfold and scored by einsum (the Conv1d modules only hold weights);
short inputs padded with new_full + cat before the lookup; dropout as a module."""
import torch
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_filters, kernel_sizes, num_classes, dropout=0.5, padding_idx=0):
        super().__init__()
        self.padding_idx = padding_idx
        self.kernel_sizes = list(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes])
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(self.kernel_sizes), num_classes)

    def forward(self, tokens):
        B, L = tokens.shape
        K = max(self.kernel_sizes)
        if L < K:
            tokens = torch.cat([tokens, tokens.new_full((B, K - L), self.padding_idx)], dim=1)  # (B, K)
        e = self.embedding(tokens)  # (B, L, E)
        feats = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            windows = e.unfold(1, k, 1)  # (B, T, E, k)
            s = torch.einsum("btek,fek->btf", windows, conv.weight) + conv.bias  # (B, T, F)
            feats.append(s.clamp(min=0).max(dim=1).values)  # (B, F)
        return self.fc(self.drop(torch.cat(feats, dim=-1)))
