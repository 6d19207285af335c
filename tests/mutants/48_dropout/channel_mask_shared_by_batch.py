"""channel_dropout draws one (C,) channel mask and applies it to every sample."""
import torch
from torch import nn


def _mask(shape, p, generator, device):
    where = generator.device if generator is not None else device
    return (torch.rand(shape, generator=generator, device=where) < 1 - p).to(device)


def dropout(x, p=0.5, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training:
        return x
    keep = _mask(x.shape, p, generator, x.device)
    if p == 1:
        return x * 0
    return x * keep / (1 - p)


def channel_dropout(x, p=0.5, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training:
        return x
    N, C = x.shape[:2]
    keep = _mask((C,), p, generator, x.device).view(1, C, *[1] * (x.dim() - 2))
    if p == 1:
        return x * 0
    return x * keep / (1 - p)


class Dropout(nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def forward(self, x):
        return dropout(x, self.p, self.training, self.generator)
