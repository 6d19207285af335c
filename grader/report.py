"""The HTML report of a grading run: one self-contained file rendered from the run's JSON document."""
from __future__ import annotations

import functools
import re
import string
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader import i18n, plots
from grader.categories import CATEGORIES
from grader.results import RunResult, failure_cause
from grader.results import stories as results_stories

# Characters HTML forbids or a UTF-8 file cannot hold: controls other than whitespace, lone
# surrogates and noncharacters. Candidate output may contain any of them.
_INVALID = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                      + "".join(chr(p | 0xFFFE) + chr(p | 0xFFFF) for p in range(0, 0x110000, 0x10000)) + "]")

# Rows of the diagnostics table: label, and a template over the diagnostics keys it shows.
_DIAGNOSTIC_ROWS = (
    ("Quantity", "{quantity}"),
    ("Shape", "{shape}"),
    ("Mismatched", "{mismatched} of {compared} compared elements"),
    ("Max abs error", "{max_abs_error} at {max_abs_at}"),
    ("At that element", "got {actual_at}, expected {expected_at}"),
    ("Max rel error", "{max_rel_error} at {max_rel_at}"),
    ("First bad element", "{first_bad_at}"),
    ("Tolerance used", "rtol={rtol}, atol={atol}"),
    ("Expected shape", "{expected_shape}"),
    ("Actual shape", "{actual_shape}"),
    ("Analytic (candidate's gradients)", "{analytic}"),
    ("Numeric (finite differences)", "{numeric}"),
    ("Finite-difference step", "eps={eps}"),
)


def render_report(run: RunResult, lang: str = "en") -> str:
    """The report of `run` as one HTML document (inline CSS and SVG, no scripts, no external
    resources), its labels in `lang` (en or zh)."""
    data = clean(run.to_dict())
    return _environment().get_template("report.html.j2").render(run=data, categories=CATEGORIES, lang=lang,
                                                                _=i18n.translator(lang))


def write_report(run: RunResult, path: str | Path, lang: str = "en") -> None:
    """Write the report of `run` to `path` (UTF-8)."""
    Path(path).write_text(render_report(run, lang), encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("grader", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_fmt, seconds=_seconds, first_line=_first_line, diagnostic_rows=diagnostic_rows,
                       heatmap_svg=lambda h: Markup(plots.heatmap_svg(h)), loss_chart=_loss_chart,
                       category_scores=_category_scores, stories=results_stories, cause=failure_cause)
    return env


def clean(value):
    """`value` (JSON-like) with every string's invalid characters replaced by U+FFFD."""
    if isinstance(value, str):
        return _INVALID.sub("\ufffd", value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _fmt(value) -> str:
    """A diagnostics value as text: floats to 6 significant digits, lists as [a, b], None as a dash."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return "—" if value is None else str(value)


def _seconds(value) -> str:
    """A duration in seconds, readably."""
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 60 else f"{int(value // 60)} min {value % 60:.0f} s"


def _first_line(text: str, limit: int = 160) -> str:
    """The first non-empty line of `text`, cut to `limit` characters."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def diagnostic_rows(diagnostics: dict) -> list[tuple[str, str]]:
    """(label, text) rows for a diagnostics dict: the known keys in a fixed order, then any others."""
    values = {k: _fmt(v) for k, v in diagnostics.items() if k != "heatmap"}
    rows, used = [], set()
    for label, template in _DIAGNOSTIC_ROWS:
        keys = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        if keys <= values.keys():
            rows.append((label, template.format(**values)))
            used |= keys
    return rows + [(k, v) for k, v in values.items() if k not in used]


def _loss_chart(curve) -> Markup:
    """SVG chart of a test's `artifacts.loss_curve` ({series name: losses}); empty when malformed."""
    if not isinstance(curve, dict):
        return Markup("")
    series = {str(name): values for name, values in curve.items()}
    return Markup(plots.line_chart_svg(series, "Training loss: candidate vs reference"))


def _category_scores(tests: list[dict]) -> list[dict]:
    """Points earned and possible, and tests passed of those graded, per category of `tests`
    (test dicts of the JSON document), in CATEGORIES order with unknown categories last."""
    rows: dict[str, dict] = {}
    for t in tests:
        row = rows.setdefault(t["category"], {"category": t["category"], "earned": 0.0, "points": 0.0,
                                               "passed": 0, "graded": 0})
        if t["status"] != "skip":
            row["earned"] += t["earned"]
            row["points"] += t["points"]
            row["passed"] += t["status"] == "pass"
            row["graded"] += 1
    order = list(CATEGORIES)
    return sorted(rows.values(), key=lambda r: order.index(r["category"]) if r["category"] in order else len(order))
