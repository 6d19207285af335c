"""Attention pooling with a finfo.min fill times the mask, and a classifier that sorts by length to pack and un-sorts with the inverse permutation."""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class AttentionPooling(nn.Module):
    def __init__(self, dim, hidden=None):
        super().__init__()
        hidden = hidden or dim
        self.proj = nn.Linear(dim, hidden)
        self.query = nn.Parameter(torch.empty(hidden).uniform_(-hidden ** -0.5, hidden ** -0.5))

    def forward(self, h, mask=None):
        u = torch.tanh(self.proj(h))  # (B, T, A)
        scores = torch.einsum("bta,a->bt", u, self.query)  # (B, T)
        if mask is None:
            weights = scores.softmax(dim=1)
        else:
            keep = mask.to(scores.dtype)  # 1 = real token
            # the most negative finite number: exp underflows to exactly 0, and an all-padding row
            # stays finite (uniform), then the product with the mask makes it all 0
            lowest = torch.finfo(scores.dtype).min
            weights = scores.masked_fill(keep == 0, lowest).softmax(dim=1) * keep
        pooled = torch.einsum("bt,btd->bd", weights, h)  # (B, D)
        return pooled, weights


class BiLSTMAttentionClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes, pad_idx=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.pooling = AttentionPooling(2 * hidden_size)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens, lengths):
        T = tokens.shape[1]
        sorted_lengths, order = torch.sort(lengths, descending=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)  # inverse[order[i]] = i
        embedded = self.embedding(tokens.index_select(0, order))  # (B, T, E), longest first
        packed = pack_padded_sequence(embedded, sorted_lengths.cpu(), batch_first=True, enforce_sorted=True)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H)
        out = out.index_select(0, inverse)  # back to the caller's order
        positions = torch.arange(T, device=tokens.device).expand(len(lengths), T)
        mask = positions < lengths.to(tokens.device).unsqueeze(1)  # (B, T)
        pooled, weights = self.pooling(out, mask)
        return self.head(pooled), weights
