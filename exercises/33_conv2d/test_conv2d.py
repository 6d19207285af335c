"""Suite for 33_conv2d: conv2d(x, weight, bias, stride, padding, dilation, groups) vs F.conv2d (values, autograd
gradients) and the reference over every argument form; finite differences, a tiny CNN that learns, properties."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, assert_finite, assert_shape, f64, given_cases, int_or_pair, pair

support = kit.exercise_support(__file__)


class Conv(kit.Case):
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

    @property
    def kwargs(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}

    def tensors(self, dtype=f64, g: torch.Generator | None = None) -> dict:
        """x, weight, bias: weights ~ N(0, 1/fan_in) so outputs are O(1); bias ~ N(0, 0.5^2)."""
        g = g or self.generator()
        fan_in = self.C_in // self.groups * self.kernel[0] * self.kernel[1]
        x = torch.randn(self.N, self.C_in, self.H, self.W, generator=g, dtype=dtype)
        w = torch.randn(self.C_out, self.C_in // self.groups, *self.kernel, generator=g, dtype=dtype) / fan_in ** 0.5
        b = 0.5 * torch.randn(self.C_out, generator=g, dtype=dtype) if self.bias else None
        return {"x": x, "weight": w, "bias": b}

    def call(self, conv2d, dtype=f64) -> torch.Tensor:
        """conv2d (yours, the reference's or F.conv2d) on this case's tensors and arguments."""
        return conv2d(*self.tensors(dtype).values(), **self.kwargs)


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
                draw(bias, label="bias"), data_seed=draw(kit.data_seeds, label="data_seed"))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(convs())
def test_output_shape_and_dtype(candidate, case):
    """(N, C_out, H_out, W_out) with H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1; dtype of x."""
    y = assert_shape(case.call(candidate.conv2d, torch.float32), case.call(F.conv2d).shape, "output",
                     dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@given_cases(convs(padding=st.sampled_from(["same", "valid"]), stride=st.just(1)))
def test_padding_strings_shape(candidate, case):
    """padding='same' keeps (H, W) (stride 1); 'valid' means no padding."""
    assert_shape(case.call(candidate.conv2d, torch.float32), case.call(F.conv2d).shape, "output")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(convs())
def test_matches_torch_conv2d(candidate, case):
    assert_close(case.call(candidate.conv2d), case.call(F.conv2d), "output vs F.conv2d")


@pytest.mark.category("equivalence")
@given_cases(convs())
def test_matches_reference(candidate, reference, case):
    assert_close(case.call(candidate.conv2d), case.call(reference.conv2d), "output vs reference")


@pytest.mark.category("equivalence")
@given_cases(convs(padding=st.sampled_from(["same", "valid"]), stride=st.just(1), dilation=int_or_pair(1, 3)))
def test_padding_strings_match_torch(candidate, case):
    """'same' pads d*(k-1) in total per dim; when that is odd the extra row/column goes at the
    bottom/right (even kernels), exactly as F.conv2d."""
    assert_close(case.call(candidate.conv2d), case.call(F.conv2d), "output vs F.conv2d")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(convs())
def test_gradients_match_torch(candidate, case):
    kit.check_gradients(candidate, candidate.conv2d, F.conv2d, case.tensors(), case.kwargs, g=case.generator(1),
                        against="F.conv2d")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("cfg", [Conv(2, 4, 6, 7, 6, (3, 2), (2, 1), (1, 2), (1, 2), 2, True, data_seed=11),
                                 Conv(1, 3, 3, 5, 6, (2, 2), 1, "same", (1, 3), 3, True, data_seed=12)],
                         ids=["strided-dilated-groups", "same-depthwise"])
def test_gradients_match_finite_differences(candidate, seed, cfg):
    g = kit.generator(seed * 100 + cfg.data_seed)
    kit.check_finite_differences(candidate, candidate.conv2d, cfg.tensors(g=g), cfg.kwargs, g=g)


# -- convergence -----------------------------------------------------------------------------
def bars(n: int, g: torch.Generator, size: int = 8, length: int = 4, noise: float = 0.3):
    """(n, 1, size, size) images holding one bar of `length` pixels at a random place plus noise;
    label 0: the bar is horizontal, 1: vertical. Same pixel statistics for both classes."""
    label = torch.randint(2, (n,), generator=g)
    img = noise * torch.randn(n, 1, size, size, generator=g)
    across, along = torch.randint(size, (n,), generator=g), torch.randint(size - length + 1, (n,), generator=g)
    for k in range(length):  # pixel k of the bar: (row, column) = (across, along + k) if horizontal
        img[torch.arange(n), 0, across, along + k] += (label == 0).float()
        img[torch.arange(n), 0, along + k, across] += (label == 1).float()
    return img, label


@pytest.mark.category("convergence")
def test_tiny_cnn_learns_bar_orientation(candidate, reference, seed, artifacts):
    """Two convolutions (the second strided and grouped) on your conv2d must tell bar orientations apart."""
    kit.check_convergence(candidate, artifacts, seed, runs=2, threshold=0.9, subject="a tiny CNN built on your conv2d",
                          models=lambda s, run: (candidate.lib.support("tiny_cnn", candidate.conv2d, s),
                                                 support.tiny_cnn(reference.conv2d, s)),
                          task=lambda g: (*bars(512, g), *bars(512, g)), train=dict(steps=100, lr=3e-2, batch_size=32),
                          goal="telling horizontal from vertical bars")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(convs(groups=st.integers(2, 3)))
def test_groups_are_separate_convolutions(candidate, case):
    """With groups=G, output channel block j is the plain conv of input channel block j with
    weight block j: the same as G calls with groups=1, concatenated in order."""
    x, w, b = case.tensors().values()
    G, one_group = case.groups, case.replace(C_in=case.C_in // case.groups, C_out=case.C_out // case.groups, groups=1)
    blocks = []
    for j, (xj, wj, bj) in enumerate(zip(x.chunk(G, 1), w.chunk(G, 0), [None] * G if b is None else b.chunk(G))):
        yj = candidate.conv2d(xj, wj, bj, **one_group.kwargs)
        blocks.append(assert_shape(yj, F.conv2d(xj, wj, bj, **one_group.kwargs).shape, f"output of channel block {j}"))
    assert_close(candidate.conv2d(x, w, b, **case.kwargs), torch.cat(blocks, dim=1),
                 f"output with groups={G} vs your groups=1 outputs of each channel block, concatenated "
                 f"(group j: input channels j*C_in/G.., output channels j*C_out/G..)")


@pytest.mark.category("property")
@given_cases(convs(padding=st.just(0)), shift=st.tuples(st.integers(0, 2), st.integers(0, 2)).filter(any))
def test_translation_equivariance(candidate, case, shift):
    """Without padding, dropping sH*a rows (sW*c columns) from the top (left) of the input drops
    exactly a rows (c columns) from the top (left) of the output."""
    (a, c), (sH, sW) = shift, pair(case.stride)
    case = case.replace(H=case.H + sH * a, W=case.W + sW * c)
    x, w, b = case.tensors().values()
    full = assert_shape(candidate.conv2d(x, w, b, **case.kwargs), F.conv2d(x, w, b, **case.kwargs).shape, "output")
    assert_close(candidate.conv2d(x[:, :, sH * a:, sW * c:], w, b, **case.kwargs), full[:, :, a:, c:],
                 f"output for the input without its first {sH * a} rows and {sW * c} columns vs the full output "
                 f"without its first {a} rows and {c} columns")


@pytest.mark.category("property")
@given(kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), data=st.data(), stride=int_or_pair(1, 2),
       padding=int_or_pair(0, 2), dilation=int_or_pair(1, 2), data_seed=kit.data_seeds)
def test_one_hot_kernel_picks_one_input_pixel(candidate, kernel, data, stride, padding, dilation, data_seed):
    """A kernel that is 1 at tap (u, v) and 0 elsewhere copies the padded input at
    (i*sH + u*dH, j*sW + v*dW): no kernel flip (this is cross-correlation, as in every DL library)."""
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = kernel, pair(stride), pair(padding), pair(dilation)
    u, v = data.draw(st.integers(0, kH - 1), label="u"), data.draw(st.integers(0, kW - 1), label="v")
    H = min_size(kH, dH, pH) + data.draw(st.integers(0, 4), label="extra H")
    W = min_size(kW, dW, pW) + data.draw(st.integers(0, 4), label="extra W")
    x = torch.randn(1, 1, H, W, generator=kit.generator(data_seed), dtype=f64)
    w = torch.zeros(1, 1, kH, kW, dtype=f64)
    w[0, 0, u, v] = 1.0
    x_pad = F.pad(x, (pW, pW, pH, pH))
    H_out, W_out = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1, (W + 2 * pW - dW * (kW - 1) - 1) // sW + 1
    expected = x_pad[:, :, u * dH:u * dH + sH * (H_out - 1) + 1:sH, v * dW:v * dW + sW * (W_out - 1) + 1:sW]
    assert_close(candidate.conv2d(x, w, None, stride=stride, padding=padding, dilation=dilation), expected,
                 f"output of a {kH}x{kW} kernel that is 1 at tap ({u}, {v}) (stride={stride}, padding={padding}, "
                 f"dilation={dilation}) vs the padded input at rows {u}*{dH} + {sH}*i, columns {v}*{dW} + {sW}*j "
                 f"(a flipped kernel reads tap ({kH - 1 - u}, {kW - 1 - v}) instead)")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    cfg = Conv(2, 4, 4, 6, 5, (3, 3), 2, 1, 1, 2, True, data_seed=seed)
    kit.assert_inputs_unchanged(candidate.conv2d, cfg.tensors(torch.float32), cfg.kwargs, "conv2d")
