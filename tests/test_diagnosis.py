"""Likely mistake: a failing candidate whose first failure is exactly a known mistake's is told
which one, in English and Chinese, in the console, the JSON and the report; a correct solution,
the stub and an unknown bug are told nothing."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from grader import diagnosis, mistakes
from tests.conftest import GRADE, make_tiny_project

SAME_MISTAKE = "def scale(x):\n    y = x + x\n    return y + x  # written differently, the same bug\n"
UNKNOWN_BUG = "def scale(x):\n    return 4 * x\n"
CORRECT = "def scale(x):\n    return x * 2.0\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("diagnosis"))


def _grade(project: Path, source: str, name: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    path = project / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    out = project / f"{name}.json"
    env = {**os.environ, diagnosis.CACHE_ENV: str(project / "cache")}
    proc = subprocess.run([*GRADE, str(project / "exercises" / "90_scale"), "--submission", str(path), "--json", str(out),
                           "--report", str(project / f"{name}.html"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc, json.loads(out.read_text(encoding="utf-8"))["exercises"][0]


@pytest.mark.slow
def test_the_same_mistake_written_differently_is_named_in_both_languages(project):
    proc, result = _grade(project, SAME_MISTAKE, "same")
    assert proc.returncode == 1, proc.stderr
    likely = result["likely_mistake"]
    assert likely["names"] == ["times_three"] and likely["test"] == "test_value", likely
    assert likely["en"] == ["Scales by 3 instead of 2."] and likely["zh"] == ["乘以 3 而不是 2。"]
    assert "This looks like a known mistake" in proc.stdout and "乘以 3 而不是 2。" in proc.stdout
    page = (project / "same.html").read_text(encoding="utf-8")
    assert 'id="likely-mistake-1"' in page and "乘以 3 而不是 2。" in page
    assert list((project / "cache").rglob("*.json")), "the mistake's fingerprint is cached"


@pytest.mark.slow
@pytest.mark.parametrize("source, code", [(UNKNOWN_BUG, 1), (CORRECT, 0)], ids=["unknown_bug", "correct"])
def test_no_diagnosis_is_claimed_where_there_is_none(project, source, code):
    proc, result = _grade(project, source, f"none{code}")
    assert proc.returncode == code, proc.stderr
    assert result["likely_mistake"] is None and "known mistake" not in proc.stdout


@pytest.mark.slow
def test_the_stub_and_no_diagnose_get_none(project):
    stub = (project / "exercises" / "90_scale" / "solution.py").read_text(encoding="utf-8")
    assert _grade(project, stub, "stub")[1]["likely_mistake"] is None
    assert _grade(project, SAME_MISTAKE, "off", "--no-diagnose")[1]["likely_mistake"] is None


def test_messages_are_compared_without_paths_line_numbers_or_addresses():
    a = 'File "/tmp/a/cand.py", line 12, in scale\nobject at 0x7f00aa: shape (2, 3)'
    b = 'File "/tmp/zz/other.py", line 3, in scale\nobject at 0x55bb: shape (2, 3)'
    assert diagnosis.normalise(a, "/tmp/a/cand.py") == diagnosis.normalise(b, "/tmp/zz/other.py")
    assert diagnosis.normalise(a, "/tmp/a/cand.py") != diagnosis.normalise(b.replace("(2, 3)", "(3, 2)"), "/tmp/zz/other.py")


def test_mistakes_failing_identically_are_all_named_and_attacks_never():
    fp = diagnosis.Fingerprint("test_value", "scaled values differ")
    catalog = [mistakes.Mistake("a", "A.", "甲。", (("x", "y"),)), mistakes.Mistake("b", "B.", "乙。", (("x", "z"),)),
               mistakes.Mistake("indirect_c", "C.", "丙。", append="pass")]
    found = diagnosis.match(fp, {"a": fp, "b": fp, "indirect_c": fp}, [m for m in catalog if diagnosis.is_nameable(m)])
    assert found.names == ["a", "b"] and "2 known mistakes fail identically" in found.evidence
    assert diagnosis.match(diagnosis.Fingerprint("test_value", "other"), {"a": fp}, catalog) is None
    assert diagnosis.match(None, {"a": fp}, catalog) is None
