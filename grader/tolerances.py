"""The one dtype -> tolerance table used by every numeric comparison."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    """Elements pass when |actual - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float


# Loose enough for a different but correct order of reductions through a few matmuls and a
# softmax; tight enough that any real bug (a missing scale, a wrong mask) is far outside.
TABLE: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(rtol=1e-7, atol=1e-9),
    torch.float32: Tolerance(rtol=1e-4, atol=1e-5),
    torch.float16: Tolerance(rtol=2e-3, atol=1e-3),
    torch.bfloat16: Tolerance(rtol=1.6e-2, atol=1e-2),
    torch.complex128: Tolerance(rtol=1e-7, atol=1e-9),
    torch.complex64: Tolerance(rtol=1e-4, atol=1e-5),
}
EXACT = Tolerance(rtol=0.0, atol=0.0)


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    """The tolerance for comparing values of `dtype`; integer and bool types compare exactly."""
    return TABLE.get(dtype, EXACT)
