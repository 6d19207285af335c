"""Alternative: a hand-written torch.autograd.Function that saves the mask, masked_fill instead of a multiply, and None-indexing to broadcast the channel mask."""
import torch
from torch import nn


def _validate(p):
    if p < 0 or p > 1:
        raise ValueError(f"p={p} is not a probability (expected 0 <= p <= 1)")


def _draw_keep(shape, p, generator, x):
    """True = keep; one uniform draw of `shape` on the generator's device, as the README says."""
    dev = x.device if generator is None else generator.device
    u = torch.rand(shape, generator=generator, device=dev, dtype=torch.float32)
    return (u < 1 - p).to(x.device)


class _MaskAndScale(torch.autograd.Function):
    """out = x where keep else 0, times scale; backward reuses the saved mask."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.masked_fill(~keep, 0.0) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (keep,) = ctx.saved_tensors
        return grad_output.masked_fill(~keep, 0.0) * ctx.scale, None, None


def _drop(x, keep, p):
    scale = 0.0 if p == 1 else 1 / (1 - p)
    return _MaskAndScale.apply(x, keep, scale)


def dropout(x, p=0.5, training=True, generator=None):
    _validate(p)
    if training:
        return _drop(x, _draw_keep(x.shape, p, generator, x), p)
    return x


def channel_dropout(x, p=0.5, training=True, generator=None):
    _validate(p)
    if not training:
        return x
    n, c = x.shape[0], x.shape[1]
    keep = _draw_keep((n, c), p, generator, x)
    keep = keep[(...,) + (None,) * (x.ndim - 2)]  # (N, C, 1, ..., 1)
    return _drop(x, keep, p)


class Dropout(nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        _validate(p)
        self.p = p
        self.generator = generator

    def forward(self, x):
        if not self.training:
            return x
        return dropout(x, self.p, True, self.generator)
