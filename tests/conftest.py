"""Shared fixtures for the harness's tests: a tiny exercise project written into tmp_path, a
RunContext whose worker pool is shared by the whole test session (its start costs seconds), and
the catalog's validations, run in the background while the harness's own tests run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import parallel
from grader.session import RunContext, Settings
from grader.validate import validate_exercise

REPO = Path(__file__).resolve().parent.parent
GRADE = [sys.executable, "-m", "grader.cli"]

TINY_TOML = """\
id = "90_scale"
title = "Scale a tensor"
title_zh = "缩放张量"
sources = ["000#1"]
difficulty = "easy"

[interface]
names = ["scale"]

[constraints]
forbidden = ["torch.mul"]

[grading]
timeout = 5

[not_applicable]
gradient = "checked elsewhere; this exercise exists to test the harness"
convergence = "nothing to learn"
"""

TINY_TESTS = '''\
"""A tiny suite exercising every path of the harness quickly."""
import pytest
import torch
from hypothesis import given, strategies as st

from grader.compare import assert_close


@pytest.mark.category("shape")
@given(n=st.integers(1, 5))
def test_shape(candidate, n):
    out = candidate.scale(torch.ones(n, dtype=torch.float64) * 1.5)
    assert tuple(out.shape) == (n,), f"expected shape {(n,)}, got {tuple(out.shape)}"


@pytest.mark.category("equivalence")
def test_value(candidate, reference):
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)
    assert_close(candidate.scale(x), reference.scale(x), "scaled values")


@pytest.mark.category("property")
def test_linear(candidate):
    x = torch.arange(1.0, 4.0, dtype=torch.float64)
    assert_close(candidate.scale(x + x), candidate.scale(x) * 2, "scale(x + x) vs 2 scale(x)")

'''

TINY_REFERENCE = "def scale(x):\n    return 2 * x\n"
TINY_STUB = '"""Stub."""\n\n\ndef scale(x):\n    """Return 2 x."""\n    raise NotImplementedError("scale")\n'
TINY_MISTAKES = """\
[times_three]
en = "Scales by 3 instead of 2."
zh = "乘以 3 而不是 2。"
edits = [["2 * x", "3 * x"]]
"""
TINY_ALTERNATIVE = '"""Adds x to itself."""\n\n\ndef scale(x):\n    return x + x\n'


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A project folder with one quick exercise (90_scale), its reference, one mutant and one alternative."""
    return make_tiny_project(tmp_path)


def make_tiny_project(tmp_path: Path) -> Path:
    """Write the tiny project into `tmp_path` (for fixtures of a wider scope) and return it."""
    ex = tmp_path / "exercises" / "90_scale"
    ex.mkdir(parents=True)
    (ex / "exercise.toml").write_text(TINY_TOML, encoding="utf-8")
    (ex / "test_scale.py").write_text(TINY_TESTS)
    (ex / "solution.py").write_text(TINY_STUB)
    (ex / "README.md").write_text("# Scale\n\nImplement `scale(x)` returning 2 x.\n")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "90_scale.py").write_text(TINY_REFERENCE)
    (tmp_path / "tests" / "mutants").mkdir(parents=True)
    (tmp_path / "tests" / "mutants" / "90_scale.toml").write_text(TINY_MISTAKES, encoding="utf-8")
    alternatives = tmp_path / "tests" / "alternatives" / "90_scale"
    alternatives.mkdir(parents=True)
    (alternatives / "adds_itself.py").write_text(TINY_ALTERNATIVE)
    return tmp_path


def write_candidate(folder: Path, source: str, name: str = "candidate.py") -> Path:
    """Write a candidate's source (dedented) and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="session")
def shared_context():
    """One RunContext (and worker pool) for the session; tests set its settings as needed."""
    ctx = RunContext(Settings())
    yield ctx
    ctx.close()


@pytest.fixture
def context(shared_context: RunContext):
    """The shared context with default settings restored after each test."""
    yield shared_context
    shared_context.settings = Settings()


CI_SEEDS = (0, 1)  # every check on the first; the reference also on the second
JOBS = max(1, min(2, os.cpu_count() or 1))
BACKGROUND_NICE = 10  # the validations yield to the harness's tests (19 left CPU idle: CI 19.2 -> 21.6 min)
VALIDATES = "test_exercise_validates"  # tests/test_exercises.py: one test per exercise


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The catalog's validations run last: they work in the background from the session's start
    (see `validations`), so the harness's own tests run meanwhile rather than after them."""
    items.sort(key=lambda item: getattr(item, "originalname", "") == VALIDATES)  # a stable sort


class Validations:
    """`grade validate` of the selected exercises on CI_SEEDS, JOBS processes at a lower priority
    working from the start; `of(id)` waits for that exercise's result."""

    def __init__(self, exercises: list):
        self._selected = {e.id for e in exercises}
        self._work = parallel.Submitted(validate_in_ci, exercises, Settings(device="cpu"), JOBS, nice=BACKGROUND_NICE)
        self._pending = zip([e.id for e in exercises], self._work)  # results come in this order
        self._done: dict = {}

    def selected(self, exercise_id: str) -> bool:
        return exercise_id in self._selected

    def of(self, exercise_id: str):
        while exercise_id not in self._done:
            found, result = next(self._pending)
            self._done[found] = result
        return self._done[exercise_id]

    def close(self) -> None:
        self._work.close()


def with_variants() -> set[str]:
    """The exercises tests/test_likely_mistake.py checks diagnoses of (tests/variants/<id>.toml)."""
    return {path.stem for path in (REPO / "tests" / "variants").glob("*.toml")}


def validate_in_ci(exercise, ctx):
    """`grade validate` on CI_SEEDS; `--diagnoses` for the exercises tests/test_likely_mistake.py
    checks: it waits for their validation, which caches every known mistake's first failure."""
    return validate_exercise(exercise, ctx, seeds=CI_SEEDS, diagnoses=exercise.id in with_variants())


def validated_first(exercises: list) -> list:
    """Exercises with tests/variants/<id>.toml first (tests/test_likely_mistake.py waits for them)."""
    early = with_variants()
    return sorted(exercises, key=lambda e: e.id not in early)  # stable: catalog order otherwise


@pytest.fixture(scope="session", autouse=True)
def validations(request):
    """The validations of the selected exercises, started with the session's first test (None
    when no validation is selected)."""
    selected = [item.callspec.params["exercise"] for item in request.session.items
                if getattr(item, "originalname", "") == VALIDATES]
    found = Validations(validated_first(selected)) if selected else None
    yield found
    if found:
        found.close()


def run_grade(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the `grade` command line in a subprocess."""
    return subprocess.run([*GRADE, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)
