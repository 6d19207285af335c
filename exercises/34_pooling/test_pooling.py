"""Suite for 34_pooling: max_pool2d (values, indices, dilation, ceil_mode, -inf padding) and
avg_pool2d (count_include_pad, ceil_mode, divisor_override) against F.max_pool2d / F.avg_pool2d
and the reference, their gradients (routing to the maximum; ties to the first maximum), and the
properties of pooling windows.

`candidate` is the submission in a sandboxed worker; `reference` runs here. torch's functions are
the oracles (values, indices and autograd gradients, float64).
"""
from dataclasses import dataclass, replace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import generator

f64 = torch.float64
data_seeds = st.integers(0, 2**32 - 1)


# -- configurations ----------------------------------------------------------------------------
def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def int_or_pair(lo: int, hi: int, hi_w: int | None = None):
    """An int (same for height and width) or a (height, width) tuple: both forms are graded."""
    hi_w = hi if hi_w is None else hi_w
    return st.one_of(st.integers(lo, min(hi, hi_w)), st.tuples(st.integers(lo, hi), st.integers(lo, hi_w)))


def out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's rule: floor (or ceil) of the slide / stride, plus one; in ceil_mode a last window
    that would start in the right padding is dropped."""
    room = size + 2 * p - d * (k - 1) - 1
    out = (room + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


@dataclass(frozen=True)
class Pool:
    """One call on x (N, C, H, W). kind: 'max' or 'avg'."""

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
    data_seed: int = 0

    @property
    def kwargs(self) -> dict:
        common = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                  "ceil_mode": self.ceil_mode}
        if self.kind == "max":
            return {**common, "dilation": self.dilation}
        return {**common, "count_include_pad": self.count_include_pad, "divisor_override": self.divisor_override}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.kind}_pool2d(x {(self.N, self.C, self.H, self.W)}, {args})"

    def x(self, dtype=f64, g: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(self.N, self.C, self.H, self.W, generator=g or generator(self.data_seed), dtype=dtype)

    def dims(self):
        """Per dim: (size, kernel, stride, padding, dilation)."""
        k = pair(self.kernel_size)
        s = k if self.stride is None else pair(self.stride)
        d = pair(self.dilation) if self.kind == "max" else (1, 1)
        return list(zip((self.H, self.W), k, s, pair(self.padding), d))

    def every_window_sees_input(self) -> bool:
        """False when some (dilated) window holds only padding: torch does not handle those
        (its kernels may read out of bounds), so they are never tested."""
        for size, k, s, p, d in self.dims():
            for i in range(out_size(size, k, s, p, d, self.ceil_mode)):
                if not any(0 <= i * s - p + j * d < size for j in range(k)):
                    return False
        return True


@st.composite
def pools(draw, kind: str, ceil_mode=st.booleans(), dilation=int_or_pair(1, 2), padded: bool = False):
    """Random calls; padded=True: kernels of 2 or 3 with padding >= 1 on both dims."""
    kernel = draw(int_or_pair(2 if padded else 1, 3), label="kernel_size")
    kH, kW = pair(kernel)
    stride = draw(st.one_of(st.none(), int_or_pair(1, 3)), label="stride")
    padding = draw(int_or_pair(int(padded), kH // 2, kW // 2), label="padding")  # torch: at most half the kernel
    dil = draw(dilation, label="dilation") if kind == "max" else 1
    (dH, dW), (pH, pW) = pair(dil), pair(padding)
    H = max(1, dH * (kH - 1) + 1 - 2 * pH) + draw(st.integers(0, 5), label="extra H")
    W = max(1, dW * (kW - 1) + 1 - 2 * pW) + draw(st.integers(0, 5), label="extra W")
    cfg = Pool(kind, draw(st.integers(1, 2), label="N"), draw(st.integers(1, 3), label="C"), H, W, kernel, stride,
               padding, dil, draw(ceil_mode, label="ceil_mode"), data_seed=draw(data_seeds, label="data_seed"))
    if kind == "avg":
        cfg = replace(cfg, count_include_pad=draw(st.booleans(), label="count_include_pad"),
                      divisor_override=draw(st.one_of(st.none(), st.none(), st.integers(1, 9)), label="divisor_override"))
    assume(cfg.every_window_sees_input())
    return cfg


def oracle(cfg: Pool, x: torch.Tensor, return_indices: bool = False):
    with torch.no_grad():
        if cfg.kind == "max":
            return F.max_pool2d(x, **cfg.kwargs, return_indices=return_indices)
        return F.avg_pool2d(x, **cfg.kwargs)


def oracle_grad(cfg: Pool, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    leaf = x.clone().requires_grad_()
    fn = F.max_pool2d if cfg.kind == "max" else F.avg_pool2d
    fn(leaf, **cfg.kwargs).backward(grad_out)
    return leaf.grad


def call(candidate, cfg: Pool, x: torch.Tensor, **extra):
    fn = candidate.max_pool2d if cfg.kind == "max" else candidate.avg_pool2d
    return fn(x, **cfg.kwargs, **extra)


def values_and_indices(result, cfg: Pool) -> tuple:
    """max_pool2d(..., return_indices=True) must return a pair (values, indices)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Mismatch(f"{cfg.describe()} with return_indices=True must return (values, indices); got "
                       f"{type(result).__name__}")
    return tuple(result)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(cfg=pools("max"), return_indices=st.booleans())
