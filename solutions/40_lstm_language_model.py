"""Reference: a word-level LSTM language model and its data pipeline (batchify, BPTT windows,
a hidden state carried across windows but detached, perplexity), in the layout of PyTorch's
word_language_model example: the token stream is cut into B parallel columns, time first.

Checked by the exercise's suite against plain-loop specifications of batchify and get_batch,
against nn.Embedding + nn.LSTM + nn.Linear loaded with the same weights, and against the
perplexity of the whole stream in one pass (`grade validate`).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """(N,) token stream -> (N // bsz, bsz): column j is the j-th contiguous chunk of the stream."""
    nbatch = data.size(0) // bsz  # S, rows per column; the last N % bsz tokens are dropped
    data = data[: nbatch * bsz]  # (S * B,)
    return data.view(bsz, nbatch).t().contiguous()  # (B, S) -> (S, B): time runs down the rows


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window of rows i .. i+L-1 as input and the same window one step later as target."""
    seq_len = min(bptt, source.size(0) - 1 - i)  # L: the last window is short; the last row has no target
    inp = source[i : i + seq_len]  # (L, B)
    target = source[i + 1 : i + 1 + seq_len]  # (L, B): the next token of every input token
    return inp, target


class LSTMLanguageModel(nn.Module):
    """tokens (L, B) -> embeddings -> LSTM -> logits over the vocabulary (L, B, V)."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, num_layers: int = 1):
        super().__init__()
        self.num_layers, self.hidden_dim = num_layers, hidden_dim
        self.encoder = nn.Embedding(vocab_size, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, num_layers)  # time-first: (L, B, E)
        self.decoder = nn.Linear(hidden_dim, vocab_size)

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        weight = next(self.parameters())  # zeros of the parameters' dtype and device
        return (weight.new_zeros(self.num_layers, bsz, self.hidden_dim),  # h0 (num_layers, B, H)
                weight.new_zeros(self.num_layers, bsz, self.hidden_dim))  # c0 (num_layers, B, H)

    def forward(self, tokens: torch.Tensor, hidden=None):
        if hidden is None:
            hidden = self.init_hidden(tokens.size(1))
        emb = self.encoder(tokens)  # (L, B, E)
        output, hidden = self.rnn(emb, hidden)  # (L, B, H); h_n, c_n (num_layers, B, H)
        return self.decoder(output), hidden  # (L, B, V)


def repackage_hidden(h):
    """The same values cut from their history: backward stops at the window's first step."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def train_epoch(model: LSTMLanguageModel, train_data: torch.Tensor, bptt: int, optimizer,
                clip: float | None = None) -> float:
    """One pass over (S, B) train_data in windows of bptt rows (truncated BPTT); returns the mean
    cross-entropy per target token."""
    model.train()
    hidden = model.init_hidden(train_data.size(1))  # zeros at the start of the epoch only
    total, count = 0.0, 0
    for i in range(0, train_data.size(0) - 1, bptt):
        inp, target = get_batch(train_data, i, bptt)  # (L, B), (L, B)
        # Carry the values of the state into this window, but not its graph: otherwise backward
        # runs into the previous window (already freed: an error; or kept: a wrong, growing gradient).
        hidden = repackage_hidden(hidden)
        optimizer.zero_grad()
        logits, hidden = model(inp, hidden)  # (L, B, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1))  # mean over L * B
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)  # one norm over all parameters
        optimizer.step()
        total += loss.item() * target.numel()  # weight each window by its number of targets
        count += target.numel()
    return total / count


@torch.no_grad()
def perplexity(model: LSTMLanguageModel, data: torch.Tensor, bptt: int) -> float:
    """exp(mean cross-entropy over all (S - 1) * B target tokens of (S, B) data), the hidden state
    carried from window to window from zeros."""
    model.eval()
    hidden = model.init_hidden(data.size(1))
    total, count = 0.0, 0
    for i in range(0, data.size(0) - 1, bptt):
        inp, target = get_batch(data, i, bptt)  # (L, B), (L, B)
        logits, hidden = model(inp, hidden)  # (L, B, V)
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="sum").item()
        count += target.numel()
    return math.exp(total / count)  # natural log, so exp (not 2 **)
