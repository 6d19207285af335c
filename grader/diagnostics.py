"""What went wrong in a numeric comparison: worst errors, where, tolerance, and a heatmap slice."""
from __future__ import annotations

import torch

HEATMAP_MAX = 24  # cells per side of the error heatmap shown in reports


def describe_mismatch(actual: torch.Tensor, expected: torch.Tensor, compared: torch.Tensor,
                      bad: torch.Tensor, rtol: float, atol: float) -> dict:
    """Diagnostics for a failed comparison (all float64 on CPU, same shape).

    compared: bool mask of elements that were compared; bad: bool mask of those out of tolerance.
    """
    err = (actual - expected).abs()
    err = torch.where(compared, torch.nan_to_num(err, nan=float("inf"), posinf=float("inf")), torch.zeros_like(err))
    rel = err / expected.abs().clamp_min(1e-12)
    worst = _argmax(err)
    worst_rel = _argmax(torch.where(compared, rel, torch.zeros_like(rel)))
    return {
        "shape": list(actual.shape),
        "rtol": rtol,
        "atol": atol,
        "mismatched": int(bad.sum()),
        "compared": int(compared.sum()),
        "max_abs_error": _num(err[worst]) if err.numel() else 0.0,
        "max_abs_at": list(worst),
        "actual_at": _num(actual[worst]) if actual.numel() else None,
        "expected_at": _num(expected[worst]) if expected.numel() else None,
        "max_rel_error": _num(rel[worst_rel]) if rel.numel() else 0.0,
        "max_rel_at": list(worst_rel),
        "first_bad_at": list(_first(bad)),
        "heatmap": heatmap(err, worst),
    }


def _argmax(t: torch.Tensor) -> tuple[int, ...]:
    if t.numel() == 0:
        return ()
    flat = int(torch.argmax(torch.nan_to_num(t, nan=float("inf"), posinf=float("inf"))))
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), t.shape)) if t.dim() else ()


def _first(mask: torch.Tensor) -> tuple[int, ...]:
    idx = mask.nonzero()
    return tuple(int(i) for i in idx[0]) if len(idx) else ()


def _num(x: torch.Tensor) -> float:
    return float(x)


def heatmap(err: torch.Tensor, center: tuple[int, ...]) -> dict | None:
    """|error| over the last two dims of the slice holding the worst element, cropped around it."""
    if err.dim() == 0 or err.numel() == 0:
        return None
    grid = err.reshape(1, -1) if err.dim() == 1 else err[center[:-2]]  # (rows, cols)
    r0 = _window_start(center[-2] if err.dim() >= 2 else 0, grid.shape[0])
    c0 = _window_start(center[-1], grid.shape[1])
    crop = grid[r0:r0 + HEATMAP_MAX, c0:c0 + HEATMAP_MAX]
    return {
        "fixed_index": list(center[:-2]),
        "row_offset": r0,
        "col_offset": c0,
        "values": [[float(v) for v in row] for row in crop],
    }


def _window_start(center: int, size: int) -> int:
    return max(0, min(center - HEATMAP_MAX // 2, size - HEATMAP_MAX))


def format_mismatch(name: str, d: dict, dtype: torch.dtype) -> str:
    """One readable paragraph for a failure message."""
    at = _index(d["max_abs_at"])
    return (
        f"{name}: {d['mismatched']} of {d['compared']} compared elements outside tolerance "
        f"(rtol={d['rtol']:g}, atol={d['atol']:g} for {str(dtype).replace('torch.', '')}); shape {tuple(d['shape'])}\n"
        f"  max abs error {d['max_abs_error']:.3g} at {at}: got {d['actual_at']:.6g}, expected {d['expected_at']:.6g}\n"
        f"  max rel error {d['max_rel_error']:.3g} at {_index(d['max_rel_at'])}; first bad element at {_index(d['first_bad_at'])}"
    )


def _index(idx: list[int]) -> str:
    return "[" + ", ".join(str(i) for i in idx) + "]"
