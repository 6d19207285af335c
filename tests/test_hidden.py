"""Hidden tests and what leaves the grader for a candidate: `--audience candidate` never shows a
hidden test's inputs, expected values, falsifying examples or output in any output (console, JSON,
JUnit, report, Gradescope, leaderboard); `grade pack` ships no solution and no hidden test; the
GitHub job summary stays under its size limit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import job_summary, leaderboard
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.session import Settings
from grader.results import ExerciseResult, RunResult, TestResult, for_audience
from tests.conftest import TINY_REFERENCE, make_tiny_project, run_grade

SECRET = "SECRET-7f3a9"
HIDDEN_TESTS = f'''\
"""Hidden: graded, never shown to a candidate."""
import pytest
import torch
from hypothesis import given, strategies as st


@pytest.mark.category("equivalence")
@given(v=st.just(4321.125))
def test_secret_probe(candidate, v):
    print("{SECRET} printed by the test")
    out = candidate.scale(torch.tensor([v], dtype=torch.float64))
    assert float(out) == 2 * v, f"{SECRET}: scale([{{v}}]) should be {{2 * v}}, got {{float(out)}}"
'''
BUGGY = "def scale(x):\n    print('scale got', x.tolist())  # in the hidden test: its input\n    return 3 * x\n"
# Keeps every input it is given where a re-import does not reach, and prints them all on each
# call: in a later (visible) test it would show the hidden test's input, were the worker handed on.
REMEMBERS = """import torch
SEEN = torch.__dict__.setdefault("_seen_by_candidate", [])

def scale(x):
    SEEN.append(x.tolist())
    print("seen so far:", SEEN)
    return 3 * x
