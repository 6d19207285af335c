"""Suite for 34_pooling: max_pool2d (values, indices, dilation, ceil_mode, -inf padding) and avg_pool2d
(count_include_pad, ceil_mode, divisor_override) vs F.max_pool2d / F.avg_pool2d (values, indices, autograd
gradients, float64) and the reference; finite differences; ties to the first maximum; properties of the windows."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, strategies as st

from grader import kit
from grader.kit import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases, pair


def int_or_pair(lo: int, hi: int, hi_w: int | None = None):
    """An int (both dims) or a (height, width) tuple; hi_w: the width's bound when it differs."""
    hi_w = hi if hi_w is None else hi_w
    return st.one_of(st.integers(lo, min(hi, hi_w)), st.tuples(st.integers(lo, hi), st.integers(lo, hi_w)))


class Pool(kit.Case):
    """One call on x (N, C, H, W) ~ N(0, 1). kind: 'max' or 'avg'."""

    kind: str
    N: int
    C: int
    H: int
    W: int
    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None
    data_seed: int = dataclasses.field(default=0, kw_only=True)  # seeds case.generator()

    @property
    def kwargs(self) -> dict:
        common = dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode)
        return {**common, **(dict(dilation=self.dilation) if self.kind == "max" else dict(
            count_include_pad=self.count_include_pad, divisor_override=self.divisor_override))}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.kind}_pool2d(x {(self.N, self.C, self.H, self.W)}, {args}), data_seed={self.data_seed}"

    def x(self, dtype=f64, g=None) -> torch.Tensor:
        return torch.randn(self.N, self.C, self.H, self.W, generator=g or self.generator(), dtype=dtype)

    def fn(self, lib):
        """max_pool2d or avg_pool2d of `lib`: the candidate, the reference or F (torch's, the oracle)."""
        return lib.max_pool2d if self.kind == "max" else lib.avg_pool2d

    def oracle(self, x, **extra):
        with torch.no_grad():
            return self.fn(F)(x, **self.kwargs, **extra)

    def every_window_sees_input(self) -> bool:
        """False when some (dilated) window holds only padding: torch does not handle those, so they are not tested."""
        k = pair(self.kernel_size)
        for size, k, s, p, d in zip((self.H, self.W), k, k if self.stride is None else pair(self.stride),
                                    pair(self.padding), pair(self.dilation) if self.kind == "max" else (1, 1)):
            out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if self.ceil_mode else 0)) // s + 1
            out -= int(self.ceil_mode and (out - 1) * s >= size + p)  # a last window starting in the padding is dropped
            if any(not any(0 <= i * s - p + j * d < size for j in range(k)) for i in range(out)):
                return False
        return True


@st.composite
def pools(draw, kind: str, ceil_mode=st.booleans(), padded: bool = False):
    """Random calls; padded=True: kernels of 2 or 3 with padding >= 1 on both dims."""
    kernel = draw(int_or_pair(2 if padded else 1, 3), label="kernel_size")
    (kH, kW), stride = pair(kernel), draw(st.one_of(st.none(), int_or_pair(1, 3)), label="stride")
    padding = draw(int_or_pair(int(padded), kH // 2, kW // 2), label="padding")  # torch: at most half the kernel
    dil = draw(int_or_pair(1, 2), label="dilation") if kind == "max" else 1
    H, W = (max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 5)) for k, d, p in zip(pair(kernel), pair(dil),
                                                                                            pair(padding)))
    cfg = Pool(kind, draw(st.integers(1, 2), label="N"), draw(st.integers(1, 3), label="C"), H, W, kernel, stride,
               padding, dil, draw(ceil_mode, label="ceil_mode"), data_seed=draw(kit.data_seeds, label="data_seed"))
    if kind == "avg":
        cfg = cfg.replace(count_include_pad=draw(st.booleans(), label="count_include_pad"),
                          divisor_override=draw(st.one_of(st.none(), st.none(), st.integers(1, 9)), label="divisor"))
    assume(cfg.every_window_sees_input())
    return cfg


def values_and_indices(candidate, case, x) -> tuple:
    """max_pool2d(..., return_indices=True) must return a pair (values, indices)."""
    result = candidate.max_pool2d(x, **case.kwargs, return_indices=True)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Mismatch(f"max_pool2d(return_indices=True) must return (values, indices); got {type(result).__name__}")
    return tuple(result)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(pools("max"), return_indices=st.booleans())
