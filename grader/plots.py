"""Small self-contained SVG charts for the HTML report: an error heatmap and loss curves."""
from __future__ import annotations

import math
from html import escape

CELL = 16  # heatmap cell size in px
PALETTE = ((255, 255, 204), (254, 178, 76), (240, 59, 32), (128, 0, 38))  # light yellow to dark red
NONFINITE = "#1b1b1b"
SERIES_COLORS = ("#d9480f", "#1864ab", "#2b8a3e", "#862e9c", "#5c5f66")
LEGEND_CHARS = 40  # longer series names are cut in the legend
MAX_POINTS = 1000  # points drawn per loss curve; longer series are thinned evenly
CHART_W, CHART_H = 640, 300
MARGIN = {"left": 64, "right": 16, "top": 48, "bottom": 44}


def _num(value) -> float:
    """`value` as a float; anything that is not a number becomes NaN."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _int(value) -> int:
    v = _num(value)
    return int(v) if math.isfinite(v) else 0


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def _svg(width: float, height: float, label: str, body: list[str]) -> str:
    """Wrap `body` (SVG elements) in an <svg> of the given size; `label` names it for tooltips and screen readers."""
    text = escape(label)
    return (f'<svg class="chart" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'role="img" aria-label="{text}" font-family="sans-serif" font-size="11"><title>{text}</title>'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, label: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(label)}</text>'


# ---- heatmap ----------------------------------------------------------------------------------

def _color(t: float) -> str:
    """Colour for t in [0, 1] along PALETTE."""
    t = min(max(t, 0.0), 1.0) * (len(PALETTE) - 1)
    i = min(int(t), len(PALETTE) - 2)
    f = t - i
    rgb = (round(a + (b - a) * f) for a, b in zip(PALETTE[i], PALETTE[i + 1]))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _log_scale(values: list[float]):
    """A function mapping a finite positive |error| to [0, 1] on a log scale spanning `values`."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if not positive:
        return lambda v: 1.0
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    return lambda v: 1.0 if hi == lo else (math.log10(v) - lo) / (hi - lo)


def _cell(x: float, y: float, value: float, scale, where: str) -> str:
    if not math.isfinite(value):
        mark = _text(x + CELL / 2, y + CELL - 4, "∞" if math.isinf(value) else "?", extra=' fill="#fff"')
        return (f'<g><title>{where}: {value}</title><rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" '
                f'fill="{NONFINITE}"/>{mark}</g>')
    fill = "#ffffff" if value == 0 else _color(scale(value))
    return (f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" stroke="#e9ecef" stroke-width="0.5">'
            f'<title>{where}: {_fmt(value, 4)}</title></rect>')


def _axis_labels(count: int, offset: int, at, vertical: bool) -> list[str]:
    """Index labels for `count` cells starting at `offset`, at most about 12 of them."""
    step = max(1, math.ceil(count / 12))
    out = []
    for i in range(0, count, step):
        x, y = at(i)
        out.append(_text(x, y, str(offset + i), "end" if vertical else "middle"))
    return out


def _heat_legend(x: float, y: float, values: list[float]) -> list[str]:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    parts = [_text(x, y + 11, "|error|", "start")]
    if finite:
        parts.append(_text(x + 84, y + 11, _fmt(min(finite), 2), "end"))
        parts += [f'<rect x="{x + 88 + 12 * k}" y="{y}" width="12" height="14" fill="{_color(k / 7)}"/>'
                  for k in range(8)]
        parts.append(_text(x + 188, y + 11, _fmt(max(finite), 2), "start"))
    if any(not math.isfinite(v) for v in values):
        parts += [f'<rect x="{x + 240}" y="{y}" width="14" height="14" fill="{NONFINITE}"/>',
                  _text(x + 258, y + 11, "inf / NaN", "start")]
    return parts


