"""The exercise kit (grader.kit): each check passes a right value and fails a wrong one with a
message that names the quantity, the error and the case. Fast: the candidate is an in-process
stand-in here (the sandboxed path is what `grade validate` of every exercise exercises)."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit, outputs, training
from grader.worker import remote_ops
from grader.proxy import CandidateError

f64 = torch.float64
WORKER_FIT = training.fit  # the candidate's training, apart from the reference's (counted below)


class Checked:
    """A callable standing in for a remote one: also answers `call_checked` as the proxy does."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def call_checked(self, *args, **kwargs):
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        return self.fn(*args, **kwargs), list(args), kwargs


def local_candidate(**names):
    """The `candidate` fixture's interface, in process: names as given, `lib` from grader.worker.remote_ops."""
    lib = SimpleNamespace(grads=remote_ops.grads, build=remote_ops.build,
                          fit=lambda *a, _timeout_factor=1, **k: WORKER_FIT(*a, **k))
    return SimpleNamespace(lib=startable(lib), **names)


def startable(lib: SimpleNamespace) -> SimpleNamespace:
    """`lib.start(name, ...)` as the proxy's: here the operation runs when `.result()` asks for it."""
    lib.start = lambda name, *a, **k: SimpleNamespace(result=lambda: getattr(lib, name)(*a, **k))
    return lib


class Sizes(kit.Case):
    B: int
    T: int


