"""Trusted comparisons of values returned by the candidate, with diagnostics on failure."""
from __future__ import annotations

import torch

from grader import diagnostics
from grader.tolerances import tolerance_for

__tracebackhide__ = True  # pytest shows a failing test's own frames and this module's message, not its source


class Mismatch(AssertionError):
    """A failed comparison; `diagnostics` holds the numbers the report shows."""

    def __init__(self, message: str, diagnostics: dict | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or {}


def assert_tensor(value, name: str = "output") -> torch.Tensor:
    """`value` must be a plain tensor (what the worker returns for a tensor result)."""
    if type(value) is not torch.Tensor:
        raise Mismatch(f"{name}: expected a tensor, got {type(value).__name__}")
    return value


def assert_shape(value, shape, name: str = "output", dtype: torch.dtype | None = None) -> torch.Tensor:
    """`value` must be a tensor of exactly `shape` (and `dtype` when given)."""
    t = assert_tensor(value, name)
    if tuple(t.shape) != tuple(shape):
        raise Mismatch(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}",
                       {"expected_shape": list(shape), "actual_shape": list(t.shape)})
    if dtype is not None and t.dtype != dtype:
        raise Mismatch(f"{name}: expected dtype {dtype}, got {t.dtype}")
    return t


def assert_finite(value, name: str = "output", where: torch.Tensor | None = None) -> torch.Tensor:
    """Every element (or every element selected by bool mask `where`) must be finite; returns the tensor."""
    t = assert_tensor(value, name)
    bad = ~torch.isfinite(t)
    if where is not None:
        bad &= where.expand_as(t)
    if bad.any():
        first = [int(i) for i in bad.nonzero()[0]]
        raise Mismatch(f"{name}: {int(bad.sum())} of {t.numel()} elements are not finite; "
                       f"first at {first} (value {t[tuple(first)].item()}); shape {tuple(t.shape)}")
    return t


def assert_close(actual, expected: torch.Tensor, name: str = "output", *, rtol: float | None = None,
                 atol: float | None = None, where: torch.Tensor | None = None, check_dtype: bool = True,
                 nonfinite_ok: bool = False) -> None:
    """`actual` must match `expected` elementwise within the dtype's tolerance.

    where: optional bool mask (broadcastable to the shape) of the elements to compare;
    rtol/atol override the table in `grader.tolerances` (say why at the call site);
    nonfinite_ok: a trusted `expected` may hold inf/NaN, which `actual` must then equal. Without
    it a non-finite element on either side never matches (two NaNs from a candidate compared
    with each other prove nothing).
    """
    t = assert_shape(actual, expected.shape, name, expected.dtype if check_dtype else None)
    tol = tolerance_for(expected.dtype)
    rtol, atol = (tol.rtol if rtol is None else rtol), (tol.atol if atol is None else atol)
    a, e = _as_float64(t), _as_float64(expected)
    compared = torch.ones_like(a, dtype=torch.bool) if where is None else where.to(torch.bool).cpu().expand_as(a)
    finite = torch.isfinite(e)
    ok = finite & ((a - e).abs() <= atol + rtol * e.abs())
    if nonfinite_ok:
        ok |= ~finite & ((a == e) | (torch.isnan(a) & torch.isnan(e)))
    bad = compared & ~ok
    if bad.any():
        d = diagnostics.describe_mismatch(a, e, compared, bad, rtol, atol)
        d["quantity"] = name
        raise Mismatch(diagnostics.format_mismatch(name, d, expected.dtype), d)


def assert_equal(actual, expected: torch.Tensor, name: str = "output", *, nonfinite_ok: bool = False) -> None:
    """Bit-for-bit equality (shape, dtype and every value; inf/NaN only with `nonfinite_ok`)."""
    assert_close(actual, expected, name, rtol=0.0, atol=0.0, nonfinite_ok=nonfinite_ok)


def assert_unchanged(after, before: torch.Tensor, name: str) -> None:
    """An input as the worker holds it after a call must equal the trusted original bit for bit
    (inf and NaN included): the call must not have changed it in place."""
    assert_equal(after, before, name, nonfinite_ok=True)


def _as_float64(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().cpu()
    return t.real.double() if t.is_complex() else t.double()