"""


@pytest.fixture
def hidden_project(tmp_path: Path) -> Path:
    root = make_tiny_project(tmp_path / "project")
    (root / "exercises" / "90_scale" / "test_hidden_scale.py").write_text(HIDDEN_TESTS, encoding="utf-8")
    (tmp_path / "buggy").mkdir()
    (tmp_path / "buggy" / "90_scale.py").write_text(BUGGY, encoding="utf-8")
    return root


def _outputs(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("audience", ["grader", "candidate"])
def test_a_hidden_test_counts_but_a_candidate_sees_none_of_it(hidden_project, audience):
    out = hidden_project.parent / f"out-{audience}"
    out.mkdir()
    proc = run_grade(hidden_project / "exercises" / "90_scale", "--submission", hidden_project.parent / "buggy" / "90_scale.py",
                     "--audience", audience, "-v", "--json", out / "r.json", "--junit", out / "r.xml",
                     "--report", out / "r.html")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((out / "r.json").read_text(encoding="utf-8"))
    hidden = [t for t in doc["exercises"][0]["tests"] if t["hidden"]]
    assert [t["status"] for t in hidden] == ["fail"] and hidden[0]["points"] > 0  # it counts
    seen = proc.stdout + proc.stderr + _outputs(out)
    if audience == "grader":
        assert SECRET in seen and "4321.125" in seen  # the probe can show what it holds...
    else:
        assert SECRET not in seen and "4321.125" not in seen and "secret_probe" not in seen  # ...never to a candidate
        assert hidden[0]["name"] == "hidden_test_1" and hidden[0]["message"].startswith("hidden test: fail")


def test_a_hidden_tests_worker_is_not_handed_to_a_later_test(hidden_project, shared_context):
    """The tests of one submission share a worker the test before left healthy; never one that ran
    a hidden test (they run first here: test_hidden_scale.py sorts before test_scale.py)."""
    (hidden_project.parent / "remembers.py").write_text(REMEMBERS, encoding="utf-8")
    shared_context.settings = Settings(screen=False)
    result = grade_exercise(load_exercise(hidden_project / "exercises" / "90_scale"), shared_context,
                            hidden_project.parent / "remembers.py")
    hidden = [t for t in result.tests if t.hidden]
    assert hidden and "4321.125" in hidden[0].output  # what the hidden test gave it
    later = [t.output for t in result.tests if not t.hidden]
    assert any("seen so far" in out for out in later) and not any("4321.125" in out for out in later)


@pytest.mark.slow
def test_a_batch_for_candidates_leaks_nothing_hidden(hidden_project):
    candidates = hidden_project.parent / "candidates"
    for name, source in (("ann", TINY_REFERENCE), ("bob", BUGGY)):
        (candidates / name).mkdir(parents=True)
        (candidates / name / "90_scale.py").write_text(source, encoding="utf-8")
    out = hidden_project.parent / "batch"
    proc = run_grade("batch", candidates, "--exercises", hidden_project / "exercises", "--audience", "candidate",
                     "--out", out, cwd=hidden_project)
    assert proc.returncode == 0, proc.stderr
    seen = proc.stdout + proc.stderr + _outputs(out)
    assert SECRET not in seen and "4321.125" not in seen and "secret_probe" not in seen
    rows = {r["candidate"]: r for r in _csv_rows(out / "leaderboard.csv")}
    assert rows["ann"]["status"] == "pass" and rows["bob"]["status"] == "fail"


def _csv_rows(path: Path) -> list[dict]:
    import csv

    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_redaction_keeps_status_points_and_category_only():
    secret = TestResult("test_probe", "x/test_hidden_a.py::test_probe", "equivalence", "fail", message=SECRET,
                        points=2, details=SECRET, falsifying_example=SECRET, output=SECRET,
                        artifacts={"plot": SECRET}, reproduce=SECRET, hidden=True)
    public = TestResult("test_shape", "x/test_a.py::test_shape", "shape", "fail", message="shape (2,) vs (3,)")
    run = RunResult("now", {}, {}, [ExerciseResult("90_scale", "t", "t", "easy", "s.py", tests=[public, secret])])
    shown = for_audience(run, "candidate")
    assert SECRET not in json.dumps(shown.to_dict()) and shown.exercises[0].tests[0] == public
    assert shown.exercises[0].max_score == run.exercises[0].max_score == 3
    assert for_audience(run, "grader") is run and SECRET in run.exercises[0].tests[1].message  # the original is untouched


def test_pack_ships_statements_stubs_and_public_tests_only(hidden_project, tmp_path):
    out = tmp_path / "pack"
    proc = run_grade("pack", "90_scale", "--out", out, cwd=hidden_project)
    assert proc.returncode == 0, proc.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["README.md", "exercises/90_scale/README.md", "exercises/90_scale/exercise.toml",
                     "exercises/90_scale/solution.py", "exercises/90_scale/test_scale.py"]
    assert TINY_REFERENCE not in _outputs(out)


def test_pack_refuses_a_reference_left_in_an_exercise_and_a_used_folder(hidden_project, tmp_path):
    (hidden_project / "exercises" / "90_scale" / "notes.py").write_text(TINY_REFERENCE, encoding="utf-8")
    proc = run_grade("pack", "90_scale", "--out", tmp_path / "pack", cwd=hidden_project)
    assert proc.returncode == 2 and "is a reference solution" in proc.stderr and not (tmp_path / "pack").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    proc = run_grade("pack", "90_scale", "--out", tmp_path / "used", cwd=hidden_project)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr


def test_job_summary_fits_githubs_limit_and_says_what_it_left_out(tmp_path):
    rows = [leaderboard.Row(f"candidate{k:05d}", "fail", k % 7, 10, {"90_scale": k % 7}, {"shape": [1, 2]}, 1.5)
            for k in range(40_000)]
    text = job_summary.markdown(rows)
    assert len(text.encode()) <= job_summary.LIMIT and "rows left out (size limit)" in text
    assert text.startswith("## Grading results") and "| candidate | status | score |" in text
    small = job_summary.markdown(rows[:3])
    assert small.count("\n| candidate0") == 3 and "left out" not in small and "report" not in small
    target = tmp_path / "summary.md"
    assert job_summary.append(rows[:3], {job_summary.SUMMARY_ENV: str(target)}) == target
    assert job_summary.append(rows[:3], {}) is None and target.read_text(encoding="utf-8") == small
