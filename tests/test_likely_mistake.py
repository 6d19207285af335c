"""Likely mistake on the real exercises: a correct alternative of an exercise with one of its
known mistakes made in the alternative's own idiom (tests/variants/<id>/<mistake>.py: not the
mutant's edit) is named as that mistake. (Named after test_exercises on purpose: pytest runs it
later, when `grade validate` has cached every mistake's first failure.)"""
from __future__ import annotations

import pytest

from grader import diagnosis
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from tests.conftest import REPO


VARIANTS = sorted((REPO / "tests" / "variants").glob("*/*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_an_independently_written_variant_of_a_known_mistake_is_named(context, variant):
    """tests/variants/<id>/<mistake>.py: a correct alternative of the exercise with that mistake
    made in its own idiom (not the mutant's edit); the diagnosis must name that mistake."""
    exercise = load_exercise(REPO / "exercises" / variant.parent.name)
    result = grade_exercise(exercise, context, variant, own_files=True)
    found = diagnosis.diagnose(exercise, context, result, context.settings.seed)
    assert result.status == "fail" and found is not None, [(t.name, t.message[:200]) for t in result.tests if t.status != "pass"][:3]
    assert variant.stem in found.names, (found.names, found.test)
