"""grader.validate: an exercise proves itself, and a hole in its suite is found."""
from grader.discovery import load_exercise
from grader.validate import validate_exercise
from tests.conftest import write_candidate


def checks(v):
    return {c.subject: c for c in v.checks}


def test_tiny_exercise_validates(context, tiny_project):
    v = validate_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, seeds=(0, 1))
    assert v.ok, [(c.subject, c.detail) for c in v.checks if not c.ok]
    c = checks(v)
    assert "reference (seed 1)" in c and "caught by" in c["mutant times_three"].detail


def test_uncaught_mutant_fails_validation(context, tiny_project):
    write_candidate(tiny_project / "tests" / "mutants" / "90_scale", '"""Correct after all."""\ndef scale(x):\n    return x * 2\n', "sneaky.py")
    c = checks(validate_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context))
    assert not c["mutant sneaky"].ok and "NOT caught" in c["mutant sneaky"].detail


def test_missing_category_and_passing_stub_fail_validation(context, tiny_project):
    ex_dir = tiny_project / "exercises" / "90_scale"
    toml = ex_dir / "exercise.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('convergence = "nothing to learn"\n', ""), encoding="utf-8")
    (ex_dir / "solution.py").write_text("def scale(x):\n    return 2 * x\n")
    c = checks(validate_exercise(load_exercise(ex_dir), context))
    assert not c["categories"].ok and "convergence" in c["categories"].detail
    assert not c["stub"].ok
