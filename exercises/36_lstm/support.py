"""Helpers the suite runs on both sides: in the worker around the candidate's LSTM (through
`candidate.lib.support`), here around nn.LSTM or the reference's. Only torch is used."""
import torch
from torch import nn


class Flat(nn.Module):
    """`core(x, (h0, c0))` with its outputs (output, (h_n, c_n)) flattened into one vector, so that
    `lib.grads` can backpropagate from a single tensor; `h0 = None` runs from the default state."""

    def __init__(self, core: nn.Module):
        super().__init__()
        self.core = core

    def forward(self, x, h0=None, c0=None):
        result = self.core(x) if h0 is None else self.core(x, (h0, c0))
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], tuple)):
            raise TypeError(f"LSTM.forward must return (output, (h_n, c_n)), got {type(result).__name__}")
        output, (h_n, c_n) = result
        return torch.cat([output.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])


class Classifier(nn.Module):
    """A sequence classifier on an LSTM(batch_first=True): logits from the last layer's final states
    (both directions when bidirectional). x (N, T, I) -> logits (N, classes)."""

    def __init__(self, core: nn.Module, hidden_size: int, num_directions: int, classes: int):
        super().__init__()
        self.core, self.num_directions = core, num_directions
        self.head = nn.Linear(num_directions * hidden_size, classes)

    def forward(self, x):
        _, (h_n, _) = self.core(x)  # (L*D, N, H)
        last = h_n[-self.num_directions:]  # (D, N, H): the last layer
        return self.head(torch.cat(list(last), dim=-1))  # (N, classes)


def first_step_task(n: int, length: int, classes: int, generator: torch.Generator, noise: float = 0.4):
    """x (n, length, classes): a one-hot class at step 0 and Gaussian noise at every step; y (n,):
    the class at step 0. The model must carry it through the noise to its final state."""
    y = torch.randint(classes, (n,), generator=generator)
    x = noise * torch.randn(n, length, classes, generator=generator)
    x[:, 0] += 2.0 * nn.functional.one_hot(y, classes)
    return x, y
