"""Trusted helpers for 14_rnn_forecasting's suite, run in the worker through `candidate.lib.support(name, ...)` and
imported on the trusted side with `kit.exercise_support`. They return plain data or losses, never verdicts."""
import math

import torch
import torch.nn.functional as F


def sine(T: int, g: torch.Generator) -> torch.Tensor:
    """(T,) float32 sin(2 pi t / period + phase), period in [12, 24] steps, phase in [0, 2 pi), both drawn from g."""
    period, phase = 12 + 12 * torch.rand((), generator=g), 2 * math.pi * torch.rand((), generator=g)
    return torch.sin(2 * math.pi * torch.arange(T) / period + phase)


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
