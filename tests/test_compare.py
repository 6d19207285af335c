"""grader.compare and grader.tolerances: verdicts, and messages that say what, how much and where."""
import pytest
import torch

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape
from grader.tolerances import EXACT, TABLE, tolerance_for


def test_equal_values_pass_and_tiny_float64_noise_passes():
    x = torch.randn(3, 4, dtype=torch.float64)
    assert_close(x + 1e-13 * x, x)


def test_mismatch_names_quantity_worst_error_where_and_tolerance():
    expected = torch.zeros(2, 3, 4, dtype=torch.float64)
    actual = expected.clone()
    actual[1, 2, 3] = 0.5
    actual[0, 0, 0] = 1e-3
    with pytest.raises(Mismatch) as info:
        assert_close(actual, expected, "attention output")
    msg, d = str(info.value), info.value.diagnostics
    assert "attention output" in msg and "[1, 2, 3]" in msg and "rtol=1e-07" in msg and "float64" in msg
    assert d["max_abs_at"] == [1, 2, 3] and d["mismatched"] == 2 and d["max_abs_error"] == pytest.approx(0.5)
    assert d["first_bad_at"] == [0, 0, 0] and d["heatmap"]["fixed_index"] == [1]


def test_where_mask_excludes_elements():
    expected = torch.zeros(2, 3, dtype=torch.float64)
    actual = expected.clone()
    actual[1] = float("nan")
    assert_close(actual, expected, where=torch.tensor([[True], [False]]))
    with pytest.raises(Mismatch, match="1 of 3|3 of 6"):
        assert_close(actual, expected)


def test_nan_where_finite_expected_fails():
    with pytest.raises(Mismatch):
        assert_close(torch.tensor([float("nan")], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64))


def test_shape_dtype_and_type_are_checked_first():
    with pytest.raises(Mismatch, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        assert_close(torch.zeros(3, 2), torch.zeros(2, 3))
    with pytest.raises(Mismatch, match="dtype"):
        assert_close(torch.zeros(2), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(Mismatch, match="expected a tensor, got list"):
        assert_shape([1, 2], (2,))


def test_assert_equal_is_exact_and_assert_finite_points_at_the_first_bad_value():
    with pytest.raises(Mismatch):
        assert_equal(torch.tensor([1.0 + 1e-7]), torch.tensor([1.0]))
    with pytest.raises(Mismatch, match=r"first at \[1\]"):
        assert_finite(torch.tensor([0.0, float("inf")]))


def test_one_tolerance_table():
    assert tolerance_for(torch.float64) is TABLE[torch.float64]
    assert tolerance_for(torch.int64) is EXACT
    assert TABLE[torch.float64].rtol < TABLE[torch.float32].rtol < TABLE[torch.bfloat16].rtol
