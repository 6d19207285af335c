"""Suite for 33_conv2d: conv2d(x, weight, bias, stride, padding, dilation, groups) against F.conv2d
and the reference over every argument (int and tuple forms, 'same'/'valid' padding), gradients
w.r.t. x, weight and bias, a tiny CNN that must learn, and the properties of a convolution.

`candidate` is the submission in a sandboxed worker; `reference` runs here. F.conv2d is the oracle
(values and autograd gradients, float64).
"""
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader import training
from grader.compare import Mismatch, assert_close, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import exercise_support, generator, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
data_seeds = st.integers(0, 2**32 - 1)


# -- configurations ----------------------------------------------------------------------------
def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def int_or_pair(lo: int, hi: int):
    """An int (same for height and width) or a (height, width) tuple: both forms are graded."""
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


@dataclass(frozen=True)
class Conv:
    """One call: x (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias (C_out,) or None."""

    N: int
    C_in: int
    C_out: int
    H: int
    W: int
    kernel: tuple[int, int]
    stride: object
    padding: object
    dilation: object
    groups: int
    bias: bool
    data_seed: int

    @property
    def kwargs(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}

    def describe(self) -> str:
        return (f"x {(self.N, self.C_in, self.H, self.W)}, weight {(self.C_out, self.C_in // self.groups, *self.kernel)}, "
                f"bias={'yes' if self.bias else 'None'}, stride={self.stride!r}, padding={self.padding!r}, "
                f"dilation={self.dilation!r}, groups={self.groups}")

    def tensors(self, dtype=f64, g: torch.Generator | None = None):
        """x, weight, bias: weights ~ N(0, 1/fan_in) so outputs are O(1); bias ~ N(0, 0.5^2)."""
        g = g or generator(self.data_seed)
        fan_in = self.C_in // self.groups * self.kernel[0] * self.kernel[1]
        x = torch.randn(self.N, self.C_in, self.H, self.W, generator=g, dtype=dtype)
        w = torch.randn(self.C_out, self.C_in // self.groups, *self.kernel, generator=g, dtype=dtype) / math.sqrt(fan_in)
        b = 0.5 * torch.randn(self.C_out, generator=g, dtype=dtype) if self.bias else None
        return x, w, b


def min_size(kernel: int, dilation: int, padding: int) -> int:
    """The smallest input size a dilated kernel fits into once padded (at least 1)."""
    return max(1, dilation * (kernel - 1) + 1 - 2 * padding)


@st.composite
def convs(draw, groups=st.integers(1, 3), padding=int_or_pair(0, 2), stride=int_or_pair(1, 3),
          dilation=int_or_pair(1, 2), bias=st.booleans()):
    G = draw(groups, label="groups")
    C_in, C_out = G * draw(st.integers(1, 3)), G * draw(st.integers(1, 3))
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), label="kernel")
    s, p, d = draw(stride, label="stride"), draw(padding, label="padding"), draw(dilation, label="dilation")
    numeric_p = pair(p) if not isinstance(p, str) else (0, 0)
    H, W = (min_size(k, dd, pp) + draw(st.integers(0, 4)) for k, dd, pp in zip(kernel, pair(d), numeric_p))
    return Conv(draw(st.integers(1, 2), label="N"), C_in, C_out, H, W, kernel, s, p, d, G,
                draw(bias, label="bias"), draw(data_seeds, label="data_seed"))


def oracle(x, w, b, cfg: Conv) -> torch.Tensor:
    with torch.no_grad():
        return F.conv2d(x, w, b, **cfg.kwargs)


