"""Trusted helpers for 28_lstm_forecasting's suite, run in the worker through `candidate.lib.support(name, ...)` and
imported on the trusted side with `kit.exercise_support`. They return plain data or losses, never verdicts."""
import math

import torch


def noisy_sine(T: int, g: torch.Generator, level: float = 10.0, amplitude: float = 3.0, noise: float = 0.2):
    """(T,) float32 level + amplitude * sin(2 pi t / period + phase) + N(0, noise^2): period in [12, 24] steps,
    phase in [0, 2 pi) and the noise drawn from g. Far from mean 0 / std 1, so standardising matters."""
    period, phase = 12 + 12 * torch.rand((), generator=g), 2 * math.pi * torch.rand((), generator=g)
    wave = torch.sin(2 * math.pi * torch.arange(T) / period + phase)
    return level + amplitude * wave + noise * torch.randn(T, generator=g)


class StandIn(torch.nn.Module):
    """A float64 stand-in forecaster (B, W, 1) -> (B, horizon): a seeded random nn.LSTM(1, 3) read at its last step,
    then a Linear. It takes windows with the feature dim only, as the exercise's forecasters do."""

    def __init__(self, horizon: int):
        super().__init__()
        self.lstm, self.head = torch.nn.LSTM(1, 3, batch_first=True), torch.nn.Linear(3, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != 1:
            raise ValueError(f"the stand-in model takes windows (B, W, 1), got {tuple(x.shape)}")
        return self.head(self.lstm(x)[0][:, -1])


def stand_in(horizon: int, seed: int) -> torch.nn.Module:
    """StandIn(horizon) with weights drawn under torch.manual_seed(seed) (the same on both sides), in float64."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return StandIn(horizon).double()
