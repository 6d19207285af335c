"""Tests the harness adds to every exercise's own: the constraints test, built from
exercise.toml and the run's operation traces (no exercise writes one by hand)."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import constraints
from grader.compare import Mismatch
from grader.discovery import Exercise, load_exercise

TEST_NAME = "test_follows_the_exercise_constraints"


class ConstraintsItem(pytest.Item):
    """One per exercise, after its own tests: the static findings and every trace of the run."""

    def __init__(self, *, exercise: Exercise, **kwargs):
        super().__init__(**kwargs)
        self.exercise = exercise
        self.add_marker(pytest.mark.category("constraints"))

    def runtest(self) -> None:
        from grader.pytest_plugin import CONTEXT_KEY, exercise_run

        run = exercise_run(self.config, self.exercise)
        problems = constraints.breaches(self.config.stash[CONTEXT_KEY].static_findings(run))
        problems += run.trace_log.violations[:20]
        if problems:
            raise Mismatch("your solution breaks the exercise's constraints:\n  " + "\n  ".join(problems))

    def reportinfo(self):
        return self.path, None, f"{self.exercise.id}: the exercise's constraints"

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value)


def add_constraints_items(items: list[pytest.Item]) -> None:
    """Append the harness's constraints test after the last test of each exercise collected."""
    last: dict[Path, pytest.Item] = {}
    for item in items:
        folder = Path(str(item.path)).parent
        if (folder / "exercise.toml").is_file():
            last[folder] = item
    for folder, item in last.items():
        items.append(ConstraintsItem.from_parent(item.parent, name=TEST_NAME, exercise=load_exercise(folder)))
