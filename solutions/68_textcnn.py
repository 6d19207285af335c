"""Reference: TextCNN for sentence classification (Kim, 2014): embed, 1-D convolutions of several
widths over time, ReLU, max-over-time pooling, concatenation, dropout, linear classifier.

Checked by the exercise's suite (`grade validate`) against a plain loop over windows.
"""
import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    """Logits (B, num_classes) for token ids (B, L); a sequence shorter than the widest kernel is
    first right-padded with padding_idx up to max(kernel_sizes)."""

    def __init__(self, vocab_size: int, embed_dim: int, num_filters: int, kernel_sizes,
                 num_classes: int, dropout: float = 0.5, padding_idx: int = 0):
        super().__init__()
        self.padding_idx = padding_idx
        self.max_kernel = max(kernel_sizes)
        # padding_idx: that row starts at zero and never receives a gradient
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        # one detector bank per width, in the order of kernel_sizes: channels are the embedding dims
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(kernel_sizes), num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, L = tokens.shape
        if L < self.max_kernel:  # no window of the widest kernel fits: pad at the end, as a batch would be
            tokens = F.pad(tokens, (0, self.max_kernel - L), value=self.padding_idx)  # (B, max_kernel)
        x = self.embedding(tokens)  # (B, L', E)
        x = x.transpose(1, 2)  # (B, E, L'): Conv1d slides over the last dim, which must be time
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))  # (B, F, L' - k + 1): one score per filter and window
            pooled.append(h.amax(dim=2))  # (B, F): max over time, wherever the feature fired
        features = torch.cat(pooled, dim=1)  # (B, F * len(kernel_sizes)), blocks in kernel_sizes order
        return self.fc(self.dropout(features))  # (B, num_classes)