def test_max_pool_output_shape(candidate, cfg, return_indices):
    """(N, C, H_out, W_out), H_out = floor((H + 2p - d(k-1) - 1 [+ s-1 in ceil_mode]) / s) + 1, minus the
    last window if it would start in the right padding; stride defaults to kernel_size; indices int64."""
    x = cfg.x(torch.float32)
    expected = oracle(cfg, x).shape
    got = call(candidate, cfg, x, return_indices=return_indices)
    if return_indices:
        got, indices = values_and_indices(got, cfg)
        assert_shape(indices, expected, f"indices of {cfg.describe()}", dtype=torch.int64)
    assert_finite(assert_shape(got, expected, f"output of {cfg.describe()}", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@given(cfg=pools("avg"))
def test_avg_pool_output_shape(candidate, cfg):
    x = cfg.x(torch.float32)
    got = assert_shape(call(candidate, cfg, x), oracle(cfg, x).shape, f"output of {cfg.describe()}", dtype=torch.float32)
    assert_finite(got, "output")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(cfg=pools("max"))
def test_max_pool_matches_torch(candidate, cfg):
    x = cfg.x()
    assert_close(call(candidate, cfg, x), oracle(cfg, x), f"output vs F.max_pool2d for {cfg.describe()}")


@pytest.mark.category("equivalence")
@given(cfg=pools("max"))
def test_max_pool_indices_match_torch(candidate, cfg):
    """Indices are flat positions h * W + w into each (H, W) plane of the unpadded input."""
    x = cfg.x()
    values, indices = values_and_indices(call(candidate, cfg, x, return_indices=True), cfg)
    expected_values, expected_indices = oracle(cfg, x, return_indices=True)
    assert_close(values, expected_values, f"values vs F.max_pool2d for {cfg.describe()}")
    assert_equal(indices, expected_indices, f"indices vs F.max_pool2d for {cfg.describe()} (flat h * W + w "
                 f"in the unpadded {cfg.H}x{cfg.W} input plane)")


@pytest.mark.category("equivalence")
@given(cfg=pools("avg"))
def test_avg_pool_matches_torch(candidate, cfg):
    x = cfg.x()
    assert_close(call(candidate, cfg, x), oracle(cfg, x), f"output vs F.avg_pool2d for {cfg.describe()}")


@pytest.mark.category("equivalence")
@given(cfg=st.one_of(pools("max"), pools("avg")))
def test_matches_reference(candidate, reference, cfg):
    x = cfg.x()
    with torch.no_grad():
        fn = reference.max_pool2d if cfg.kind == "max" else reference.avg_pool2d
        expected = fn(x, **cfg.kwargs)
    assert_close(call(candidate, cfg, x), expected, f"output vs reference for {cfg.describe()}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(cfg=pools("max"))
def test_max_pool_gradient_matches_torch(candidate, cfg):
    """The gradient of each output goes to the input element that was its maximum, and adds up
    where overlapping windows share a maximum."""
    x = cfg.x()
    grad_out = torch.randn(oracle(cfg, x).shape, generator=generator(cfg.data_seed + 1), dtype=f64)
    got = candidate.lib.grads(candidate.max_pool2d, [x], cfg.kwargs, grad_out)
    if got["input_grads"][0] is None:
        raise Mismatch(f"gradient w.r.t. x: none reached it (detached, no_grad or computed outside torch?) "
                       f"for {cfg.describe()}")
    assert_close(got["input_grads"][0], oracle_grad(cfg, x, grad_out), f"gradient w.r.t. x vs F.max_pool2d "
                 f"for {cfg.describe()}")


@pytest.mark.category("gradient")
@given(cfg=pools("avg"))
def test_avg_pool_gradient_matches_torch(candidate, cfg):
    x = cfg.x()
    grad_out = torch.randn(oracle(cfg, x).shape, generator=generator(cfg.data_seed + 1), dtype=f64)
    got = candidate.lib.grads(candidate.avg_pool2d, [x], cfg.kwargs, grad_out)
    if got["input_grads"][0] is None:
        raise Mismatch(f"gradient w.r.t. x: none reached it (detached, no_grad or computed outside torch?) "
                       f"for {cfg.describe()}")
    assert_close(got["input_grads"][0], oracle_grad(cfg, x, grad_out), f"gradient w.r.t. x vs F.avg_pool2d "
                 f"for {cfg.describe()}")


FD_CASES = [
    Pool("max", 2, 2, 7, 6, (3, 2), (2, 1), (1, 1), (1, 2), True, data_seed=11),
    Pool("avg", 2, 2, 7, 6, 3, 2, 1, ceil_mode=True, count_include_pad=False, data_seed=12),
    Pool("avg", 1, 3, 6, 5, (2, 3), 1, (1, 1), ceil_mode=False, count_include_pad=True, data_seed=13),
]


@pytest.mark.category("gradient")
@pytest.mark.parametrize("cfg", FD_CASES, ids=["max-dilated-ceil", "avg-ceil-exclude-pad", "avg-overlapping"])
def test_gradients_match_finite_differences(candidate, seed, cfg):
    g = generator(seed * 100 + cfg.data_seed)
    x = cfg.x(g=g)
    grad_out = torch.randn(oracle(cfg, x).shape, generator=g, dtype=f64)
    fn = candidate.max_pool2d if cfg.kind == "max" else candidate.avg_pool2d
    got = candidate.lib.grads(fn, [x], cfg.kwargs, grad_out)
    if got["input_grads"][0] is None:
        raise Mismatch(f"no gradient reached x for {cfg.describe()} (detached, no_grad or computed outside torch?)")
    check_directional_derivatives(lambda point: call(candidate, cfg, point["x"]), {"x": x},
                                  {"x": got["input_grads"][0]}, grad_out, g)


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(cfg=pools("max", padded=True))
def test_padding_never_wins_the_max(candidate, cfg):
    """On an input whose values are all negative, border windows must still return an input value:
    max-pool padding is -inf, not 0."""
    x = -1.0 - cfg.x().abs()  # every value <= -1
    assert_close(call(candidate, cfg, x), oracle(cfg, x), f"output of {cfg.describe()} on an all-negative input "
                 "(zero padding would give 0 at the border; padding must be -inf)")


@pytest.mark.category("property")
@given(cfg=pools("max"), levels=st.integers(2, 3))
def test_ties_go_to_the_first_maximum(candidate, cfg, levels):
    """With many equal values, the index (and the whole gradient) of each window goes to its FIRST
    maximum in row-major window order, as F.max_pool2d does (torch.max(dim) and argmax also pick the
    first; amax would split the gradient among the tied elements)."""
    g = generator(cfg.data_seed)
    x = torch.randint(levels, (cfg.N, cfg.C, cfg.H, cfg.W), generator=g).to(f64)  # few distinct values
    _, indices = values_and_indices(call(candidate, cfg, x, return_indices=True), cfg)
    expected_values, expected_indices = oracle(cfg, x, return_indices=True)
    assert_equal(indices, expected_indices, f"indices of {cfg.describe()} on an input of integers in [0, {levels}) "
                 "(ties: the first maximum in row-major window order)")
    grad_out = torch.randn(expected_values.shape, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.max_pool2d, [x], cfg.kwargs, grad_out)["input_grads"][0]
    if got is None:
        raise Mismatch(f"gradient w.r.t. x: none reached it for {cfg.describe()}")
    assert_close(got, oracle_grad(cfg, x, grad_out), f"gradient w.r.t. x of {cfg.describe()} on an input with ties "
                 "(each window's gradient goes whole to its first maximum)")


@pytest.mark.category("property")
@given(cfg=pools("max"))
def test_indices_point_at_the_maxima(candidate, cfg):
    """Gathering the input at the returned indices gives back the returned values (exactly)."""
    x = cfg.x()
    values, indices = values_and_indices(call(candidate, cfg, x, return_indices=True), cfg)
    values = assert_shape(values, oracle(cfg, x).shape, f"values of {cfg.describe()}")
    indices = assert_shape(indices, values.shape, f"indices of {cfg.describe()}", dtype=torch.int64)
    plane = cfg.H * cfg.W
    if ((indices < 0) | (indices >= plane)).any():
        bad = indices[(indices < 0) | (indices >= plane)]
        raise Mismatch(f"indices of {cfg.describe()} must lie in [0, H*W = {plane}) (positions in the unpadded "
                       f"input plane); got values such as {bad[:5].tolist()}")
    gathered = x.flatten(2).gather(2, indices.flatten(2)).view_as(values)
    assert_equal(gathered, values, f"x at your indices vs your values for {cfg.describe()}")


@pytest.mark.category("property")
@given(cfg=pools("avg").filter(lambda c: c.divisor_override is None), level=st.floats(-3, 3).filter(bool))
def test_average_of_a_constant_image(candidate, cfg, level):
    """Averaging a constant image c gives c wherever every counted position holds c: everywhere with
    count_include_pad=False, and with no padding also in ceil_mode (the overhang beyond the input
    is never counted). With count_include_pad=True and padding, border windows give c * real/counted."""
    x = torch.full((cfg.N, cfg.C, cfg.H, cfg.W), level, dtype=f64)
    got = assert_shape(call(candidate, cfg, x), oracle(cfg, x).shape, f"output of {cfg.describe()}")
    assert_close(got, oracle(cfg, x), f"average of a constant image ({level:g}) by {cfg.describe()}")
    if not cfg.count_include_pad or pair(cfg.padding) == (0, 0):
        assert_close(got, torch.full_like(got, level), f"average of a constant image ({level:g}) by "
                     f"{cfg.describe()}: every window must divide by the positions it counted")


@pytest.mark.category("property")
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_does_not_modify_its_input(candidate, seed, kind):
    cfg = Pool(kind, 2, 3, 6, 5, 3, 2, 1, ceil_mode=True, data_seed=seed)
    x = cfg.x(torch.float32)
    fn = candidate.max_pool2d if kind == "max" else candidate.avg_pool2d
    _, args_after, _ = fn.call_checked(x, **cfg.kwargs)
    assert_unchanged(args_after[0], x, f"x after {kind}_pool2d (modified in place)")
