"""Gradescope's results.json for one grading run (score, max_score, one entry per test)."""
from __future__ import annotations

import json
from pathlib import Path

from grader.results import RunResult, write_text


def gradescope_dict(run: RunResult) -> dict:
    """The run in Gradescope's autograder format: a test's score is its earned points; a skipped
    test is left out (it counts toward no maximum); an exercise the grader could not run is one
    failed entry worth 0 of 0 carrying the reason."""
    tests = []
    for ex in run.exercises:
        if ex.error:
            tests.append(_entry(f"{ex.id}: grading", 0.0, 0.0, False, ex.error))
        tests += [_entry(f"{ex.id}::{t.name} [{t.category}]", t.earned, t.points, t.status == "pass",
                         "\n\n".join(x for x in (t.message, t.falsifying_example) if x))
                  for t in ex.tests if t.status != "skip"]
    return {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "execution_time": round(run.duration, 3), "tests": tests}


def _entry(name: str, score: float, max_score: float, passed: bool, output: str) -> dict:
    return {"name": name, "score": score, "max_score": max_score, "status": "passed" if passed else "failed",
            "output": output, "visibility": "visible"}


def write_gradescope(run: RunResult, path: Path | str) -> None:
    write_text(path, json.dumps(gradescope_dict(run), indent=2, ensure_ascii=False) + "\n")
