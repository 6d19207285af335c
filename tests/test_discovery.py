"""grader.discovery: exercises are found from exercise.toml files and checked."""
import pytest

from grader.discovery import ExerciseError, discover, load_exercise


def test_discovers_the_repository_catalog():
    from tests.conftest import REPO

    ids = [e.id for e in discover(REPO / "exercises")]
    assert "17_self_attention" in ids and ids == sorted(ids)


def test_tiny_exercise_fields(tiny_project):
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    assert ex.names == ("scale",) and ex.forbidden == ("torch.mul",) and ex.timeout == 5
    assert ex.root == tiny_project and ex.points_for("shape") == 1.0
    assert set(ex.not_applicable) == {"gradient", "convergence"}


@pytest.mark.parametrize("edit, error", [
    (lambda t: t.replace('id = "90_scale"', 'id = "91_other"'), "differs from the folder"),
    (lambda t: t.replace('difficulty = "easy"', 'difficulty = "trivial"'), "difficulty"),
    (lambda t: t.replace('title_zh = "缩放张量"\n', ""), "title_zh"),
    (lambda t: t + "\n[grading.points]\nspeed = 2\n", "unknown categories"),
    (lambda t: t + "\n[[[", "exercise.toml"),
])
def test_invalid_exercise_toml_is_an_error(tiny_project, edit, error):
    toml = tiny_project / "exercises" / "90_scale" / "exercise.toml"
    toml.write_text(edit(toml.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ExerciseError, match=error):
        load_exercise(toml.parent)


def test_missing_paths_are_errors(tmp_path):
    with pytest.raises(ExerciseError):
        discover(tmp_path / "nowhere")
    with pytest.raises(ExerciseError, match="no exercise.toml"):
        discover(tmp_path)