def heatmap_svg(heatmap: dict) -> str:
    """SVG of an |error| heatmap from grader.diagnostics.heatmap.

    heatmap: {"fixed_index": leading indices of the slice, "row_offset"/"col_offset": index of the
    first row/column shown, "values": rows of |error| (may hold inf)}.
    """
    rows = [[_num(v) for v in row] for row in heatmap.get("values") or [] if isinstance(row, (list, tuple))]
    ncols = max((len(r) for r in rows), default=0)
    r0, c0 = _int(heatmap.get("row_offset", 0)), _int(heatmap.get("col_offset", 0))
    fixed_index = heatmap.get("fixed_index")
    fixed = [str(i) for i in fixed_index] if isinstance(fixed_index, list) else []
    title = f"|error| at [{', '.join(fixed + [f'{r0}:{r0 + len(rows)}', f'{c0}:{c0 + ncols}'])}]"
    if not rows or not ncols:
        return _svg(320, 40, title, [_text(8, 24, title + ": no values", "start")])
    left, top = 48, 52
    flat = [v for row in rows for v in row]
    scale = _log_scale(flat)
    body = [_text(left, 16, title, "start", ' font-size="13" font-weight="bold"'),
            _text(left + ncols * CELL / 2, 32, "column (last dim)")]
    body += _axis_labels(ncols, c0, lambda j: (left + j * CELL + CELL / 2, top - 4), vertical=False)
    body += _axis_labels(len(rows), r0, lambda i: (left - 4, top + i * CELL + CELL - 4), vertical=True)
    mid = top + len(rows) * CELL / 2
    body.append(_text(12, mid, "row", extra=f' transform="rotate(-90 12 {mid})"'))
    body += [_cell(left + j * CELL, top + i * CELL, v, scale, f"[{', '.join(fixed + [str(r0 + i), str(c0 + j)])}]")
             for i, row in enumerate(rows) for j, v in enumerate(row)]
    legend_y = top + len(rows) * CELL + 12
    body += _heat_legend(left, legend_y, flat)
    return _svg(max(left + ncols * CELL + 16, left + 320), legend_y + 24, title, body)


# ---- line chart -------------------------------------------------------------------------------

def _points(values) -> list[tuple[int, float]]:
    """(step, value) pairs of a series, thinned to at most MAX_POINTS; non-numbers become NaN."""
    values = list(values) if isinstance(values, (list, tuple)) else []
    stride = max(1, math.ceil(len(values) / MAX_POINTS))
    return [(i, _num(values[i])) for i in range(0, len(values), stride)]


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round-numbered ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    raw = hi / count - lo / count  # (hi - lo) / count without overflow
    power = 10.0 ** math.floor(math.log10(raw)) if 0 < raw < math.inf else 0.0
    if power == 0:  # no span, or one too small for a float power of ten
        return [lo, hi]
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _y_axis(finite: list[float]):
    """(to_axis, ticks, log) for the finite y values: log10 when all are positive."""
    lo, hi = min(finite), max(finite)
    if lo <= 0:
        lo, hi = (lo - 1, hi + 1) if lo == hi else (lo, hi)
        return (lambda v: v), _nice_ticks(lo, hi), False
    llo, lhi = math.log10(lo), math.log10(hi)
    if lhi - llo >= 1:
        step = max(1, math.ceil((lhi - llo) / 6))
        ticks = [10.0 ** k for k in range(math.floor(llo), min(math.ceil(lhi), 308) + 1, step)]
    else:
        ticks = _nice_ticks(lo, hi)
    return math.log10, sorted({t for t in ticks if t > 0}), True