class WrongWeightGrad(torch.autograd.Function):
    """x @ w.T with the weight's gradient transposed the wrong way round (a realistic bug)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w.T

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, (g.T @ x) * 1.5


# -- cases ------------------------------------------------------------------------------------
def test_case_is_a_frozen_dataclass_that_describes_itself():
    case = Sizes(2, 5, data_seed=7)
    assert str(case) == "B=2, T=5, data_seed=7"
    assert case.replace(T=1) == Sizes(2, 1, data_seed=7)
    with pytest.raises(AttributeError):
        case.B = 3
    assert torch.equal(torch.randn(3, generator=case.generator()), torch.randn(3, generator=kit.generator(7)))


def test_a_case_may_declare_its_own_data_seed():
    class Conv(kit.Case):
        N: int
        data_seed: int
        groups: int = 1

    case = Conv(2, 11)
    assert str(case) == "N=2, data_seed=11, groups=1" and case.replace(groups=3).groups == 3
    assert torch.equal(torch.randn(2, generator=case.generator()), torch.randn(2, generator=kit.generator(11)))


def test_about_adds_the_case_and_keeps_diagnostics():
    with pytest.raises(kit.Mismatch) as e, kit.about(Sizes(2, 5)):
        kit.assert_close(torch.zeros(3, dtype=f64), torch.ones(3, dtype=f64), "output")
    assert "output: 3 of 3 compared elements" in str(e.value) and "case: B=2, T=5, data_seed=0" in str(e.value)
    assert e.value.diagnostics["quantity"] == "output"
    with pytest.raises(CandidateError) as c, kit.about(Sizes(2, 5)):
        raise CandidateError("exception", "your code raised ValueError")
    assert "case" not in str(c.value)


def test_given_cases_names_the_case_and_replaces_parametrized_fields():
    seen = []

    @kit.given_cases(kit.builds(Sizes, B=st.integers(1, 3), T=st.integers(1, 3)), replace=("T",))
    def check(T, case):
        seen.append(case)
        kit.assert_close(torch.full((case.B,), 1.0, dtype=f64), torch.ones(case.B, dtype=f64) * (case.B < 3), "ones")

    with pytest.raises(kit.Mismatch) as e:
        check(T=2)
    assert "case: B=3, T=2" in str(e.value)
    assert all(case.T == 2 for case in seen)


def test_given_cases_limits_the_examples_where_asked():
    seen = []

    @kit.given_cases(kit.builds(Sizes, B=st.integers(1, 1000), T=st.integers(1, 1000)), max_examples=3)
    def check(case):
        seen.append(case)

    check()
    assert 1 <= len(seen) <= 3


# -- weights ----------------------------------------------------------------------------------
def test_random_attention_mask_kinds_and_first_key():
    assert kit.random_attention_mask("none", (2, 5), kit.generator(0)) is None
    bool_mask = kit.random_attention_mask("bool 3D", (40, 3, 6), kit.generator(0), keep_first_key=True)
    assert bool_mask.dtype == torch.bool and not bool_mask[..., 0].any()
    assert 0.2 < bool_mask[..., 1:].double().mean() < 0.4
    floats = kit.random_attention_mask("float", (40, 6), kit.generator(1), torch.float32, keep_first_key=True, std=1.0)
    assert floats.dtype == torch.float32 and (floats[:, 0] >= -2.5).all() and torch.isneginf(floats[:, 1:]).any()
    assert torch.isneginf(kit.random_attention_mask("float", (400,), kit.generator(2))).double().mean() < 0.3


def test_random_state_dict_is_shaped_like_the_module():
    module = nn.Sequential(nn.Linear(400, 300), nn.LayerNorm(300), nn.Embedding(50, 300), nn.BatchNorm1d(300))
    sd = kit.random_state_dict(module, kit.generator(0), scales={"0.weight": 10.0})
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in module.state_dict().items()}
    assert abs(float(sd["0.weight"].std()) - 10.0 / 400 ** 0.5) < 0.05  # N(0, 1/fan_in), scaled
    assert abs(float(sd["0.bias"].std()) - 0.5) < 0.1 and abs(float(sd["2.weight"].std()) - 1.0) < 0.05
    assert abs(float(sd["1.weight"].mean()) - 1.0) < 0.1 and abs(float(sd["3.weight"].mean()) - 1.0) < 0.1
    assert torch.equal(sd["3.running_var"], torch.ones(300, dtype=f64)) and sd["3.running_var"].dtype == f64
    assert sd["3.num_batches_tracked"].dtype == torch.int64
    again = kit.random_state_dict({"w": (3, 4)}, kit.generator(0))
    assert torch.equal(again["w"], kit.random_state_dict({"w": (3, 4)}, kit.generator(0))["w"])


def test_twins_hold_the_same_weights():
    lib = SimpleNamespace(Linear=nn.Linear)
    cand, ref, sd = kit.twins(lambda l: l.Linear(4, 3), lib, lib, kit.generator(1))
    x = torch.randn(2, 4, dtype=f64)
    kit.assert_equal(cand(x), ref(x), "output")
    assert cand.weight.dtype == f64 and torch.equal(cand.weight.detach(), sd["weight"])


def test_assert_state_shapes_names_what_differs():
    kit.assert_state_shapes(nn.Linear(4, 3), {"weight": (3, 4), "bias": (3,)}, "Linear(4, 3)")
    kit.assert_state_shapes(nn.Linear(4, 3), nn.Linear(4, 3))
    with pytest.raises(kit.Mismatch, match=r"missing \['bias'\], unexpected \['b'\], wrong shape .*'weight', \(4, 3\)"):
        kit.assert_state_shapes(SimpleNamespace(state_dict=lambda: {"weight": torch.zeros(4, 3), "b": torch.zeros(3)}),
                                {"weight": (3, 4), "bias": (3,)}, "Linear(4, 3)")


def test_assert_state_close_names_the_entry_and_the_moment():
    bn = nn.BatchNorm1d(3)
    kit.assert_state_close(nn.BatchNorm1d(3).state_dict(), bn.state_dict(), "initially")
    with pytest.raises(kit.Mismatch, match=r"state_dict after step 1: expected the entries \[.*\], got \['bias'"):
        kit.assert_state_close({"bias": bn.bias.detach()}, bn.state_dict(), "after step 1")
    moved = {**bn.state_dict(), "running_var": bn.running_var + 0.5}
    with pytest.raises(kit.Mismatch, match=r"running_var after step 2: 3 of 3 compared elements"):
        kit.assert_state_close(moved, bn.state_dict(), "after step 2")
    with pytest.raises(kit.Mismatch, match="num_batches_tracked after .to: expected dtype torch.int64"):
        kit.assert_state_close({**bn.state_dict(), "num_batches_tracked": torch.tensor(0.0)}, bn.state_dict(), "after .to")


# -- gradients --------------------------------------------------------------------------------
def linear_args(g):
    return {"x": torch.randn(5, 4, generator=g, dtype=f64), "w": torch.randn(3, 4, generator=g, dtype=f64)}


def test_check_gradients_of_several_tensors():
    g = kit.generator(0)
    right = Checked(lambda x, w: x @ w.T)
    kit.check_gradients(local_candidate(), right, lambda x, w: F.linear(x, w), linear_args(g), g=g)
    with pytest.raises(kit.Mismatch, match=r"gradient w.r.t. w: \d+ of 12 compared elements"):
        kit.check_gradients(local_candidate(), Checked(WrongWeightGrad.apply), lambda x, w: F.linear(x, w),
                            linear_args(g), g=g)
    with pytest.raises(kit.Mismatch, match="no gradient reached w"):
        kit.check_gradients(local_candidate(), Checked(lambda x, w: x @ w.detach().T), lambda x, w: F.linear(x, w),
                            linear_args(g), g=g)


def test_check_gradients_of_a_module_compares_parameters_by_name():
    g = kit.generator(0)
    cand, ref, _ = kit.twins(lambda lib: lib.Linear(4, 3), SimpleNamespace(Linear=nn.Linear),
                             SimpleNamespace(Linear=nn.Linear), g)
    x = {"x": torch.randn(2, 4, generator=g, dtype=f64)}
    kit.check_gradients(local_candidate(), cand, ref, x, g=g)
    ref.bias.data += 1.0  # the output now differs: caught before the gradients
    with pytest.raises(kit.Mismatch, match="output: "):
        kit.check_gradients(local_candidate(), cand, ref, x, g=g)


def test_check_gradients_of_a_tuple_output_compares_it_joined():
    g = kit.generator(0)
    cand, ref, sd = kit.twins(lambda lib: lib.GRU(3, 4, batch_first=True), SimpleNamespace(GRU=nn.GRU),
                              SimpleNamespace(GRU=nn.GRU), g)
    args = {"x": torch.randn(2, 5, 3, generator=g, dtype=f64), "h0": torch.randn(1, 2, 4, generator=g, dtype=f64)}
    kit.check_gradients(local_candidate(), cand, ref, args, g=g)  # (output, h_n): 2*5*4 + 1*2*4 values
    kit.check_finite_differences(local_candidate(), cand, args, g=g, state_dict=sd)
    with pytest.raises(kit.Mismatch, match="output"):
        kit.check_gradients(local_candidate(), lambda x, h0: cand(x, h0)[::-1], ref, args, g=g)  # (h_n, output)


def test_backward_gives_exactly_what_backward_with_a_gradient_gives():
    g = kit.generator(0)
    x, grad = torch.randn(3, 4, generator=g, dtype=f64, requires_grad=True), torch.randn(3, 4, generator=g, dtype=f64)
    outputs.backward((x.sin() * 2).softmax(-1), grad)
    ours, x.grad = x.grad, None
    (x.sin() * 2).softmax(-1).backward(grad)
    assert torch.equal(ours, x.grad)  # bit for bit
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output has a shape of \(4,\) and output has a "
                                           r"shape of \(3, 4\)"):
        outputs.backward(x * 1, torch.ones(4))  # no broadcasting
    with pytest.raises(RuntimeError, match="does not require grad"):
        outputs.backward(x.detach(), grad)


def test_backward_does_not_load_sympy():
    """torch's own backward given a gradient imports symbolic_shapes and sympy (~0.7 s) on first use."""
    code = ("import sys, torch; from grader import outputs; x = torch.ones(3, requires_grad=True); "
            "outputs.backward(x * 2, torch.ones(3)); assert x.grad.tolist() == [2.0] * 3; print('sympy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout == "False\n"


def test_check_finite_differences_of_functions_and_modules():
    g = kit.generator(0)
    kit.check_finite_differences(local_candidate(), Checked(lambda x, w: x @ w.T), linear_args(g), g=g)
    with pytest.raises(kit.Mismatch, match="gradient vs finite differences: along random direction 1 of 3"):
        kit.check_finite_differences(local_candidate(), Checked(WrongWeightGrad.apply), linear_args(g), g=g)
    with pytest.raises(kit.Mismatch, match="does not depend on these inputs"):
        kit.check_finite_differences(local_candidate(), Checked(lambda x, w: 0 * x @ w.T), linear_args(g), g=g)
    module = nn.Linear(4, 3).double()
    sd = {"weight": torch.randn(3, 4, generator=g, dtype=f64), "bias": torch.randn(3, generator=g, dtype=f64)}
    kit.check_finite_differences(local_candidate(), module, {"x": torch.randn(2, 4, generator=g, dtype=f64)}, g=g,
                                 state_dict=sd)
    norm = nn.BatchNorm1d(4).double().eval()  # buffers stay as they are; weight and bias are differentiated
    norm.running_var.fill_(2.0)
    kit.check_finite_differences(local_candidate(), norm, {"x": torch.randn(3, 4, generator=g, dtype=f64)}, g=g,
                                 state_dict={"weight": torch.rand(4, generator=g, dtype=f64), "bias": torch.zeros(4, dtype=f64)})
    assert float(norm.running_var[0]) == 2.0


def test_check_finite_differences_holds_buffers_fixed():
    class Scaled(nn.Module):  # a parameter and a buffer: only the parameter has a gradient
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3, dtype=f64))
            self.register_buffer("scale", torch.ones(3, dtype=f64))

        def forward(self, x):
            return x * self.weight * self.scale

    g = kit.generator(0)
    sd = {"weight": torch.randn(3, generator=g, dtype=f64), "scale": torch.randn(3, generator=g, dtype=f64)}
    x = {"x": torch.randn(2, 3, generator=g, dtype=f64)}
    module = Scaled()
    kit.check_finite_differences(local_candidate(), module, x, g=g, state_dict=sd, hold=["scale"])
    assert torch.equal(module.scale, sd["scale"])  # loaded as given, never moved
    with pytest.raises(kit.Mismatch, match="no gradient reached scale"):
        kit.check_finite_differences(local_candidate(), Scaled(), x, g=g, state_dict=sd)


