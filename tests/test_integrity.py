"""Verdict integrity end to end: no points without an honest solution.

The attacks themselves are known mistakes (`indirect_*` appendices in tests/mutants/<id>.toml, one
sentence each on what they try); `grade validate` (tests/test_exercises.py) proves that each fails and
scores at most 10%. Here: the run-time walls hold on their own (gate off), a correct solution
that shares words with a forbidden API passes, and values that prove nothing earn nothing.
"""
from __future__ import annotations

import fnmatch
import math
from pathlib import Path

import pytest
import torch

from grader import constraints, credit, harness_tests, mistakes
from grader.compare import Mismatch, assert_close
from grader.discovery import load_exercise
from grader.gradcheck import check_directional_derivatives
from grader.runner import grade_exercise
from grader.session import Settings
from grader.validate import mistakes_of
from tests.conftest import REPO

LINEAR = load_exercise(REPO / "exercises" / "35_linear_layer")
ATTENTION = load_exercise(REPO / "exercises" / "17_self_attention")


def attack(exercise, name: str, folder: Path) -> Path:
    mistake = next(m for m in mistakes_of(exercise) if m.name == name)
    return mistakes.write(mistake, REPO / "solutions" / f"{exercise.id}.py", folder)


def test_forbidden_operator_patterns_match_as_fnmatch_does():
    """Each traced request's operator names are judged by one compiled expression of the glob patterns."""
    patterns = ("aten::*conv[123]d*", "aten::linear", "aten::_ctc_loss*")
    names = ["aten::conv2d", "aten::_convolution", "aten::mkldnn_conv1d_x", "aten::conv4d", "aten::linear",
             "aten::linear_backward", "aten::_ctc_loss_backward", "aten::ctc_loss", "ATEN::linear", "xaten::linear",
             "aten::addmm", "grader-canary-start-abc"]
    assert [n for n in names if constraints._matcher(patterns)(n)] == [
        n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)] == [
        "aten::conv2d", "aten::mkldnn_conv1d_x", "aten::linear", "aten::_ctc_loss_backward"]
    assert not constraints._matcher(())("aten::linear")


# -- the second and third walls, with the static gate off ------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("exercise, name, words", [
    (LINEAR, "indirect_torch_ops_linear", "ran aten::linear"),
    (LINEAR, "indirect_rot13_attrgetter", "ForbiddenAPIError"),
    (ATTENTION, "indirect_aten_sdpa_math", "ran aten::_scaled_dot_product_attention_math"),
    (ATTENTION, "indirect_profiler_off", "trace was switched off"),
])
def test_runtime_walls_catch_indirect_routes_without_the_gate(context, tmp_path, exercise, name, words):
    context.settings = Settings(screen=False, select=f"test_output_shape_and_dtype or {harness_tests.TEST_NAME}")
    result = grade_exercise(exercise, context, attack(exercise, name, tmp_path))
    test = next(t for t in result.tests if t.name.startswith("test_output_shape_and_dtype"))
    assert test.status == "error" and words in test.message, test.message
    harness = next(t for t in result.tests if t.name == harness_tests.TEST_NAME)
    assert harness.status == "fail" and result.score == 0


@pytest.mark.slow
def test_the_gate_refuses_without_running(context, tmp_path):
    result = grade_exercise(LINEAR, context, attack(LINEAR, "indirect_torch_ops_linear", tmp_path))
    assert result.score == 0 and all(t.status in ("fail", "error") for t in result.tests)
    assert all("was not run" in t.message for t in result.tests if t.name != harness_tests.TEST_NAME)
    assert result.duration < 15, "a refused file should not spend workers"


@pytest.mark.slow
def test_a_correct_solution_sharing_words_with_the_api_passes(context):
    path = REPO / "tests" / "alternatives" / "35_linear_layer" / "local_named_linear.py"
    result = grade_exercise(LINEAR, context, path)
    assert result.status == "pass", [(t.name, t.message) for t in result.tests if t.status != "pass"]


# -- no value, no points ------------------------------------------------------------------------
def test_two_nans_never_match_unless_the_expectation_is_trusted():
    nan = torch.tensor([float("nan"), 1.0], dtype=torch.float64)
    with pytest.raises(Mismatch):
        assert_close(nan, nan.clone(), "candidate vs candidate")
    inf = torch.tensor([float("-inf"), 1.0], dtype=torch.float64)
    with pytest.raises(Mismatch):
        assert_close(inf, inf.clone())
    assert_close(inf, inf.clone(), "a float mask vs its trusted form", nonfinite_ok=True)
    with pytest.raises(Mismatch):
        assert_close(torch.tensor([0.0, 1.0], dtype=torch.float64), inf, nonfinite_ok=True)


def _directional(forward, grads):
    point = {"x": torch.randn(3, dtype=torch.float64)}
    check_directional_derivatives(forward, point, grads(point), torch.ones(3, dtype=torch.float64),
                                  torch.Generator().manual_seed(0))


def test_finite_differences_fail_on_nan_gradients_and_on_a_constant():
    with pytest.raises(Mismatch, match="directional derivative"):
        _directional(lambda p: p["x"] * 2, lambda p: {"x": torch.full((3,), math.nan, dtype=torch.float64)})
    with pytest.raises(Mismatch, match="does not depend"):
        _directional(lambda p: torch.zeros(3, dtype=torch.float64), lambda p: {"x": torch.zeros(3, dtype=torch.float64)})
    _directional(lambda p: p["x"] * 2, lambda p: {"x": torch.full((3,), 2.0, dtype=torch.float64)})


def test_without_a_passing_value_test_nothing_is_credited():
    from grader.results import ExerciseResult, TestResult

    def result(*statuses):
        tests = [TestResult(f"t{i}", f"t{i}", c, s, points=1.0, earned=1.0 * (s == "pass"))
                 for i, (c, s) in enumerate(statuses)]
        return ExerciseResult("x", "x", "x", "easy", "s.py", tests=tests)

    constant = result(("shape", "pass"), ("equivalence", "fail"), ("property", "pass"), ("constraints", "pass"))
    credit.apply(constant)
    assert constant.score == 0 and all(t.message == credit.NOT_CREDITED for t in constant.tests if t.category != "equivalence")
    partly = result(("shape", "pass"), ("equivalence", "fail"), ("equivalence", "pass"), ("property", "pass"))
    credit.apply(partly)
    assert partly.score == 3
