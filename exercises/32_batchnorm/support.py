"""Trusted helpers for the 32_batchnorm suite: the same functions build models around the
candidate's BatchNorm in the worker (through `candidate.lib.support`) and around the reference
in the grader. They return modules (handles) or plain data, never a verdict."""
import math

import torch
from torch import nn


def classifier(norm_in: nn.Module, norm_hidden: nn.Module, hidden: int) -> nn.Sequential:
    """(N, 2) -> norm_in -> Linear(2, hidden) -> norm_hidden -> ReLU -> Linear(hidden, 2) logits.

    state_dict keys: 0.* (norm_in), 1.* (first Linear), 2.* (norm_hidden), 4.* (last Linear)."""
    return nn.Sequential(norm_in, nn.Linear(2, hidden), norm_hidden, nn.ReLU(), nn.Linear(hidden, 2))


def autograd_history(module: nn.Module) -> dict:
    """{buffer name: description of its autograd history, or None when it has none}."""
    return {name: (None if buf is None or (not buf.requires_grad and buf.grad_fn is None)
                   else f"requires_grad={buf.requires_grad}, grad_fn={type(buf.grad_fn).__name__}")
            for name, buf in module.named_buffers()}


def channel_stats(C: int, g):
    """Per-channel scale in [0.5, 3] and shift in [-2, 2] (the statistics of a data set), float64."""
    return 0.5 + 2.5 * torch.rand(C, generator=g, dtype=torch.float64), 4 * torch.rand(C, generator=g, dtype=torch.float64) - 2


def random_batch(shape: tuple, stats: tuple, g, dtype=torch.float64):
    """x of shape (N, C, *positions) for shape (N, *positions): channel c ~ N(shift_c, scale_c^2)."""
    scale, shift = stats
    per_channel = (1, len(scale)) + (1,) * (len(shape) - 1)
    x = torch.randn(shape[0], len(scale), *shape[1:], generator=g, dtype=torch.float64)
    return (x * scale.view(per_channel) + shift.view(per_channel)).to(dtype)


def random_state(state_dict: dict, g) -> dict:
    """A random value for every entry of a batch norm's state_dict: weights around 1, biases and
    running means around 0, running variances in [0.5, 2], num_batches_tracked in 0..5."""
    state = {}
    for name, value in state_dict.items():
        if name == "weight":
            state[name] = 1 + 0.5 * torch.randn(value.shape, generator=g, dtype=torch.float64)
        elif name in ("bias", "running_mean"):
            state[name] = 0.5 * torch.randn(value.shape, generator=g, dtype=torch.float64)
        elif name == "running_var":
            state[name] = 0.5 + 1.5 * torch.rand(value.shape, generator=g, dtype=torch.float64)
        else:
            state[name] = torch.randint(6, (), generator=g, dtype=torch.long)
    return state


def scaled_rings(n: int, center, g, scale=(300.0, 0.02), offset=(1000.0, -5.0)):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5 around `center`, then
    feature 0 scaled by 300 and shifted by 1000, feature 1 scaled by 0.02: (n, 2) and (n,)."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1) + center  # (n, 2)
    return x * torch.tensor(scale) + torch.tensor(offset), label


def rings_task(g):
    """(x_train, y_train, x_test, y_test): 512 points each of one ring pair (random center)."""
    center = 2 * torch.rand(2, generator=g) - 1
    return (*scaled_rings(512, center, g), *scaled_rings(512, center, g))
