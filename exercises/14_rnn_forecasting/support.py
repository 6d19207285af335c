"""Trusted helpers for 14_rnn_forecasting's suite, run in the worker through `candidate.lib.support(name, ...)` and
imported on the trusted side with `kit.exercise_support`. They return plain data or losses, never verdicts."""
import math

import torch


def sine(T: int, g: torch.Generator) -> torch.Tensor:
    """(T,) float32 sin(2 pi t / period + phase), period in [12, 24] steps, phase in [0, 2 pi), both drawn from g."""
    period, phase = 12 + 12 * torch.rand((), generator=g), 2 * math.pi * torch.rand((), generator=g)
    return torch.sin(2 * math.pi * torch.arange(T) / period + phase)