# -- calls --------------------------------------------------------------------------------------
def test_assert_inputs_unchanged():
    x, mask = torch.randn(2, 3), torch.tensor([True, False, True])
    kit.assert_inputs_unchanged(Checked(lambda x, mask=None: x.masked_fill(mask, 0.0)), {"x": x}, {"mask": mask})
    with pytest.raises(kit.Mismatch, match=r"x after forward \(modified in place\)"):
        kit.assert_inputs_unchanged(Checked(lambda x, mask=None: x.masked_fill_(mask, 0.0)), {"x": x}, {"mask": mask},
                                    "forward")


def test_expect_raises():
    def raising(kind="exception", remote_type="ValueError"):
        def call():
            raise CandidateError(kind, "your code raised", remote_type=remote_type, remote_message="p must be in [0, 1]")
        return call

    assert kit.expect_raises(raising(), "ValueError", "Dropout(1.5)").remote_message == "p must be in [0, 1]"
    with pytest.raises(kit.Mismatch, match="Dropout\\(1.5\\): expected ValueError, got TypeError: p must be"):
        kit.expect_raises(raising(remote_type="TypeError"), "ValueError", "Dropout(1.5)")
    with pytest.raises(kit.Mismatch, match="expected ValueError, but the call returned normally \\(Tensor\\)"):
        kit.expect_raises(lambda: torch.zeros(1), "ValueError", "Dropout(1.5)")
    with pytest.raises(CandidateError):
        kit.expect_raises(raising(kind="timeout"), "ValueError")


