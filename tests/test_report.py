"""The HTML report: self-contained, escapes candidate text, shows the diagnostics; checked in Chromium when present."""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import plots
from grader.diagnostics import describe_mismatch, format_mismatch
from grader.report import clean, diagnostic_rows, render_report, write_report
from grader.results import ExerciseResult, RunResult
from grader.results import TestResult as _TestResult  # not a pytest class

HOSTILE = "<script>alert(1)</script> </pre> <img src=x onerror=alert(2)> \x00\x01\x07\x1b[31mred\x7f\x85 \ud800"
BIG_OUTPUT = "".join(f"step {i}: loss {1 / (i + 1):.6f} {HOSTILE}\n" for i in range(700)) + "END-OF-OUTPUT"
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
FUZZ = settings(max_examples=100, deadline=None, database=None)


def _mismatch_diagnostics() -> tuple[str, dict]:
    """A realistic Mismatch: (2, 30, 30) output off in one slice, with one inf."""
    expected = torch.linspace(-1, 1, 1800, dtype=torch.float64).reshape(2, 30, 30)
    actual = expected.clone()
    actual[1, 10:20, 5:25] += torch.linspace(1e-6, 0.5, 200, dtype=torch.float64).reshape(10, 20)
    actual[1, 14, 12] = math.inf
    compared = torch.ones_like(expected, dtype=torch.bool)
    bad = (actual - expected).abs() > 1e-8 + 1e-5 * expected.abs()
    d = describe_mismatch(actual, expected, compared, bad, 1e-5, 1e-8)
    d["quantity"] = "output"
    # describe_mismatch's nan_to_num turns the inf error into float max; the report must cope with inf too
    d["max_abs_error"] = d["heatmap"]["values"][12][12] = math.inf
    return format_mismatch("output", d, torch.float32), d


def _passing_exercise() -> ExerciseResult:
    curve = {"candidate": [2.5 * 0.9 ** i for i in range(60)] + [math.nan, math.inf, 0.01],
             "reference": [2.4 * 0.88 ** i for i in range(80)]}
    tests = [
        _TestResult("test_output_shape[batch=2]", "ex/test_sa.py::test_output_shape[batch=2]", "shape", "pass",
                    duration=0.012, points=1, earned=1),
        _TestResult("test_matches_reference", "ex/test_sa.py::test_matches_reference", "equivalence", "pass",
                    duration=0.2, points=2, earned=2),
        _TestResult("test_learns_copy_task", "ex/test_sa.py::test_learns_copy_task", "convergence", "pass",
                    duration=3.5, points=2, earned=2, artifacts={"loss_curve": curve}),
    ]
    return ExerciseResult("17_self_attention", "Self-attention", "自注意力", "medium", "/sub/self_attention.py",
                          duration=4.1, tests=tests, not_applicable={"property": "covered by equivalence"},
                          limits={"timeout": 10.0, "memory_mb": 4096}).finish()


def _failing_exercise() -> ExerciseResult:
    message, diagnostics = _mismatch_diagnostics()
    gradcheck = {"quantity": "directional derivative", "analytic": 1.25, "numeric": 1.5, "rtol": 1e-5,
                 "atol": 1e-8, "eps": 1e-6}
    tests = [
        _TestResult("test_forward_values", "ex/test_ln.py::test_forward_values", "equivalence", "fail", message,
                    duration=0.31, points=3, diagnostics=diagnostics,
                    reproduce="grade ex --seed 7 -k test_forward_values"),
        _TestResult("test_backward", "ex/test_ln.py::test_backward", "gradient", "error",
                    "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x3 and 5x3)", points=2,
                    origin="candidate",
                    details="Traceback (most recent call last):\n  File \"layer_norm.py\", line 12, in forward\n"
                            "    return x @ self.weight\nRuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        _TestResult("test_gradcheck", "ex/test_ln.py::test_gradcheck", "gradient", "fail",
                    "gradient vs finite differences", diagnostics=gradcheck),
        _TestResult("test_shape_mismatch", "ex/test_ln.py::test_shape_mismatch", "shape", "fail",
                    "output: expected shape (2, 3), got (3, 2)",
                    diagnostics={"expected_shape": [2, 3], "actual_shape": [3, 2]}),
        _TestResult("test_normalizes_any_input", "ex/test_ln.py::test_normalizes_any_input", "property", "fail",
                    "mean is not zero",
                    falsifying_example="Falsifying example: test_normalizes_any_input(\n    rows=3,\n)"),
        _TestResult("test_half_precision", "ex/test_ln.py::test_half_precision", "equivalence", "skip",
                    "requires CUDA"),
        _TestResult(f"test_hostile[{HOSTILE}]", "ex/test_ln.py::test_hostile", "constraints", "fail",
                    f"candidate says {HOSTILE}", details=HOSTILE, output=BIG_OUTPUT,
                    artifacts={"loss_curve": {HOSTILE: [HOSTILE, None, 1.0, "2"], "reference": []}}),
    ]
    findings = [{"kind": "forbidden", "message": "uses torch.nn.functional.layer_norm", "line": 7}]
    return ExerciseResult("05_layer_norm", "Layer normalization", "层归一化", "easy", "/sub/layer_norm.py",
                          duration=1.5, tests=tests, static_findings=findings,
                          not_applicable={"convergence": "layer norm alone has nothing to learn"}).finish()


