"""Invariance checks: outputs that must not change when only the ignored part of an input does
(future positions under a causal mask, padded positions)."""
from __future__ import annotations

from typing import Callable

import torch

from grader.compare import assert_close, assert_shape, assert_tensor


def assert_ignores(fn: Callable, x: torch.Tensor, changed: torch.Tensor, g: torch.Generator, *,
                   what: str = "the ignored positions", where=None, fresh: Callable | None = None) -> None:
    """Redraw the elements of `x` selected by the bool mask `changed` (broadcast to x) and require
    `fn`'s output (on the elements selected by the bool mask `where`, default all) not to change.
    fresh(shape) draws the new values (default N(0, 1) of x's dtype; e.g. random token ids).

    >>> assert_ignores(lambda x: m(x, key_padding_mask=kpm), x, kpm[..., None], g,
    ...                what="padded tokens", where=~kpm[..., None])
    """
    fresh = fresh or (lambda shape: torch.randn(shape, generator=g, dtype=x.dtype))
    x_changed = torch.where(changed.expand_as(x), fresh(x.shape), x)
    before = assert_tensor(fn(x), "output")
    after = assert_shape(fn(x_changed), before.shape, f"output after changing only {what}")
    assert_close(after, before, f"outputs after changing only {what}", where=where)


def assert_causal(fn: Callable, x: torch.Tensor, t: int, g: torch.Generator, *, dim: int = 1,
                  fresh: Callable | None = None) -> None:
    """Redraw the positions after `t` along `dim` of `x` and require `fn`'s outputs at positions
    0..t (the same dim of the output) not to change: the future must not leak in.

    >>> assert_causal(lambda x: m(x, causal=True), x, t=2, g=g)  # x (B, T, C), positions on dim 1
    """
    shape = [1] * x.dim()
    shape[dim] = x.shape[dim]
    future = (torch.arange(x.shape[dim]) > t).view(shape)
    fresh = fresh or (lambda s: torch.randn(s, generator=g, dtype=x.dtype))
    before = assert_tensor(fn(x), "output")
    after = assert_shape(fn(torch.where(future.expand_as(x), fresh(x.shape), x)), before.shape,
                         f"output after changing only positions > {t}")
    keep = (slice(None),) * dim + (slice(0, t + 1),)
    assert_close(after[keep], before[keep], f"outputs at positions <= {t} after changing only positions > {t} "
                 "(the future leaks in)")