def test_max_pool_output_shape(candidate, case, return_indices):
    x = case.x(torch.float32)
    got = values_and_indices(candidate, case, x) if return_indices else (candidate.max_pool2d(x, **case.kwargs),)
    if return_indices:
        assert_shape(got[1], case.oracle(x).shape, "indices", dtype=torch.int64)
    assert_finite(assert_shape(got[0], case.oracle(x).shape, "output", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@given_cases(pools("avg"))
def test_avg_pool_output_shape(candidate, case):
    x = case.x(torch.float32)
    assert_finite(assert_shape(candidate.avg_pool2d(x, **case.kwargs), case.oracle(x).shape, "output",
                               dtype=torch.float32), "output")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(pools("max"))
def test_max_pool_matches_torch(candidate, case):
    assert_close(candidate.max_pool2d(case.x(), **case.kwargs), case.oracle(case.x()), "output vs F.max_pool2d")


@pytest.mark.category("equivalence")
@given_cases(pools("max"))
def test_max_pool_indices_match_torch(candidate, case):
    (values, indices), (want_values, want_indices) = values_and_indices(candidate, case, case.x()), case.oracle(
        case.x(), return_indices=True)
    assert_close(values, want_values, "values vs F.max_pool2d")
    assert_equal(indices, want_indices, f"indices vs F.max_pool2d (flat h * W + w in the unpadded {case.H}x{case.W})")


@pytest.mark.category("equivalence")
@given_cases(pools("avg"))
def test_avg_pool_matches_torch(candidate, case):
    assert_close(candidate.avg_pool2d(case.x(), **case.kwargs), case.oracle(case.x()), "output vs F.avg_pool2d")


@pytest.mark.category("equivalence")
@given_cases(st.one_of(pools("max"), pools("avg")))
def test_matches_reference(candidate, reference, case):
    with torch.no_grad():
        expected = case.fn(reference)(case.x(), **case.kwargs)
    assert_close(case.fn(candidate)(case.x(), **case.kwargs), expected, "output vs reference")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(pools("max"))
def test_max_pool_gradient_matches_torch(candidate, case):
    kit.check_gradients(candidate, candidate.max_pool2d, F.max_pool2d, {"x": case.x()}, case.kwargs,
                        g=case.generator(1))


@pytest.mark.category("gradient")
@given_cases(pools("avg"))
def test_avg_pool_gradient_matches_torch(candidate, case):
    kit.check_gradients(candidate, candidate.avg_pool2d, F.avg_pool2d, {"x": case.x()}, case.kwargs,
                        g=case.generator(1))


@pytest.mark.category("gradient")
@pytest.mark.parametrize("case", [Pool("max", 2, 2, 7, 6, (3, 2), (2, 1), (1, 1), (1, 2), True, data_seed=11),
                                  Pool("avg", 2, 2, 7, 6, 3, 2, 1, True, False, data_seed=12),
                                  Pool("avg", 1, 3, 6, 5, (2, 3), 1, (1, 1), count_include_pad=True, data_seed=13)],
                         ids=["max-dilated-ceil", "avg-ceil-exclude-pad", "avg-overlapping"])
def test_gradients_match_finite_differences(candidate, seed, case):
    g = kit.generator(seed * 100 + case.data_seed)
    with kit.about(case):
        kit.check_finite_differences(candidate, case.fn(candidate), {"x": case.x(g=g)}, case.kwargs, g=g)


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(pools("max", padded=True))
def test_padding_never_wins_the_max(candidate, case):
    """On an all-negative input border windows still return an input value: max-pool padding is -inf, not 0."""
    x = -1.0 - case.x().abs()  # every value <= -1
    assert_close(candidate.max_pool2d(x, **case.kwargs), case.oracle(x), "output on an all-negative input")


@pytest.mark.category("property")
@given_cases(pools("max"), levels=st.integers(2, 3))
def test_ties_go_to_the_first_maximum(candidate, case, levels):
    """On integers in [0, levels): index and gradient go to the FIRST maximum in row-major window order."""
    g = case.generator()
    x = torch.randint(levels, (case.N, case.C, case.H, case.W), generator=g).to(f64)  # few distinct values
    assert_equal(values_and_indices(candidate, case, x)[1], case.oracle(x, return_indices=True)[1],
                 "indices on an input with ties (the first maximum in row-major window order)")
    kit.check_gradients(candidate, candidate.max_pool2d, F.max_pool2d, {"x": x}, case.kwargs, g=g)


@pytest.mark.category("property")
@given_cases(pools("max"))
def test_indices_point_at_the_maxima(candidate, case):
    x = case.x()
    values, indices = values_and_indices(candidate, case, x)
    values = assert_shape(values, case.oracle(x).shape, "values")
    indices = assert_shape(indices, values.shape, "indices", dtype=torch.int64)
    bad = indices[(indices < 0) | (indices >= case.H * case.W)]
    assert not len(bad), f"indices must lie in [0, H*W = {case.H * case.W}) (unpadded plane); got {bad[:5].tolist()}"
    assert_equal(x.flatten(2).gather(2, indices.flatten(2)).view_as(values), values, "x at your indices vs your values")


@pytest.mark.category("property")
@given_cases(pools("avg").filter(lambda c: c.divisor_override is None), level=st.floats(-3, 3).filter(bool))
def test_average_of_a_constant_image(candidate, case, level):
    """c wherever every counted position holds c: count_include_pad=False, or no padding (ceil_mode too)."""
    x = torch.full((case.N, case.C, case.H, case.W), level, dtype=f64)
    got = candidate.avg_pool2d(x, **case.kwargs)
    assert_close(got, case.oracle(x), f"average of a constant image ({level:g})")
    if not case.count_include_pad or pair(case.padding) == (0, 0):
        assert_close(got, torch.full_like(got, level), f"average of a constant image ({level:g}): every window must "
                     "divide by the positions it counted")


@pytest.mark.category("property")
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_does_not_modify_its_input(candidate, seed, kind):
    case = Pool(kind, 2, 3, 6, 5, 3, 2, 1, ceil_mode=True, data_seed=seed)
    kit.assert_inputs_unchanged(case.fn(candidate), {"x": case.x(torch.float32)}, case.kwargs, f"{kind}_pool2d")
