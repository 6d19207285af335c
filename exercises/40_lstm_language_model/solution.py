"""Your solution for 40_lstm_language_model: an LSTM language model and its data pipeline.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/40_lstm_language_model
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """Cut a token stream into bsz parallel columns, time first.

    Args:
        data: (N,) int64 token ids, N >= bsz.
        bsz: B, the number of columns.

    Returns:
        (S, B) with S = N // B: column j is the j-th contiguous chunk of S tokens,
        out[r, j] = data[j * S + r]; the last N % B tokens are dropped.
    """
    raise NotImplementedError("trim to S * B tokens, then lay the B chunks side by side as columns")


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The BPTT window that starts at row i of a batchified stream.

    Args:
        source: (S, B) tokens from batchify, S >= 2.
        i: first row of the window, 0 <= i <= S - 2.
        bptt: the longest window.

    Returns:
        input (L, B) = rows i .. i+L-1 and target (L, B) = rows i+1 .. i+L,
        with L = min(bptt, S - 1 - i).
    """
    raise NotImplementedError("slice the input rows and the target rows one step later")


class LSTMLanguageModel(nn.Module):
    """Embedding -> LSTM -> Linear, time first.

    Dimensions: L window length, B batch (columns), V vocabulary, E embedding, H hidden, num_layers.

    Submodules (names are graded: the tests load a state_dict into them):
        encoder: nn.Embedding(vocab_size, emb_dim)
        rnn:     nn.LSTM(emb_dim, hidden_dim, num_layers)   (time first, not batch_first)
        decoder: nn.Linear(hidden_dim, vocab_size)
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, num_layers: int = 1):
        super().__init__()
        raise NotImplementedError("create encoder, rnn and decoder")

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h0, c0): zeros, each (num_layers, B, H), of the parameters' dtype and device."""
        raise NotImplementedError

    def forward(self, tokens: torch.Tensor, hidden=None):
        """tokens (L, B) int64 and hidden (h, c) (each (num_layers, B, H)) or None for zeros.

        Returns:
            logits (L, B, V) and the final state (h_n, c_n), each (num_layers, B, H).
        """
        raise NotImplementedError


def train_epoch(model: LSTMLanguageModel, train_data: torch.Tensor, bptt: int, optimizer,
                clip: float | None = None) -> float:
    """One epoch of truncated BPTT over train_data (S, B): windows get_batch(train_data, i, bptt) for
    i = 0, bptt, 2 * bptt, ... < S - 1; the hidden state starts at zeros and is carried from window
    to window, detached; per window: zero the gradients, loss = mean cross-entropy over its L * B
    targets, backward, clip the global gradient norm to `clip` (if not None), optimizer.step().

    Returns:
        the mean loss per target token over the epoch (a Python float).
    """
    raise NotImplementedError


def perplexity(model: LSTMLanguageModel, data: torch.Tensor, bptt: int) -> float:
    """exp(mean cross-entropy, natural log, over all (S - 1) * B target tokens of data (S, B)),
    reading it in windows of bptt rows with the hidden state carried from zeros; no training.

    Returns:
        a Python float.
    """
    raise NotImplementedError
