"""Checking what the operator asked for, before any grading starts: one clear line for each mistake.

Nothing here imports torch or starts a worker, so a mistake is refused in a fraction of a second.
The accepted ranges are stated here once; `grade --help` and the README quote them.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from grader.discovery import Exercise
from grader.limits import MEMORY_MAX_MB, MEMORY_MIN_MB, TIMEOUT_MAX, TIMEOUT_MIN

# Tests derive further seeds from --seed (e.g. seed * 1000 + run) that torch must accept (< 2**64).
SEED_MAX = 2**32 - 1
STDOUT = "-"


class UsageProblem(ValueError):
    """The operator's mistake: refused before grading, exit status 2, one line."""


def seed(text: str, option: str = "--seed") -> int:
    return _number(option, text, int, 0, SEED_MAX, "a whole number")


def timeout(text: str | None, option: str = "--timeout") -> float | None:
    return None if text is None else _number(option, text, float, TIMEOUT_MIN, TIMEOUT_MAX, "a number of seconds")


def memory(text: str | None, option: str = "--memory") -> int | None:
    return None if text is None else _number(option, text, int, MEMORY_MIN_MB, MEMORY_MAX_MB, "a whole number of MiB")


def _number(option: str, text: str, kind: type, low, high, what: str):
    try:
        value = kind(str(text).strip())
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # nan (from 'nan' or from text that is no number) is in no range; nor is inf
        raise UsageProblem(f"{option} must be {what} from {_shown(low)} to {_shown(high)}, got {text!r}")
    return value


def _shown(number) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def selection(expression: str | None) -> str | None:
    """A pytest -k expression, checked for syntax (pytest would refuse it later, per exercise)."""
    if expression is None:
        return None
    if not expression.strip():
        raise UsageProblem("-k needs an expression, e.g. -k 'shape or gradient'")
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # another pytest: it checks the expression itself
        return expression
    try:
        Expression.compile(expression)
    except Exception as e:  # SyntaxError (pytest 8.4+) or ParseError (earlier)
        raise UsageProblem(f"-k {expression!r} is not a valid expression: {getattr(e, 'msg', None) or e}") from None
    return expression


def directory(option: str, path: Path | None) -> Path | None:
    if path is not None and not Path(path).is_dir():
        raise UsageProblem(f"{option} {path}: {'not a folder' if Path(path).exists() else 'no such folder'}")
    return path


def submission(path: Path | None, exercises: list[Exercise], find) -> Path | None:
    """--submission: an existing regular file for one exercise, or a folder holding at least one
    submission (`find(exercise)` says which file, or None)."""
    if path is None:
        return None
    where = Path(path)
    if not where.exists():
        raise UsageProblem(f"--submission {path}: no such file or folder")
    if where.is_dir():
        if not any(find(e) for e in exercises):
            raise UsageProblem(f"--submission {path} holds no submission for {_which(exercises)} "
                               f"(expected <id>.py or <id>/solution.py)")
        return where
    if not stat.S_ISREG(where.stat().st_mode):
        raise UsageProblem(f"--submission {path}: not a regular file")
    if not os.access(where, os.R_OK):
        raise UsageProblem(f"--submission {path}: not readable")
    if len(exercises) > 1:
        raise UsageProblem(f"--submission {path} is one file but {len(exercises)} exercises were found; "
                           "give a folder holding <id>.py or <id>/solution.py")
    return where


def _which(exercises: list[Exercise]) -> str:
    return exercises[0].id if len(exercises) == 1 else f"any of the {len(exercises)} exercises"


def outputs(paths: dict[str, Path | None], submission_path: Path | None) -> dict[str, str | Path]:
    """--report/--json/--junit: '-' is stdout (for one of them), every other path is made ready to
    write (missing folders created) or refused now, not after the run."""
    given = {option: str(p) for option, p in paths.items() if p is not None}
    if list(given.values()).count(STDOUT) > 1:
        raise UsageProblem(f"only one of {', '.join(given)} may be '-' (stdout)")
    seen: dict[Path, str] = {}
    if submission_path is not None:
        seen[Path(submission_path).resolve()] = "--submission"
    ready: dict[str, str | Path] = {}
    for option, text in given.items():
        if text == STDOUT:
            ready[option] = STDOUT
            continue
        target = Path(text).resolve()
        if target in seen:
            raise UsageProblem(f"{option} {text} is also the {seen[target]} path; give each its own file")
        seen[target] = option
        ready[option] = writable(option, Path(text))
    return ready


def writable(option: str, path: Path) -> Path:
    """Create `path`'s missing folders and prove that the file can be written (without changing it)."""
    if path.is_dir():
        raise UsageProblem(f"{option} {path}: is a folder; give a file name")
    nearest = next((p for p in path.absolute().parents if p.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise UsageProblem(f"{option} {path}: cannot write there ({nearest} is a file, not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            with open(path, "xb"):
                pass
            path.unlink()
    except OSError as e:
        raise UsageProblem(f"{option} {path}: cannot write there ({e.strerror or e})") from None
    return path
