"""Known mistakes kept as data: edits of the reference that apply exactly or are reported."""
from __future__ import annotations

import pytest

from grader import mistakes
from grader.discovery import discover
from grader.mistakes import Mistake, MistakeError
from tests.conftest import REPO

REFERENCE = "def f(x):\n    return x / 2  # halve\n"


def test_edits_apply_in_order_and_append_follows():
    m = Mistake("m", "Halves twice.", "减半两次。", (("x / 2", "x / 4"), ("# halve", "# quarter")), "g = f\n")
    assert m.apply(REFERENCE) == "def f(x):\n    return x / 4  # quarter\n\n\ng = f\n"


@pytest.mark.parametrize("old, times", [("x / 3", 0), ("x", 2)])
def test_an_edit_that_no_longer_fits_is_reported_not_guessed(old, times):
    with pytest.raises(MistakeError, match=f"edit 1 no longer applies: its old text occurs {times} times"):
        Mistake("m", "e", "中", ((old, "y"),)).apply(REFERENCE)


def test_an_entry_needs_both_sentences_and_a_change():
    assert Mistake("m", "", "no chinese").problems() == [
        "m: no English sentence (en)", "m: no Chinese sentence (zh)",
        "m: neither edits nor append: it is the reference itself"]


@pytest.mark.parametrize("text, words", [
    ("[Bad-Name]\nen = 'x'\n", "snake_case"),
    ("[m]\nen = 'x'\nfind = 'y'\n", "unknown keys ['find']"),
    ("[m]\nedits = [['only one']]\n", "[old, new] string pairs"),
    ("[m\n", "not valid TOML"),
])
def test_a_malformed_file_is_refused_with_the_reason(tmp_path, text, words):
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MistakeError, match=words.replace("[", r"\[").replace("]", r"\]")):
        mistakes.load(path)


@pytest.mark.parametrize("exercise", discover(REPO / "exercises"), ids=lambda e: e.id)
def test_every_shipped_mistake_applies_to_its_reference_and_is_explained(exercise):
    reference = (REPO / "solutions" / f"{exercise.id}.py").read_text(encoding="utf-8")
    for m in mistakes.load(mistakes.path_for(REPO, exercise.id)):
        assert m.problems() == []
        assert m.apply(reference) != reference
