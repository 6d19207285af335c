"""Trusted side of an exercise's constraints: the static gate before a submission runs, the
verdict on each operation trace a worker returns, and the harness-owned constraints test that
every exercise gets from its exercise.toml (nobody writes it by hand)."""
from __future__ import annotations

import fnmatch
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import static_checks
from grader.compare import Mismatch
from grader.discovery import Exercise

CONSTRAINT_KINDS = ("forbidden", "policy")
TEST_NAME = "test_follows_the_exercise_constraints"


# -- static gate ------------------------------------------------------------------------------
def scan_submission(exercise: Exercise, path: Path) -> list[static_checks.Finding]:
    """Every static finding for a submission of `exercise`."""
    return static_checks.scan_file(path, exercise.forbidden, exercise.names, exercise.allow_imports)


def breaches(findings: list[static_checks.Finding]) -> list[str]:
    """The findings that break the constraints (not syntax or missing names: those fail on import)."""
    return [f"line {f.line}: {f.message}" for f in findings if f.kind in CONSTRAINT_KINDS]


def gate_message(problems: list[str]) -> str:
    return ("your file was not run: it breaks the exercise's constraints (see the README's "
            "'What a submission may use'):\n  " + "\n  ".join(problems))


# -- operation traces ---------------------------------------------------------------------------
def new_nonce() -> str:
    return secrets.token_hex(8)


@dataclass
class TraceLog:
    """What the traces of one exercise's run showed: forbidden operators and dead traces, by request."""

    violations: list[str] = field(default_factory=list)
    traced: int = 0


def judge_trace(trace, nonce: str, patterns: tuple[str, ...], label: str) -> str | None:
    """Why a request's trace breaks the constraints, or None. `trace` is as the worker sent it."""
    names = trace.get("names") if type(trace) is dict else None
    if type(names) is not list or not all(type(n) is str for n in names):
        return f"{label}: the operation trace did not come back (the grader traces every call)"
    from grader.optrace import canary  # names only; nothing of the worker runs here

    if canary("start", nonce) not in names or canary("end", nonce) not in names:
        return f"{label}: the operation trace was switched off while your code ran"
    used = sorted({n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)})
    if used:
        return f"{label} ran {', '.join(used)}, which this exercise forbids (however it is reached)"
    return None


# -- the harness-owned test ---------------------------------------------------------------------
class ConstraintsItem(pytest.Item):
    """One per exercise, after its own tests: the static findings and every trace of the run."""

    def __init__(self, *, exercise: Exercise, **kwargs):
        super().__init__(**kwargs)
        self.exercise = exercise
        self.add_marker(pytest.mark.category("constraints"))

    def runtest(self) -> None:
        from grader.pytest_plugin import CONTEXT_KEY

        ctx = self.config.stash[CONTEXT_KEY]
        problems = breaches(scan_submission(self.exercise, ctx.submission_for(self.exercise)))
        problems += ctx.trace_log(self.exercise).violations[:20]
        if problems:
            raise Mismatch("your solution breaks the exercise's constraints:\n  " + "\n  ".join(problems))

    def reportinfo(self):
        return self.path, None, f"{self.exercise.id}: the exercise's constraints"

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value)


def add_constraints_items(items: list[pytest.Item]) -> None:
    """Append the harness's constraints test after the last test of each exercise collected."""
    from grader.discovery import load_exercise

    last: dict[Path, pytest.Item] = {}
    for item in items:
        folder = Path(str(item.path)).parent
        if (folder / "exercise.toml").is_file():
            last[folder] = item
    for folder, item in last.items():
        items.append(ConstraintsItem.from_parent(item.parent, name=TEST_NAME, exercise=load_exercise(folder)))
