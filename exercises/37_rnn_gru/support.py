"""Helpers the suite runs on both sides: in the worker around the candidate's RNN or GRU (through
`candidate.lib.support`), here around nn.RNN / nn.GRU or the reference's. Only torch is used."""
import torch
from torch import nn


def split(result):
    """(output, h_n) from forward's result, which must be such a pair."""
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(v, torch.Tensor) for v in result)):
        raise TypeError(f"forward must return (output, h_n), got {type(result).__name__}")
    return result


class Classifier(nn.Module):
    """A sequence classifier on a batch-first RNN or GRU (one direction): logits from the last layer's
    final state. x (N, T, I) -> logits (N, classes)."""

    def __init__(self, core: nn.Module, hidden_size: int, classes: int):
        super().__init__()
        self.core = core
        self.head = nn.Linear(hidden_size, classes)

    def forward(self, x):
        _, h_n = split(self.core(x))  # (L, N, H)
        return self.head(h_n[-1])  # (N, classes)


def first_step_task(n: int, length: int, classes: int, generator: torch.Generator, noise: float = 0.4):
    """x (n, length, classes): a one-hot class at step 0 and Gaussian noise at every step; y (n,):
    the class at step 0. The model must carry it through the noise to its final state."""
    y = torch.randint(classes, (n,), generator=generator)
    x = noise * torch.randn(n, length, classes, generator=generator)
    x[:, 0] += 2.0 * nn.functional.one_hot(y, classes)
    return x, y
