"""Trusted helpers for 28_lstm_forecasting's suite, run in the worker through `candidate.lib.support(name, ...)` and
imported on the trusted side with `kit.exercise_support`. They return plain data or losses, never verdicts."""
import math

import torch
import torch.nn.functional as F


def noisy_sine(T: int, g: torch.Generator, level: float = 10.0, amplitude: float = 3.0, noise: float = 0.2):
    """(T,) float32 level + amplitude * sin(2 pi t / period + phase) + N(0, noise^2): period in [12, 24] steps,
    phase in [0, 2 pi) and the noise drawn from g. Far from mean 0 / std 1, so standardising matters."""
    period, phase = 12 + 12 * torch.rand((), generator=g), 2 * math.pi * torch.rand((), generator=g)
    wave = torch.sin(2 * math.pi * torch.arange(T) / period + phase)
    return level + amplitude * wave + noise * torch.randn(T, generator=g)


def linear_model(window: int, horizon: int, seed: int) -> torch.nn.Module:
    """A float64 stand-in forecaster (B, window, 1) -> (B, horizon): flatten, then a seeded random Linear."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(window, horizon)).double()


def fit_mse(model, inputs: torch.Tensor, targets: torch.Tensor, *, steps: int, lr: float, batch_size: int,
            seed: int) -> dict:
    """Adam on the mean squared error of model(inputs[rows]) against targets[rows], rows drawn with a generator
    seeded `seed`; returns {"losses": [float per step]} (the suite scores the trained model itself)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(inputs), (batch_size,), generator=generator)
        loss = F.mse_loss(model(inputs[rows]), targets[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return {"losses": losses}
