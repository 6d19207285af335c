"""grader.runner: an exercise's tests run here, the candidate there; results say who failed and why."""
import json
import shlex
import subprocess

from grader import credit
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.session import Settings
from tests.conftest import GRADE, write_candidate


def grade(ctx, project, source):
    ex = load_exercise(project / "exercises" / "90_scale")
    return grade_exercise(ex, ctx, write_candidate(project, source))


def by_name(result):
    return {t.name: t for t in result.tests}


def test_correct_submission_passes_with_points(context, tiny_project):
    r = grade(context, tiny_project, "def scale(x):\n    return x + x\n")
    assert r.status == "pass" and r.score == r.max_score == 4 and r.counts()["pass"] == 4
    assert r.not_applicable["convergence"] == "nothing to learn"
    assert r.limits["timeout"] == 5 and r.limits["memory_mb"] == 4096


def test_wrong_values_fail_with_diagnostics_and_a_falsifying_example(context, tiny_project):
    r = grade(context, tiny_project, "def scale(x):\n    print('debugging', x.shape)\n    return 2 * x + (x.numel() > 2)\n")
    tests = by_name(r)
    assert r.status == "fail"
    assert tests["test_value"].status == "fail" and tests["test_value"].diagnostics["mismatched"] == 7
    assert "scaled values" in tests["test_value"].message
    assert "debugging" in tests["test_value"].output
    # shapes are right, but with every value test failed nothing else earns points
    assert tests["test_shape"].status == "fail" and tests["test_shape"].message == credit.NOT_CREDITED
    assert "--seed 0" in tests["test_value"].reproduce and "-k test_value" in tests["test_value"].reproduce


def test_hypothesis_minimal_example_is_reported(context, tiny_project):
    r = grade(context, tiny_project, "import torch\ndef scale(x):\n    return 2 * x[:3]\n")
    shape = by_name(r)["test_shape"]
    assert shape.status == "fail" and "n=4" in shape.falsifying_example
    assert "candidate=" not in shape.falsifying_example and "reference=" not in shape.falsifying_example


def test_stub_errors_are_the_candidates(context, tiny_project):
    r = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context)
    assert r.status == "fail" and r.score == 0
    own, harness = r.tests[:-1], r.tests[-1]
    assert all(t.status == "error" and t.origin == "candidate" for t in own)
    assert harness.name == "test_follows_the_exercise_constraints" and harness.message == credit.NOT_CREDITED
    assert "NotImplementedError" in r.tests[0].message and "solution.py" in r.tests[0].details


def test_static_findings_are_recorded_and_fail_constraints(context, tiny_project):
    r = grade(context, tiny_project, "import torch\ndef scale(x):\n    return torch.mul(x, 2)\n")
    assert [f["kind"] for f in r.static_findings] == ["forbidden"]
    tests = by_name(r)
    constraints = tests["test_follows_the_exercise_constraints"]
    assert constraints.status == "fail" and "torch.mul" in constraints.message and "line 3" in constraints.message
    # the file is not run at all: every test fails at once, and it scores nothing
    assert tests["test_value"].status == "error" and "was not run" in tests["test_value"].message
    assert r.score == 0


def test_without_the_gate_the_guard_raises_in_the_worker(context, tiny_project):
    context.settings = Settings(screen=False)
    r = grade(context, tiny_project, "import torch\ndef scale(x):\n    return torch.mul(x, 2)\n")
    assert by_name(r)["test_value"].status == "error" and "ForbiddenAPIError" in by_name(r)["test_value"].message


def test_missing_reference_is_a_grader_error(context, tiny_project):
    (tiny_project / "solutions" / "90_scale.py").unlink()
    r = grade(context, tiny_project, "def scale(x):\n    return 2 * x\n")
    assert r.status == "error" and "no reference solution" in r.error


def test_broken_test_file_is_a_grader_error(context, tiny_project):
    (tiny_project / "exercises" / "90_scale" / "test_scale.py").write_text("import nonexistent_module\n")
    r = grade(context, tiny_project, "def scale(x):\n    return 2 * x\n")
    assert r.status == "error" and "nonexistent_module" in r.error


def test_the_reproduce_command_reruns_exactly_the_failed_case(context, tiny_project):
    (tiny_project / "exercises" / "90_scale" / "test_cases.py").write_text(
        'import pytest\nimport torch\n\n\n@pytest.mark.category("property")\n'
        '@pytest.mark.parametrize("n", ["one", "two+three", "with space"])\n'
        'def test_case(candidate, n):\n    assert float(candidate.scale(torch.ones(1)).sum()) == 2.0, n\n')
    tests = by_name(grade(context, tiny_project, "def scale(x):\n    return 3 * x\n"))
    assert shlex.split(tests["test_case[two+three]"].reproduce)[-2:] == ["-k", "test_case[two+three]"]
    assert shlex.split(tests["test_case[with space]"].reproduce)[-2:] == ["-k", "test_case"]  # no -k name holds a space
    argv = shlex.split(tests["test_case[two+three]"].reproduce)[1:]
    rerun = subprocess.run([*GRADE, *argv, "--json", "-"], cwd=tiny_project, capture_output=True, text=True, timeout=300)
    assert [t["name"] for t in json.loads(rerun.stdout)["exercises"][0]["tests"]] == ["test_case[two+three]"]


def test_cheap_first_runs_one_case_tests_before_drawn_cases_and_grading_keeps_file_order(context, tiny_project):
    """A verdict-only run (grade validate's mutants) reaches a one-case test's failure without the
    drawn cases before it; grading keeps file order, whose first failure a diagnosis reads."""
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    path = write_candidate(tiny_project, "def scale(x):\n    return 3 * x\n")
    graded = grade_exercise(ex, context, path)
    assert [t.name for t in graded.tests] == ["test_shape", "test_value", "test_linear", "test_follows_the_exercise_constraints"]
    verdict = grade_exercise(ex, context, path, stop_at_first_failure=True, shrink=False, cheap_first=True)
    assert [(t.name, t.status) for t in verdict.tests][:2] == [("test_value", "fail"), ("test_linear", "not_run")]
    assert [t.name for t in verdict.tests if t.status != "not_run"] == ["test_value"]