# -- invariance ---------------------------------------------------------------------------------
def test_assert_causal():
    g = kit.generator(0)
    x = torch.randn(2, 6, 3, generator=g, dtype=f64)
    kit.assert_causal(lambda x: x.cumsum(1), x, 2, g)
    with pytest.raises(kit.Mismatch, match="outputs at positions <= 2 after changing only positions > 2 "
                                           r"\(the future leaks in\)"):
        kit.assert_causal(lambda x: x.flip(1).cumsum(1).flip(1), x, 2, g)


def test_assert_ignores_padding():
    g = kit.generator(0)
    x = torch.randn(2, 5, 3, generator=g, dtype=f64)
    padded = torch.tensor([[False, False, True, True, True], [False] * 4 + [True]])[..., None]  # (B, T, 1)

    def masked_mean(x):
        return (x * ~padded).sum(1) / (~padded).sum(1)

    kit.assert_ignores(masked_mean, x, padded, g, what="padded tokens")
    with pytest.raises(kit.Mismatch, match="outputs after changing only padded tokens"):
        kit.assert_ignores(lambda x: x.mean(1), x, padded, g, what="padded tokens")


# -- convergence --------------------------------------------------------------------------------
def blobs(g, n=256):
    centers = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    label = torch.randint(3, (n,), generator=g)
    return centers[label] + torch.randn(n, 2, generator=g), label


