"""Trusted side of an exercise's constraints: the static gate before a submission runs, and the
verdict on each operation trace a worker returns (the test that reports them is in
`grader.harness_tests`). Light on imports: the command line loads it before torch."""
from __future__ import annotations

import fnmatch
import functools
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from grader import static_checks
from grader.discovery import Exercise

CONSTRAINT_KINDS = ("forbidden", "policy")


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


def judge_trace(trace, nonce: str, patterns: tuple[str, ...], label: str) -> str | None:
    """Why a request's trace breaks the constraints, or None. `trace` is as the worker sent it."""
    names = trace.get("names") if type(trace) is dict else None
    if type(names) is not list or not all(type(n) is str for n in names):
        return f"{label}: the operation trace did not come back (the grader traces every call)"
    from grader.worker.optrace import canary  # names only; nothing of the worker runs here

    if canary("start", nonce) not in names or canary("end", nonce) not in names:
        return f"{label}: the operation trace was switched off while your code ran"
    forbidden = _matcher(patterns)
    used = sorted({n for n in names if forbidden(n)})
    if used:
        return f"{label} ran {', '.join(used)}, which this exercise forbids (however it is reached)"
    return None


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]):
    """Whether an operator name matches any of the glob `patterns` (fnmatch's, case-sensitive),
    as one compiled expression: every traced request is judged (~30 names against each pattern
    one by one was a tenth of a millisecond a request)."""
    if not patterns:
        return lambda name: False
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match
