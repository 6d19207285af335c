"""Every exercise in the catalog proves itself: the checks of `grade validate`, on the CI's seeds.

Each exercise is validated on seed 0 in full (reference, stub, every mutant) and its reference
also on seed 1. The selected exercises are validated up front, JOBS at a time (each job a
process with its own fork server, as `grade validate -j`); each test reads its exercise's result."""
import os

import pytest

from grader.discovery import discover
from grader.session import Settings
from grader.validate import mistakes_of, validate_all
from tests.conftest import REPO

CI_SEEDS = (0, 1)
JOBS = max(1, min(2, os.cpu_count() or 1))
EXERCISES = discover(REPO / "exercises")


class Validations:
    """Results of validate_all over the selected exercises, read in any order as they come."""

    def __init__(self, exercises):
        self._ids = iter([e.id for e in exercises])
        self._results = validate_all(exercises, Settings(device="cpu"), CI_SEEDS, JOBS)
        self._done = {}

    def of(self, exercise_id: str):
        while exercise_id not in self._done:
            self._done[next(self._ids)] = next(self._results)
        return self._done[exercise_id]

    def close(self) -> None:
        self._results.close()


@pytest.fixture(scope="session")
def validations(request):
    selected = [item.callspec.params["exercise"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_exercise_validates"]
    found = Validations(selected)
    yield found
    found.close()


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_validates(validations, exercise):
    v = validations.of(exercise.id)
    assert v.ok, "\n".join(f"{c.subject}: {c.detail}" for c in v.checks if not c.ok)


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_has_at_least_three_mutants(exercise):
    assert len(mistakes_of(exercise)) >= 3


def test_self_attention_has_at_least_six_mutants():
    assert len(mistakes_of(next(e for e in EXERCISES if e.id == "17_self_attention"))) >= 6