def test_check_convergence_trains_the_reference_only_when_needed(monkeypatch):
    trained, artifacts = [], {}
    fit = kit.convergence.training.fit
    monkeypatch.setattr(kit.convergence.training, "fit", lambda *a, **k: trained.append(k["seed"]) or fit(*a, **k))

    def models(s, run):
        return kit.same_init(nn.Linear(2, 3), lambda: nn.Linear(2, 3), s)

    kit.check_convergence(local_candidate(), artifacts, 0, models=models, task=lambda g: (*blobs(g), *blobs(g)),
                          train=dict(steps=60, lr=5e-2, batch_size=64), threshold=0.9, runs=3)
    assert set(artifacts["loss_curve"]) == {"candidate", "reference"} and len(artifacts["loss_curve"]["reference"]) == 60
    assert trained == [0]  # the reference trained for the first loss curve only

    def frozen(s, run):
        model, ref = models(s, run)
        model.weight.requires_grad_(False)  # cannot learn: only the bias trains
        return model, ref

    with pytest.raises(kit.Mismatch, match=r"after 60 Adam steps \(data seed 0\) your layer reaches \d+\.\d% held-out "
                                           r"accuracy on blobs; the reference, .* reaches \d+\.\d%; at least 90%"):
        kit.check_convergence(local_candidate(), {}, 0, models=frozen, task=lambda g: (*blobs(g), *blobs(g)),
                              train=dict(steps=60, lr=5e-2, batch_size=64), threshold=0.9, subject="your layer",
                              goal="on blobs")


def test_check_convergence_scores_with_evaluate_when_given():
    seen = []

    def evaluate(model, x, y):  # each class as its own batch
        seen.append(len(y))
        return sum(kit.accuracy(model(x[y == c]), y[y == c]) * int((y == c).sum()) for c in range(3)) / len(y)

    def models(s, run):
        return kit.same_init(nn.Linear(2, 3), lambda: nn.Linear(2, 3), s)

    kit.check_convergence(local_candidate(), {}, 0, models=models, task=lambda g: (*blobs(g), *blobs(g)),
                          train=dict(steps=60, lr=5e-2, batch_size=64), threshold=0.9, evaluate=evaluate)
    assert seen == [256, 256]  # the candidate's model, then the reference's for the first loss curve
    with pytest.raises(kit.Mismatch, match=r"reaches 0\.0% held-out accuracy on blobs; the reference, .* 0\.0%"):
        kit.check_convergence(local_candidate(), {}, 0, models=models, task=lambda g: (*blobs(g), *blobs(g)),
                              train=dict(steps=60, lr=5e-2, batch_size=64), threshold=0.9, evaluate=lambda *a: 0.0,
                              goal="on blobs")


def test_fit_and_check_refuses_losses_that_are_not_the_models():
    lib = startable(SimpleNamespace(fit=lambda *a, _timeout_factor=1, **k: {"losses": [0.01] * 10}))
    x, y = blobs(kit.generator(0))
    with pytest.raises(kit.Mismatch, match="training reported a final loss of 0.0100, but the trained model scores"):
        kit.fit_and_check(SimpleNamespace(lib=lib), nn.Linear(2, 3), x, y, steps=10, lr=0.1, batch_size=8, seed=0)


# -- a module's interface and statistics ----------------------------------------------------------
def test_assert_trainable_and_attributes():
    class Half(nn.Module):  # the bias is a plain tensor: never trained
        def __init__(self):
            super().__init__()
            self.weight, self.bias, self.in_features = nn.Parameter(torch.randn(3, 4)), torch.zeros(3), 4

        def forward(self, x):
            return x @ self.weight.T + self.bias

    x = [torch.randn(2, 4)]
    kit.assert_trainable(local_candidate(), nn.Linear(4, 3), x, {"weight": (3, 4), "bias": (3,)}, "Linear(4, 3)")
    with pytest.raises(kit.Mismatch, match=r"trainable parameters of Linear\(4, 3\) .* got \{'weight': \(3, 4\)\}"):
        kit.assert_trainable(local_candidate(), Half(), x, nn.Linear(4, 3), "Linear(4, 3)")
    kit.assert_attributes(nn.Linear(4, 3, bias=False), {"in_features": 4, "bias": None})
    with pytest.raises(kit.Mismatch, match=r"should be \{'in_features': 4, 'bias': None\}; got \{'in_features': 4, "
                                           r"'bias': 'Tensor'\}"):
        kit.assert_attributes(Half(), {"in_features": 4, "bias": None})