def oracle_grads(x, w, b, cfg: Conv, grad_out) -> dict:
    leaves = {"x": x, "weight": w, "bias": b}
    leaves = {k: v.clone().requires_grad_() for k, v in leaves.items() if v is not None}
    F.conv2d(leaves["x"], leaves["weight"], leaves.get("bias"), **cfg.kwargs).backward(grad_out)
    return {k: v.grad for k, v in leaves.items()}


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(cfg=convs())
def test_output_shape_and_dtype(candidate, cfg):
    """(N, C_out, H_out, W_out) with H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1; dtype of x."""
    x, w, b = cfg.tensors(torch.float32)
    expected = F.conv2d(x, w, b, **cfg.kwargs).shape
    y = assert_shape(candidate.conv2d(x, w, b, **cfg.kwargs), expected, f"output for {cfg.describe()}",
                     dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@given(cfg=convs(padding=st.sampled_from(["same", "valid"]), stride=st.just(1)))
def test_padding_strings_shape(candidate, cfg):
    """padding='same' keeps (H, W) (stride 1); 'valid' means no padding."""
    x, w, b = cfg.tensors(torch.float32)
    expected = F.conv2d(x, w, b, **cfg.kwargs).shape
    assert_shape(candidate.conv2d(x, w, b, **cfg.kwargs), expected, f"output for {cfg.describe()}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(cfg=convs())
def test_matches_torch_conv2d(candidate, cfg):
    x, w, b = cfg.tensors()
    assert_close(candidate.conv2d(x, w, b, **cfg.kwargs), oracle(x, w, b, cfg),
                 f"output vs F.conv2d for {cfg.describe()}")


@pytest.mark.category("equivalence")
@given(cfg=convs())
def test_matches_reference(candidate, reference, cfg):
    x, w, b = cfg.tensors()
    with torch.no_grad():
        expected = reference.conv2d(x, w, b, **cfg.kwargs)
    assert_close(candidate.conv2d(x, w, b, **cfg.kwargs), expected, f"output vs reference for {cfg.describe()}")


@pytest.mark.category("equivalence")
@given(cfg=convs(padding=st.sampled_from(["same", "valid"]), stride=st.just(1), dilation=int_or_pair(1, 3)))
def test_padding_strings_match_torch(candidate, cfg):
    """'same' pads d*(k-1) in total per dim; when that is odd the extra row/column goes at the
    bottom/right (even kernels), exactly as F.conv2d."""
    x, w, b = cfg.tensors()
    assert_close(candidate.conv2d(x, w, b, **cfg.kwargs), oracle(x, w, b, cfg),
                 f"output vs F.conv2d for {cfg.describe()}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(cfg=convs())
def test_gradients_match_torch(candidate, cfg):
    x, w, b = cfg.tensors()
    expected_out = oracle(x, w, b, cfg)
    grad_out = torch.randn(expected_out.shape, generator=generator(cfg.data_seed + 1), dtype=f64)
    got = candidate.lib.grads(candidate.conv2d, [x, w, b], cfg.kwargs, grad_out)
    expected = oracle_grads(x, w, b, cfg, grad_out)
    assert_close(got["output"], expected_out, f"output for {cfg.describe()}")
    for i, name in enumerate(["x", "weight", "bias"]):
        if name not in expected:
            continue
        if got["input_grads"][i] is None:
            raise Mismatch(f"gradient w.r.t. {name}: none reached it (detached, computed under no_grad or "
                           f"outside torch?) for {cfg.describe()}")
        assert_close(got["input_grads"][i], expected[name], f"gradient w.r.t. {name} vs F.conv2d for {cfg.describe()}")


FD_CASES = [
    Conv(2, 4, 6, 7, 6, (3, 2), (2, 1), (1, 2), (1, 2), 2, True, 11),
    Conv(1, 3, 3, 5, 6, (2, 2), 1, "same", (1, 3), 3, True, 12),
]


@pytest.mark.category("gradient")
@pytest.mark.parametrize("cfg", FD_CASES, ids=["strided-dilated-groups", "same-depthwise"])
def test_gradients_match_finite_differences(candidate, seed, cfg):
    g = generator(seed * 100 + cfg.data_seed)
    x, w, b = cfg.tensors(g=g)
    grad_out = torch.randn(oracle(x, w, b, cfg).shape, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.conv2d, [x, w, b], cfg.kwargs, grad_out)
    analytic = dict(zip(["x", "weight", "bias"], got["input_grads"]))
    missing = [k for k, v in analytic.items() if v is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad or outside torch?)")

    def forward(point):
        return candidate.conv2d(point["x"], point["weight"], point["bias"], **cfg.kwargs)

    check_directional_derivatives(forward, {"x": x, "weight": w, "bias": b}, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
TRAIN = dict(steps=100, lr=3e-2, batch_size=32)


def bars(n: int, g: torch.Generator, size: int = 8, length: int = 4, noise: float = 0.3):
    """(n, 1, size, size) images holding one bar of `length` pixels at a random place plus noise;
    label 0: the bar is horizontal, 1: vertical. Same pixel statistics for both classes."""
    label = torch.randint(2, (n,), generator=g)
    img = noise * torch.randn(n, 1, size, size, generator=g)
    across = torch.randint(size, (n,), generator=g)
    along = torch.randint(size - length + 1, (n,), generator=g)
    for i in range(n):
        a, b = int(across[i]), int(along[i])
        if label[i] == 0:
            img[i, 0, a, b:b + length] += 1.0
        else:
            img[i, 0, b:b + length, a] += 1.0
    return img, label


@pytest.mark.category("convergence")
def test_tiny_cnn_learns_bar_orientation(candidate, reference, seed, artifacts):
    """Two convolutions (the second strided and grouped) built on your conv2d, trained with Adam,
    must tell horizontal from vertical bars."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = bars(512, g)
        x_test, y_test = bars(512, g)
        model = candidate.lib.support("tiny_cnn", candidate.conv2d, s)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, 2), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.9:  # the reference is trained only for the report and the message
            ref_model = support.tiny_cnn(reference.conv2d, s)
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) a tiny CNN built on your conv2d reaches "
            f"{accuracy:.1%} held-out accuracy telling horizontal from vertical bars; built on the reference "
            f"conv2d, from the same initial weights, it reaches {ref_accuracy:.1%}; at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(cfg=convs(groups=st.integers(2, 3)))
def test_groups_are_separate_convolutions(candidate, cfg):
    """With groups=G, output channel block j is the plain conv of input channel block j with
    weight block j: the same as G calls with groups=1, concatenated in order."""
    x, w, b = cfg.tensors()
    G = cfg.groups
    one_group = Conv(**{**vars(cfg), "C_in": cfg.C_in // G, "C_out": cfg.C_out // G, "groups": 1})
    blocks = []
    for j, (xj, wj) in enumerate(zip(x.chunk(G, dim=1), w.chunk(G, dim=0))):
        bj = None if b is None else b.chunk(G)[j]
        yj = candidate.conv2d(xj, wj, bj, **one_group.kwargs)
        blocks.append(assert_shape(yj, oracle(xj, wj, bj, one_group).shape, f"output of channel block {j} alone"))
    assert_close(candidate.conv2d(x, w, b, **cfg.kwargs), torch.cat(blocks, dim=1),
                 f"output with groups={G} vs your groups=1 outputs of each channel block, concatenated "
                 f"(group j: input channels j*C_in/G.., output channels j*C_out/G..) for {cfg.describe()}")


@pytest.mark.category("property")
@given(cfg=convs(padding=st.just(0)), shift=st.tuples(st.integers(0, 2), st.integers(0, 2)).filter(any))
def test_translation_equivariance(candidate, cfg, shift):
    """Without padding, dropping sH*a rows (sW*c columns) from the top (left) of the input drops
    exactly a rows (c columns) from the top (left) of the output."""
    a, c = shift
    (sH, sW) = pair(cfg.stride)
    cfg = Conv(**{**vars(cfg), "H": cfg.H + sH * a, "W": cfg.W + sW * c})
    x, w, b = cfg.tensors()
    full = assert_shape(candidate.conv2d(x, w, b, **cfg.kwargs), oracle(x, w, b, cfg).shape, "output")
    cropped = candidate.conv2d(x[:, :, sH * a:, sW * c:], w, b, **cfg.kwargs)
    assert_close(cropped, full[:, :, a:, c:], f"output for the input without its first {sH * a} rows and "
                 f"{sW * c} columns vs the full output without its first {a} rows and {c} columns "
                 f"({cfg.describe()})")


@pytest.mark.category("property")
@given(kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), data=st.data(), stride=int_or_pair(1, 2),
       padding=int_or_pair(0, 2), dilation=int_or_pair(1, 2), data_seed=data_seeds)
def test_one_hot_kernel_picks_one_input_pixel(candidate, kernel, data, stride, padding, dilation, data_seed):
    """A kernel that is 1 at tap (u, v) and 0 elsewhere copies the padded input at
    (i*sH + u*dH, j*sW + v*dW): no kernel flip (this is cross-correlation, as in every DL library)."""
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = kernel, pair(stride), pair(padding), pair(dilation)
    u = data.draw(st.integers(0, kH - 1), label="u")
    v = data.draw(st.integers(0, kW - 1), label="v")
    H = min_size(kH, dH, pH) + data.draw(st.integers(0, 4), label="extra H")
    W = min_size(kW, dW, pW) + data.draw(st.integers(0, 4), label="extra W")
    x = torch.randn(1, 1, H, W, generator=generator(data_seed), dtype=f64)
    w = torch.zeros(1, 1, kH, kW, dtype=f64)
    w[0, 0, u, v] = 1.0
    x_pad = F.pad(x, (pW, pW, pH, pH))
    H_out = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1
    W_out = (W + 2 * pW - dW * (kW - 1) - 1) // sW + 1
    expected = x_pad[:, :, u * dH:u * dH + sH * (H_out - 1) + 1:sH, v * dW:v * dW + sW * (W_out - 1) + 1:sW]
    assert_close(candidate.conv2d(x, w, None, stride=stride, padding=padding, dilation=dilation), expected,
                 f"output of a {kH}x{kW} kernel that is 1 at tap ({u}, {v}) (stride={stride}, padding={padding}, "
                 f"dilation={dilation}) vs the padded input at rows {u}*{dH} + {sH}*i, columns {v}*{dW} + {sW}*j "
                 f"(a flipped kernel reads tap ({kH - 1 - u}, {kW - 1 - v}) instead)")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    cfg = Conv(2, 4, 4, 6, 5, (3, 3), 2, 1, 1, 2, True, seed)
    x, w, b = cfg.tensors(torch.float32)
    _, args_after, _ = candidate.conv2d.call_checked(x, w, b, **cfg.kwargs)
    for name, before, after in zip(["x", "weight", "bias"], [x, w, b], args_after):
        assert_unchanged(after, before, f"{name} after conv2d (modified in place)")
