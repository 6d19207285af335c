"""Every exercise in the catalog proves itself: the checks of `grade validate`, on the CI's seeds."""
import pytest

from grader.discovery import discover
from grader.validate import mutants_of, validate_exercise
from tests.conftest import REPO

CI_SEEDS = (0, 1)
EXERCISES = discover(REPO / "exercises")


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_validates(context, exercise):
    v = validate_exercise(exercise, context, seeds=CI_SEEDS)
    assert v.ok, "\n".join(f"{c.subject}: {c.detail}" for c in v.checks if not c.ok)


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_has_at_least_three_mutants(exercise):
    assert len(mutants_of(exercise)) >= 3


def test_self_attention_has_at_least_six_mutants():
    assert len(mutants_of(next(e for e in EXERCISES if e.id == "17_self_attention"))) >= 6