def test_assert_follows_global_seed():
    class Lib:
        @staticmethod
        def make(path, seed):
            torch.manual_seed(seed)

    candidate = SimpleNamespace(lib=Lib)
    kit.assert_follows_global_seed(candidate, lambda: nn.Linear(6, 4), 3, ["weight", "bias"], "Linear(6, 4)")
    private = lambda: kit.load(nn.Linear(6, 4), kit.random_state_dict({"weight": (4, 6), "bias": (4,)},  # noqa: E731
                                                                      kit.generator(0), dtype=torch.float32))
    with pytest.raises(kit.Mismatch, match="weight: two Linear\\(6, 4\\) built one after the other have identical"):
        kit.assert_follows_global_seed(candidate, private, 3, ["weight"], "Linear(6, 4)")


def test_remote_generator_gives_the_stream_of_generator():
    candidate = SimpleNamespace(lib=SimpleNamespace(make=remote_ops.make))
    gen = kit.remote_generator(candidate, 7)
    assert isinstance(gen, torch.Generator)
    assert torch.equal(torch.rand(5, generator=gen), torch.rand(5, generator=kit.generator(7)))


def test_statistics():
    g = kit.generator(0)
    right = torch.rand(4096, generator=g) * 2 - 1  # U(-1, 1)
    kit.assert_uniform(kit.assert_within(right, 1.0, "weight"), 1.0, "weight")
    with pytest.raises(kit.Mismatch, match=r"weight: entry \[\d+\] is -?1\.\d+, outside \[-1, 1\] \(fan_in\)"):
        kit.assert_within(right * 1.5, 1.0, "weight", " (fan_in)")
    with pytest.raises(kit.Mismatch, match="do not look like draws from U\\(-1, 1\\): Kolmogorov-Smirnov distance"):
        kit.assert_uniform(right * 0.5, 1.0, "weight")  # a wrong scale, within the bound
    assert abs(kit.assert_rate(right < -0.4, 0.3, "dropped") - 0.3) < 0.05  # P(U(-1, 1) < -0.4) = 0.3
    with pytest.raises(kit.Mismatch, match=r"dropped: 50\.\d+% of 4096; expected 30\.00% ± 4\.30%"):
        kit.assert_rate(right < 0, 0.3, "dropped")


def test_assert_appending_changes_nothing():
    g = kit.generator(0)
    x, kpm = torch.randn(2, 4, 3, generator=g, dtype=f64), torch.tensor([[False] * 4, [False, False, True, True]])

    def attend(x, kpm):  # (B, T, C), (B, T) -> each position's mean over the real positions, and the weights
        w = (~kpm).double() / (~kpm).sum(1, keepdim=True)  # (B, T)
        return x * 0 + (w[..., None] * x).sum(1, keepdim=True), w

    kit.assert_appending_changes_nothing(attend, {"x": x, "kpm": kpm}, {"x": None, "kpm": True}, 2, g,
                                         what="padding tokens")
    with pytest.raises(kit.Mismatch, match="output 0 on the original positions after appending 2 padding tokens"):
        kit.assert_appending_changes_nothing(lambda x, kpm: (x.mean(1, keepdim=True).expand_as(x), kpm), {"x": x, "kpm": kpm},
                                             {"x": None, "kpm": True}, 2, g, what="padding tokens")


def test_unpack_checks_the_tuple_and_each_output():
    pooled, weights = torch.zeros(2, 3, dtype=f64), torch.full((2, 4), 0.25, dtype=f64)
    shapes = {"pooled": (2, 3), "weights": (2, 4)}
    got = kit.unpack((pooled, weights), shapes, f64, "forward", finite=True)
    assert got[0] is pooled and got[1] is weights
    with pytest.raises(kit.Mismatch, match=r"forward must return a tuple \(pooled, weights\), got a Tensor"):
        kit.unpack(pooled, shapes, what="forward")
    with pytest.raises(kit.Mismatch, match=r"got a tuple of length 3"):
        kit.unpack((pooled, weights, weights), shapes)
    with pytest.raises(kit.Mismatch, match="weights"):
        kit.unpack((pooled, weights[:, :3]), shapes)
    with pytest.raises(kit.Mismatch, match="pooled"):
        kit.unpack((pooled.float(), weights), shapes, f64)
    with pytest.raises(kit.Mismatch, match="weights"):
        kit.unpack((pooled, weights / 0), shapes, finite=True)
    assert kit.unpack((pooled, None), {"pooled": (2, 3), "weights": None}, finite=True)[1] is None
    with pytest.raises(kit.Mismatch, match="forward: weights must be None, got a Tensor"):
        kit.unpack((pooled, weights), {"pooled": (2, 3), "weights": None}, what="forward")