def _run(*exercises: ExerciseResult) -> RunResult:
    return RunResult(started_at="2024-05-01T12:00:00+00:00",
                     settings={"seed": 1234, "device": "cpu", "timeout": 10.0, "memory_mb": 4096, "select": None},
                     environment={"python": "3.11.9", "torch": "2.4.0", "cuda_available": False},
                     exercises=list(exercises), duration=5.6)


@pytest.fixture(scope="module")
def html() -> str:
    return render_report(_run(_passing_exercise(), _failing_exercise()))


def test_report_is_one_self_contained_file(html):
    assert html.startswith("<!DOCTYPE html>")
    for external in (r"https?://", r"<[^<>]*\s(src|href)\s*=\s*(?![\"']?#)", r"<link\b", r"@import", r"url\(",
                     r"<script", r"<iframe", r"<object", r"<embed"):
        assert not re.search(external, html, re.IGNORECASE), external
    assert re.search(r'<a href="#ex-2-t-1">', html)  # internal links only
    assert "Content-Security-Policy" in html


def test_candidate_text_is_escaped_and_cleaned(html):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html and "<img" not in html
    assert html.count("<pre") == html.count("</pre>")  # the data's </pre> closes nothing
    assert not re.search("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]", html)
    assert "\ufffd[31mred" in html
    html.encode("utf-8")  # no lone surrogate survives


def test_summary_and_settings(html):
    assert "Grading report" in html and 'badge big fail">failed' in html
    assert "<b>5 / 14</b> points (36%)" in html
    assert "1 / 2 exercises passed" in html
    for text in ("1234", "2024-05-01T12:00:00+00:00", "2.4.0", "3.11.9", "grader-results/1", "memory_mb"):
        assert text in html


def test_exercises_and_tests_are_listed(html):
    for text in ("Self-attention", "自注意力", "Layer normalization", "层归一化", "test_output_shape[batch=2]",
                 "test_half_precision", "requires CUDA", "uses torch.nn.functional.layer_norm",
                 "layer norm alone has nothing to learn", "covered by equivalence"):
        assert text in html


def test_failure_details(html):
    _, d = _mismatch_diagnostics()
    assert f"{d['mismatched']} of {d['compared']} compared elements" in html
    assert "inf at [1, 14, 12]" in html and "rtol=1e-05, atol=1e-08" in html
    assert "Falsifying example: test_normalizes_any_input(" in html
    assert "Traceback from the candidate&#39;s code" in html and "return x @ self.weight" in html
    assert "grade ex --seed 7 -k test_forward_values" in html
    assert "expected_shape" not in html and "[2, 3]" in html  # known keys get labels
    assert "Analytic (candidate&#39;s gradients)" in html and "eps=1e-06" in html
    assert "END-OF-OUTPUT" in html and "Captured output" in html


def test_heatmap_and_loss_charts(html):
    assert html.count("<svg") == 3  # one heatmap, two loss charts
    assert "|error| at [1, 2:26, 0:24]" in html and "∞" in html
    assert "Training loss: candidate vs reference" in html and "<polyline" in html
    assert "no finite values to plot" not in html
    assert html.count("2 non-finite not drawn") == 2  # nan and inf; in the hostile series, text and None


def test_exercise_the_grader_could_not_grade():
    broken = ExerciseResult("09_rnn", "RNN", "循环神经网络", "hard", "/sub/rnn.py", status="error",
                            error="reference solution failed its own tests: <b>boom</b>")
    out = render_report(_run(_passing_exercise(), broken))
    assert "could not grade this exercise" in out and "&lt;b&gt;boom&lt;/b&gt;" in out
    assert 'The grader could not grade <a href="#ex-2">RNN</a>' in out  # also in the header
    assert 'badge big error">error' in out


def test_empty_run_renders():
    assert "No exercises were graded" in render_report(_run())


def test_write_report(tmp_path):
    run = _run(_passing_exercise())
    write_report(run, tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_report(run)


def test_diagnostic_rows_with_partial_keys():
    rows = dict(diagnostic_rows({"max_abs_error": 0.5, "rtol": 1e-3, "custom": [1, 2], "heatmap": None}))
    assert rows == {"max_abs_error": "0.5", "rtol": "0.001", "custom": "[1, 2]"}


@FUZZ
@given(st.text())
def test_clean_leaves_only_valid_characters(text):
    out = clean({text: [text]})
    key, (value,) = next(iter(out.items()))
    assert key == value and len(value) == len(text)
    value.encode("utf-8")
    assert not re.search("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffe\uffff]", value)


_floats = st.floats(allow_nan=True, allow_infinity=True) | st.none() | st.text(max_size=3)
_labels = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), max_size=20)


