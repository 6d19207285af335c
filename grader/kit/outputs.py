"""Checks of what a call returned: a tuple of outputs of given shapes, plain values, and attention-like weights."""
from __future__ import annotations

import torch

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_tensor

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message


def unpack(result, shapes: dict, dtype: torch.dtype | None = None, what: str = "the call", *,
           finite: bool = False) -> list:
    """`result` must be a tuple of len(shapes) tensors of the shapes given by name, in order (and of
    `dtype` when given; all finite when `finite`); a shape None asks for None there (an output not
    requested). Returns them as a list.

    >>> pooled, weights = unpack(m(h, mask), {"pooled": (B, D), "weights": (B, T)}, torch.float64, "forward")
    >>> out, _ = unpack(f(q, k, v, need_weights=False), {"output": (B, T, E), "weights": None})
    """
    if not isinstance(result, tuple) or len(result) != len(shapes):
        got = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, tuple) else "")
        raise Mismatch(f"{what} must return a tuple ({', '.join(shapes)}), got a {got}")
    for (name, shape), value in zip(shapes.items(), result):
        if shape is None and value is not None:
            raise Mismatch(f"{what}: {name} must be None, got a {type(value).__name__}")
    values = [value if shape is None else assert_shape(value, shape, name, dtype)
              for value, (name, shape) in zip(result, shapes.items())]
    for name, value in zip(shapes, values if finite else ()):
        if value is not None:
            assert_finite(value, name)
    return values


def assert_same(got, expected, what: str, hint: str = "") -> None:
    """Plain values (ints, strings, lists and dicts of them; not tensors) must be equal; the failure
    names `what`, shows both values and ends with `hint` (what to fix), when given.

    >>> assert_same(len(sampler), 3, "len(sampler)", "the number of batches one epoch yields")
    """
    if got != expected:
        raise Mismatch(f"{what} is {got!r}, expected {expected!r}" + (f": {hint}" if hint else ""))


def assert_outputs_close(got, expected, names, vs: str, **tolerance) -> None:
    """Each of the outputs `got` (a tuple or list, e.g. from `unpack`) close to the same one of `expected`
    (detached), compared in order and named by `names`: "<name> vs <vs>"; `tolerance`: assert_close's keywords.

    >>> assert_outputs_close(m(h, mask), pool_spec(h, mask), ("pooled", "weights"), "the loop definition")
    """
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        shown = f"{type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else type(got).__name__
        raise Mismatch(f"expected {len(names)} outputs ({', '.join(names)}), got a {shown}")
    for name, value, want in zip(names, got, expected):
        assert_close(value, want.detach() if isinstance(want, torch.Tensor) else want, f"{name} vs {vs}", **tolerance)


def assert_attention_weights(weights, allowed: torch.Tensor, name: str = "attention weights", where=None) -> None:
    """Weights over the last dim, in every row that has an allowed position (and that the bool mask
    `where`, shaped like `weights` but 1 in the last dim, selects): exactly 0 where the bool mask
    `allowed` (broadcast to weights) is False, never negative, summing to 1. Other rows: unchecked.

    >>> assert_attention_weights(weights, ~key_padding_mask[:, None, :], "weights (B, T, S)")
    """
    w = assert_tensor(weights, name)
    try:
        allowed = allowed.expand(w.shape)
    except RuntimeError:
        raise Mismatch(f"{name}: shape {tuple(w.shape)}, but the mask needs {tuple(allowed.shape)} (broadcast)") from None
    rows = allowed.any(-1, keepdim=True) & (True if where is None else where)
    zeros = torch.zeros_like(w)
    assert_equal(torch.where(~allowed & rows, w, zeros), zeros, f"{name} at masked positions (must be exactly 0)")
    assert_equal(torch.where(rows, w.clamp(max=0), zeros), zeros, f"{name}, negative values (must be >= 0)")
    assert_close(w.sum(-1, keepdim=True), torch.ones_like(w[..., :1]), f"{name} summed over the last dim", where=rows)
