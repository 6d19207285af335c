"""Invariance checks: outputs that must not change when only the ignored part of an input does
(future positions under a causal mask, padded positions, padding appended)."""
from __future__ import annotations

from typing import Callable

import torch

from grader.compare import assert_close, assert_shape, assert_tensor

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message


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


def assert_appending_changes_nothing(fn: Callable, args: dict, fills: dict, extra: int, g: torch.Generator, *,
                                     dim: int = 1, junk_scale: float = 10.0, what: str = "padding") -> None:
    """Append `extra` positions along `dim` to each argument named in `fills` and require every
    output of `fn(**args)` (a tensor or a tuple of them) to be unchanged on its original extent (an
    output that grew is compared on its first part). fills[name]: the value of the new positions
    (True in a padding mask, pad_idx in tokens), or None for random junk N(0, junk_scale^2).

    >>> assert_appending_changes_nothing(lambda x, kpm: layer(x, src_key_padding_mask=kpm), {"x": x, "kpm": kpm},
    ...                                  {"x": None, "kpm": True}, extra=2, g=g, what="padding tokens")
    """
    longer = dict(args)
    for name, fill in fills.items():
        t = args[name]
        shape = list(t.shape)
        shape[dim] = extra
        new = (junk_scale * torch.randn(shape, generator=g, dtype=t.dtype) if fill is None
               else torch.full(shape, fill, dtype=t.dtype))
        longer[name] = torch.cat([t, new], dim=dim)
    before, after = _outputs(fn(**args)), _outputs(fn(**longer))
    for k, (b, a) in enumerate(zip(before, after)):
        label = f"output{f' {k}' if len(before) > 1 else ''}"
        a = assert_tensor(a, f"{label} after appending {extra} {what}")
        if a.dim() == b.dim() and all(x >= y for x, y in zip(a.shape, b.shape)):
            a = a[tuple(slice(0, n) for n in b.shape)]
        assert_close(a, b, f"{label} on the original positions after appending {extra} {what}")


def _outputs(value) -> tuple:
    """A call's outputs as a tuple of tensors (each checked to be a tensor)."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(assert_tensor(v, f"output {k}") for k, v in enumerate(values))