@FUZZ
@given(st.dictionaries(_labels, st.lists(_floats, max_size=30), max_size=3), _labels)
def test_line_chart_is_wellformed_for_any_data(series, title):
    svg = plots.line_chart_svg(series, title)
    ET.fromstring(svg)
    coordinates = re.findall(r' (?:[xy][12]?|c[xy]|points|width|height)="([^"]*)"', svg)
    assert coordinates and not any(re.search("nan|inf", c) for c in coordinates)


@FUZZ
@given(st.lists(st.lists(st.floats(min_value=0) | st.just(math.nan), min_size=1, max_size=6), max_size=6),
       st.integers(0, 10**6), st.lists(st.integers(0, 99), max_size=3))
def test_heatmap_is_wellformed_for_any_data(values, offset, fixed):
    svg = plots.heatmap_svg({"fixed_index": fixed, "row_offset": offset, "col_offset": 0, "values": values})
    ET.fromstring(svg)


# ---- in a real browser ------------------------------------------------------------------------

@pytest.fixture
def chromium(tmp_path) -> list[str]:
    """The headless Chromium command line (without the URL); skips when Chromium is missing,
    unless GRADER_REQUIRE_BROWSER=1, then fails."""
    if not CHROMIUM.exists():
        if os.environ.get("GRADER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GRADER_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: "
                        "install Chromium (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not found; set GRADER_REQUIRE_BROWSER=1 to make this a failure")
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}"]


def _browse(command: list[str]) -> str:
    """Run headless Chromium; its stdout."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.slow
def test_browser_dom(chromium, tmp_path, html):
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    dom = _browse(chromium + ["--dump-dom", page.as_uri()])
    assert "Grading report" in dom and "1 / 2 exercises passed" in dom
    assert "test_forward_values" in dom and "test_learns_copy_task" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom.lower() and "<img" not in dom.lower()
    assert dom.count("<svg") == 3


@pytest.mark.slow
def test_browser_screenshot(chromium, tmp_path, html):
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(html, encoding="utf-8")
    _browse(chromium + [f"--screenshot={png}", "--window-size=1280,2000", page.as_uri()])
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    import struct
    import zlib

    pos, chunks = 8, {}
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunks.setdefault(kind, []).append(png[pos + 8:pos + 8 + size])
        pos += 12 + size
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    step = 3 if color == 2 else 4
    raw, rows, prev = zlib.decompress(b"".join(chunks[b"IDAT"])), [], bytearray(width * step)
    for y in range(height):
        kind, line = raw[y * (width * step + 1)], bytearray(raw[y * (width * step + 1) + 1:(y + 1) * (width * step + 1)])
        for i in range(len(line)):
            left, up = line[i - step] if i >= step else 0, prev[i]
            corner = prev[i - step] if i >= step else 0
            p = left + up - corner
            pred = {0: 0, 1: left, 2: up, 3: (left + up) // 2,
                    4: min((abs(p - left), left), (abs(p - up), up), (abs(p - corner), corner))[1]}[kind]
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, len(r), step)]


@pytest.mark.slow
def test_browser_a_likely_mistake_is_above_the_fold_on_a_phone(chromium, tmp_path):
    failing = _failing_exercise()
    failing.likely_mistake = {"names": ["scale_by_d_model"], "en": ["Scores divided by sqrt(d_model)."],
                              "zh": ["分数除以了 sqrt(d_model)。"], "test": "test_forward_values", "evidence": "same"}
    page, png = tmp_path / "report.html", tmp_path / "phone.png"
    page.write_text(render_report(_run(failing)), encoding="utf-8")
    _browse(chromium + [f"--screenshot={png}", "--window-size=390,844", page.as_uri()])
    width, height, pixels = _png_pixels(png.read_bytes())
    assert (width, height) == (390, 844)
    assert bytes((0xFF, 0xF6, 0xE8)) in set(pixels), "the diagnosis box (#fff6e8) is not in the first screen"


def test_one_bug_one_story_in_the_report():
    message, diagnostics = _mismatch_diagnostics()
    tests = [_TestResult(f"test_matches[{m}]", f"ex/t.py::test_matches[{m}]", "equivalence", "fail", message,
                         points=2, diagnostics=diagnostics, reproduce=f"grade ex -k 'test_matches[{m}]'")
             for m in ("none", "causal", "padding")]
    page = render_report(_run(ExerciseResult("17_x", "Attention", "注意力", "easy", "s.py", tests=tests).finish()))
    assert page.count('<pre class="message">') == 1 and page.count("Max abs error") == 1  # told once, in full
    assert page.count("same kind of failure as") == 2 and 'href="#ex-1-t-1">test_matches[none]</a>' in page