def _segments(points: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive finite points (a non-finite value breaks the line)."""
    runs, current = [], []
    for p in points:
        if math.isfinite(p[1]):
            current.append(p)
        elif current:
            runs.append(current)
            current = []
    return runs + [current] if current else runs


def _series_marks(points, color: str, dashed: bool, px, py) -> list[str]:
    marks = []
    for run in _segments(points):
        if len(run) == 1:
            marks.append(f'<circle cx="{px(run[0][0]):.1f}" cy="{py(run[0][1]):.1f}" r="2.5" fill="{color}"/>')
        else:
            coords = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in run)
            dash = ' stroke-dasharray="6 3"' if dashed else ""
            marks.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>')
    return marks


def _legend(series: dict[str, list[tuple[int, float]]], x: float, y: float) -> list[str]:
    parts = []
    for k, (name, points) in enumerate(series.items()):
        skipped = sum(not math.isfinite(v) for _, v in points)
        short = name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"
        label = f"{short} ({len(points)} points" + (f", {skipped} non-finite not drawn)" if skipped else ")")
        color, dash = SERIES_COLORS[k % len(SERIES_COLORS)], ' stroke-dasharray="6 3"' if k else ""
        parts.append(f'<line x1="{x}" y1="{y + 16 * k}" x2="{x + 22}" y2="{y + 16 * k}" stroke="{color}" '
                     f'stroke-width="2"{dash}/>')
        parts.append(_text(x + 28, y + 16 * k + 4, label, "start"))
    return parts


def line_chart_svg(series: dict[str, list[float]], title: str, from_zero: bool = False) -> str:
    """SVG line chart of loss curves, x = step index.

    series: {name: values} (e.g. {"candidate": [...], "reference": [...]}); values may be any
    length, empty, or hold NaN/inf or non-numbers, which are not drawn. title: shown above the chart.
    The y axis is logarithmic when every finite value is positive, unless `from_zero` (a linear
    axis that starts at 0, for scores).
    """
    data = {str(name): _points(values) for name, values in series.items()}
    finite = [v for pts in data.values() for _, v in pts if math.isfinite(v)]
    if finite and from_zero:
        finite.append(0.0)
    height = CHART_H + 16 * max(0, len(data) - 2)
    body = [_text(MARGIN["left"], 18, title, "start", ' font-size="13" font-weight="bold"')]
    if not finite:
        return _svg(CHART_W, 80, title, body + [_text(MARGIN["left"], 48, "no finite values to plot", "start")])
    to_axis, yticks, log = _y_axis(finite)
    xmax = max((pts[-1][0] for pts in data.values() if pts), default=0) or 1
    x0, x1 = MARGIN["left"], CHART_W - MARGIN["right"]
    y0, y1 = height - MARGIN["bottom"], MARGIN["top"] + 16 * len(data)
    alo, ahi = to_axis(min(yticks + finite)), to_axis(max(yticks + finite))

    def px(i: int) -> float:
        return x0 + (x1 - x0) * i / xmax

    def py(v: float) -> float:  # halves keep the differences of huge values finite
        span = ahi / 2 - alo / 2
        return y0 - (y0 - y1) * ((to_axis(v) / 2 - alo / 2) / span if span > 0 else 0.5)

    body += _axes(x0, x1, y0, y1, px, py, yticks, _nice_ticks(0, xmax), log)
    for k, pts in enumerate(data.values()):
        body += _series_marks(pts, SERIES_COLORS[k % len(SERIES_COLORS)], k > 0, px, py)
    body += _legend(data, x0 + 8, MARGIN["top"] - 14)
    return _svg(CHART_W, height, title, body)


def _axes(x0, x1, y0, y1, px, py, yticks, xticks, log: bool) -> list[str]:
    """Frame, grid lines and tick labels of the line chart."""
    parts = [f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#868e96"/>']
    for t in yticks:
        y = py(t)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e9ecef"/>')
        parts.append(_text(x0 - 6, y + 4, f"{t:g}" if log else _fmt(t), "end"))
    for t in xticks:
        if t == int(t):
            parts.append(_text(px(t), y0 + 16, str(int(t))))
    parts.append(_text((x0 + x1) / 2, y0 + 34, "step"))
    axis = "loss (log scale)" if log else "loss"
    parts.append(_text(14, (y0 + y1) / 2, axis, extra=f' transform="rotate(-90 14 {(y0 + y1) / 2:.1f})"'))
    return parts
