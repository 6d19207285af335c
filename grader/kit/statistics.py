"""Statistical checks of random draws (initializations, masks) at thresholds a right implementation
passes with overwhelming probability and a wrong scale or distribution fails."""
from __future__ import annotations

import math

import torch

from grader.compare import Mismatch, assert_tensor

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message

# Kolmogorov-Smirnov: for n i.i.d. draws, P(sqrt(n) * D > t) <= 2 exp(-2 t^2); t = 3 gives about 3e-8.
KS_T = 3.0


def assert_within(values, bound: float, name: str, why: str = "") -> torch.Tensor:
    """Every element must lie in [-bound, bound]; the message names the worst entry. Returns the tensor.

    >>> assert_within(m.weight, 1 / math.sqrt(fan_in), "initial weight", " (U(-1/sqrt(fan_in), 1/sqrt(fan_in)))")
    """
    t = assert_tensor(values, name)
    worst = t.detach().abs().double()
    if t.numel() and float(worst.max()) > bound * (1 + 1e-6):
        where = [int(i) for i in (worst == worst.max()).nonzero()[0]]
        raise Mismatch(f"{name}: entry {where} is {float(t[tuple(where)]):.6g}, outside "
                       f"[-{bound:.6g}, {bound:.6g}]{why}")
    return t


def assert_rate(hits, p: float, name: str) -> float:
    """The share of True in the bool tensor `hits` (e.g. the outputs dropout zeroed) must be within 6 standard
    deviations, sqrt(p (1 - p) / n), of the probability `p` (a right draw fails with probability about 2e-9).
    Returns the share.

    >>> assert_rate(out == 0, 0.3, "share of the outputs dropout(p=0.3) zeroed")
    """
    h = assert_tensor(hits, name)
    n = h.numel()
    share, bound = float(h.double().mean()), 6 * math.sqrt(p * (1 - p) / n)
    if abs(share - p) > bound:
        raise Mismatch(f"{name}: {share:.2%} of {n}; expected {p:.2%} ± {bound:.2%} (6 standard deviations)",
                       {"quantity": name, "share": share, "expected": p, "bound": bound})
    return share


def assert_uniform(values, bound: float, name: str, why: str = "") -> None:
    """The elements must look like i.i.d. draws of U(-bound, bound): a Kolmogorov-Smirnov test at
    distance KS_T / sqrt(n) (a right draw fails with probability about 3e-8; a wrong scale, a normal
    of the same variance or a constant is far outside). The message gives the distance, std and mean.

    >>> assert_uniform(m.weight, 1 / math.sqrt(fan_in), "initial weight", " (±1/sqrt(in_features))")
    """
    v = assert_tensor(values, name).detach().double().flatten()
    n = v.numel()
    u = ((v + bound) / (2 * bound)).sort().values  # U(0, 1) under the hypothesis
    i = torch.arange(1, n + 1, dtype=torch.float64)
    d, limit = float(torch.maximum(i / n - u, u - (i - 1) / n).max()), KS_T / math.sqrt(n)
    if d > limit:
        expected_std = bound / math.sqrt(3)
        raise Mismatch(
            f"{name}: {n} values do not look like draws from U(-{bound:.4g}, {bound:.4g}){why}: Kolmogorov-Smirnov "
            f"distance {d:.4f} > {limit:.4f}; their std is {float(v.std()):.4g} (U(-b, b) has b/sqrt(3) = "
            f"{expected_std:.4g}), mean {float(v.mean()):.4g}, max |value| {float(v.abs().max()):.4g}",
            {"quantity": name, "ks_distance": d, "ks_limit": limit, "std": float(v.std()),
             "expected_std": expected_std})
