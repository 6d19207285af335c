"""Trusted helpers for 48_dropout's suite, run in the worker through `candidate.lib.support(name, ...)` and imported on
the trusted side with `kit.exercise_support`. They return plain data or modules (handles), never verdicts."""
import math

import torch
from torch import nn


def rings(n: int, g: torch.Generator):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5 (no line separates them): (n, 2), (n,)."""
    label, angle = torch.randint(2, (n,), generator=g), 2 * math.pi * torch.rand(n, generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1).double(), label


def mlp(dropouts: list, hidden: int = 32) -> nn.Module:
    """A float64 classifier of 2-d points into 2 classes with the two given dropout layers:
    Linear, ReLU, dropouts[0], Linear, ReLU, dropouts[1], Linear."""
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), dropouts[0], nn.Linear(hidden, hidden), nn.ReLU(),
                         dropouts[1], nn.Linear(hidden, 2)).double()


def reseeded(fn, seed: int):
    """fn(x, p, training) with a torch.Generator seeded `seed` made anew for every call: the same mask every time."""
    return lambda x, p, training: fn(x, p, training, torch.Generator().manual_seed(seed))