def test_assert_outputs_close_names_each_output():
    pooled, weights = torch.zeros(2, 3, dtype=f64), torch.full((2, 4), 0.25, dtype=f64)
    kit.assert_outputs_close((pooled, weights), [pooled.clone().requires_grad_(), weights], ("pooled", "weights"), "x")
    with pytest.raises(kit.Mismatch, match="weights vs the spec"):
        kit.assert_outputs_close((pooled, weights + 1e-3), (pooled, weights), ("pooled", "weights"), "the spec")
    kit.assert_outputs_close((pooled, weights + 1e-3), (pooled, weights), ("pooled", "weights"), "the spec", atol=1e-2)
    with pytest.raises(kit.Mismatch, match=r"expected 2 outputs \(pooled, weights\), got a Tensor"):
        kit.assert_outputs_close(pooled, (pooled, weights), ("pooled", "weights"), "the spec")


def test_assert_same_compares_plain_values():
    kit.assert_same([[0, 2], [1]], [[0, 2], [1]], "batches")
    with pytest.raises(kit.Mismatch, match=r"^len\(sampler\) is 4, expected 3: count the batches$"):
        kit.assert_same(4, 3, "len(sampler)", "count the batches")
    with pytest.raises(kit.Mismatch, match=r"^labels is \[1, 2\], expected \[2, 1\]$"):
        kit.assert_same([1, 2], [2, 1], "labels")


def test_assert_attention_weights():
    allowed = torch.tensor([[True, True, False], [False, False, False]])  # row 1 has no allowed key: unchecked
    nan = float("nan")
    kit.assert_attention_weights(torch.tensor([[0.25, 0.75, 0.0], [nan] * 3], dtype=f64), allowed, "weights")
    for row, why in (([0.2, 0.7, 0.1], "at masked positions"), ([0.2, 0.7, 0.0], "summed over the last dim"),
                     ([1.25, -0.25, 0.0], "negative values")):
        bad = torch.tensor([row, [nan] * 3], dtype=f64)
        with pytest.raises(kit.Mismatch, match=f"weights.*{why}"):
            kit.assert_attention_weights(bad, allowed, "weights")
        kit.assert_attention_weights(bad, allowed, "weights", where=torch.tensor([[False], [True]]))  # row 0 not selected
    per_head = torch.tensor([[[0.5, 0.5, 0.0]], [[1.0, 0.0, 0.0]]], dtype=f64)  # (B=2, H=1, S=3): broadcast mask
    kit.assert_attention_weights(per_head, torch.tensor([[True, True, False], [True, False, False]])[:, None, :])
    with pytest.raises(kit.Mismatch, match=r"weights: shape \(2, 2\), but the mask needs \(2, 3\)"):
        kit.assert_attention_weights(torch.full((2, 2), 0.5, dtype=f64), allowed, "weights")


def test_fit_trains_on_mean_squared_error_and_records_each_step():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])  # (64, 1): a forecast-like target, not class indices
    model = torch.nn.Linear(3, 1)
    losses = training.fit(model, x, y, steps=150, lr=0.05, batch_size=16, seed=0, loss="mse")["losses"]
    assert len(losses) == 150 and losses[-1] < 0.01 * losses[0]
    opt = training.recording(torch.optim.SGD)(model.named_parameters(), lr=0.1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    assert set(opt.grad_log[0]) == {"weight", "bias"} and opt.grad_log[0]["bias"].shape == (1,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fits_adam_is_torchs_adam_bit_for_bit(dtype):
    """`training.Adam` (fit's optimizer, which spares the grader importing torch._dynamo) takes
    torch.optim.Adam's steps exactly, a parameter that gets its first gradient late included."""
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).to(dtype)
    theirs = copy.deepcopy(ours)
    optimizers = {id(ours): training.Adam(ours.parameters(), lr=3e-2), id(theirs): torch.optim.Adam(theirs.parameters(), lr=3e-2)}
    for step in range(40):
        x = torch.randn(8, 5, dtype=dtype)
        for model in (ours, theirs):
            optimizers[id(model)].zero_grad(set_to_none=True)
            model(x).pow(2).sum().backward()
            if step < 3:
                model[2].bias.grad = None
            optimizers[id(model)].step()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
