"""A custom autograd.Function that saves memory by redrawing the mask in backward: a different mask."""
import torch
from torch import nn


def _mask(shape, p, generator, device):
    where = generator.device if generator is not None else device
    return (torch.rand(shape, generator=generator, device=where) < 1 - p).to(device)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, generator, mask_shape):
        ctx.p, ctx.generator, ctx.mask_shape = p, generator, mask_shape
        keep = _mask(mask_shape, p, generator, x.device)
        if p == 1:
            return x * 0
        return x * keep / (1 - p)

    @staticmethod
    def backward(ctx, grad_out):
        keep = _mask(ctx.mask_shape, ctx.p, ctx.generator, grad_out.device)  # no mask saved: draw it again
        if ctx.p == 1:
            return grad_out * 0, None, None, None
        return grad_out * keep / (1 - ctx.p), None, None, None


def dropout(x, p=0.5, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training:
        return x
    return _Dropout.apply(x, p, generator, x.shape)


def channel_dropout(x, p=0.5, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training:
        return x
    return _Dropout.apply(x, p, generator, (*x.shape[:2], *[1] * (x.dim() - 2)))


class Dropout(nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def forward(self, x):
        return dropout(x, self.p, self.training, self.generator)
