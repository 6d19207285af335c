"""Likely mistake on the real exercises: a correct alternative of an exercise with one of its
known mistakes made in the alternative's own idiom (tests/variants/<id>.toml: not the
mutant's edit) is named as that mistake. When the catalog's validations run too (tests/conftest.py),
a test first waits for its exercise's, which caches every mistake's first failure (they start first)."""
from __future__ import annotations

import tomllib

import pytest

from grader import diagnosis
from grader.discovery import load_exercise
from grader.mistakes import Mistake
from grader.runner import grade_exercise
from tests.conftest import REPO


def variants() -> list[tuple[str, str, str, tuple]]:
    """(exercise id, mistake, alternative, edits) of every entry of tests/variants/<id>.toml."""
    found = []
    for path in sorted((REPO / "tests" / "variants").glob("*.toml")):
        for name, entry in tomllib.loads(path.read_text(encoding="utf-8")).items():
            found.append((path.stem, name, entry["alternative"], tuple(map(tuple, entry["edits"]))))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id, name, alternative, edits", variants(), ids=[f"{v[0]}:{v[1]}" for v in variants()])
def test_an_independently_written_variant_of_a_known_mistake_is_named(context, validations, tmp_path, exercise_id,
                                                                      name, alternative, edits):
    """tests/variants/<id>.toml: a kept correct alternative with that mistake made in its own
    idiom (not the mutant's edit of the reference); the diagnosis must name that mistake."""
    if validations is not None and validations.selected(exercise_id):
        validations.of(exercise_id)  # its mistakes' first failures are cached by then
    exercise = load_exercise(REPO / "exercises" / exercise_id)
    base = REPO / "tests" / "alternatives" / exercise_id / f"{alternative}.py"
    variant = tmp_path / f"{name}.py"
    variant.write_text(Mistake(name, "", "", edits).apply(base.read_text(encoding="utf-8")), encoding="utf-8")
    result = grade_exercise(exercise, context, variant)
    found = diagnosis.diagnose(exercise, context, result, context.settings.seed)
    failures = [(t.name, t.message[:200]) for t in result.tests if t.status != "pass"][:3]
    assert result.status == "fail" and found is not None, failures
    assert name in found.names, (found.names, found.test)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", sorted({v[0] for v in variants()}))
def test_a_correct_alternative_gets_no_diagnosis(context, exercise_id):
    exercise = load_exercise(REPO / "exercises" / exercise_id)
    for path in sorted((REPO / "tests" / "alternatives" / exercise_id).glob("*.py")):
        result = grade_exercise(exercise, context, path, own_files=True)
        assert result.status == "pass", [(t.name, t.message[:200]) for t in result.tests if t.status != "pass"][:3]
        assert diagnosis.diagnose(exercise, context, result, context.settings.seed) is None
