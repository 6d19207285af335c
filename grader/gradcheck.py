"""Finite-difference check of gradients the candidate returned, computed on the trusted side.

The candidate's forward is a black box reached through the proxy; for random directions u
the central difference of <g, f(p + t u)> at t=0 must equal sum_k <grad_k, u_k>.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from grader.compare import Mismatch

__tracebackhide__ = True  # pytest shows a failing test's own frames and this module's message, not its source


def check_directional_derivatives(forward: Callable[[dict], torch.Tensor], point: dict[str, torch.Tensor],
                                  analytic: dict[str, torch.Tensor], grad_output: torch.Tensor,
                                  generator: torch.Generator, directions: int = 3, eps: float = 1e-6,
                                  rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Raise Mismatch unless the analytic gradients agree with central differences, all finite,
    and the output changes along at least one direction (a constant output proves nothing).

    forward: maps {name: tensor} (float64) to the output; point: where to differentiate;
    analytic: {name: d<grad_output, f>/d name} as returned by the candidate.
    """
    moved = False
    for k in range(directions):
        u = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype) for n, p in point.items()}
        plus = forward({n: p + eps * u[n] for n, p in point.items()})
        minus = forward({n: p - eps * u[n] for n, p in point.items()})
        numeric = float(((plus - minus) * grad_output).sum()) / (2 * eps)
        predicted = sum(float((analytic[n] * u[n]).sum()) for n in point)
        moved |= numeric != 0.0 or predicted != 0.0
        if not (math.isfinite(numeric) and math.isfinite(predicted)) or abs(numeric - predicted) > atol + rtol * abs(numeric):
            raise Mismatch(
                f"gradient vs finite differences: along random direction {k + 1} of {directions} over "
                f"{', '.join(point)}, the directional derivative from your gradients is {predicted:.9g} but "
                f"central differences (eps={eps:g}) give {numeric:.9g} (rtol={rtol:g}, atol={atol:g})",
                {"quantity": "directional derivative", "analytic": predicted, "numeric": numeric,
                 "rtol": rtol, "atol": atol, "eps": eps},
            )
    if not moved:
        raise Mismatch(f"gradient vs finite differences: along {directions} random directions over "
                       f"{', '.join(point)}, neither your gradients nor the output changed: the output does "
                       "not depend on these inputs")
