"""Helpers the suite runs on both sides: in the worker around the candidate's encoder (through
`candidate.lib.support`), here around the reference's. Only torch is used.

- `Classifier`: the seeds' text classifier (001#27, 001#28), a linear head on the encoder's final
  hidden state; its input carries each row's length in column 0, so `grader.training.fit` can train it.
- `Flat`: the encoder's two outputs as one tensor, for gradient checks.
- `lstm_calls`: how the encoder called its `lstm` (to check that the batch is packed, once).
- `last_sentiment_task`: the convergence data.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class Classifier(nn.Module):
    """inputs (N, 1 + W) int64: column 0 the length L of the row, then W tokens (positions >= L are
    junk padding). logits (N, num_classes) from the encoder's final hidden state (N, D * H)."""

    def __init__(self, encoder: nn.Module, features: int, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(features, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        _, final = self.encoder(inputs[:, 1:], inputs[:, 0])  # (N, D * H)
        return self.head(final)  # (N, num_classes)


def build_classifier(encoder, features: int, num_classes: int) -> Classifier:
    return Classifier(encoder, features, num_classes)


class Flat(nn.Module):
    """encoder(tokens, lengths) -> outputs (B, L, D * H) and final (B, D * H), flattened and concatenated."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, final = self.encoder(tokens, lengths)
        return torch.cat([outputs.reshape(-1), final.reshape(-1)])  # (B * L * D * H + B * D * H,)


def flat(encoder) -> Flat:
    return Flat(encoder)


def lstm_calls(encoder, tokens: torch.Tensor, lengths: torch.Tensor) -> list:
    """Run encoder(tokens, lengths) and return, for each call of encoder.lstm, the kind of its input:
    "packed B" (a PackedSequence of B sequences) or "tensor (shape)"."""
    calls = []

    def record(module, args):
        x = args[0]
        calls.append(f"packed {int(x.batch_sizes[0])}" if isinstance(x, PackedSequence) else f"tensor {tuple(x.shape)}")

    handle = encoder.lstm.register_forward_pre_hook(record)
    try:
        with torch.no_grad():
            encoder(tokens, lengths)
    finally:
        handle.remove()
    return calls


GOOD, BAD = 1, 2  # sentiment words; every other id (0 included) is a neutral word


def last_sentiment_task(n: int, width: int, max_len: int, vocab: int, generator: torch.Generator):
    """inputs (n, 1 + width) int64 (length, then tokens) and labels (n,): 0 if the sentence (its first L
    tokens, L in [1, max_len]) has no sentiment word, else 1 + which one (GOOD, BAD) comes last.
    The padding after L is random tokens, sentiment words included: a model that reads it is misled."""
    g = generator
    lengths = torch.randint(1, max_len + 1, (n,), generator=g)  # (n,)
    tokens = torch.randint(3, vocab, (n, width), generator=g)  # (n, width) neutral words
    tokens = tokens.masked_fill(torch.rand(n, width, generator=g) < 0.05, 0)  # id 0 is a word too
    sentiment = torch.randint(GOOD, BAD + 1, (n, width), generator=g)  # (n, width)
    tokens = torch.where(torch.rand(n, width, generator=g) < 0.25, sentiment, tokens)
    real = torch.arange(width) < lengths[:, None]  # (n, width)
    is_sentiment = (tokens == GOOD) | (tokens == BAD)
    last = torch.where(is_sentiment & real, torch.arange(width), -1).amax(1)  # (n,) -1: none
    labels = torch.where(last >= 0, tokens.gather(1, last.clamp(min=0)[:, None])[:, 0], 0)  # (n,) 0, 1 or 2
    junk = torch.randint(0, vocab, (n, width), generator=g)  # (n, width)
    tokens = torch.where(real, tokens, junk)
    return torch.cat([lengths[:, None], tokens], 1), labels
