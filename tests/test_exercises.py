"""Every exercise in the catalog proves itself: the checks of `grade validate`, on the CI's seeds.

Each exercise is validated on seed 0 in full (reference, stub, every mutant) and its reference
also on seed 1. The selected exercises are validated in the background from the session's start
(tests/conftest.py: `validations`), while the harness's own tests run; these tests run last and
read each exercise's result."""
import pytest

from grader.discovery import discover
from grader.validate import mistakes_of
from tests.conftest import REPO

EXERCISES = discover(REPO / "exercises")


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
