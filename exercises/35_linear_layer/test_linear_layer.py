"""Suite for 35_linear_layer: a from-scratch Linear against F.linear with the same weights
(outputs and gradients), finite differences, a linear classification task, and the
initialization torch's own layer uses: U(-1/sqrt(in_features), 1/sqrt(in_features)) for the
weight (kaiming_uniform_ with a=sqrt(5)) and for the bias, checked against seeded statistical
bounds that a right initialization always passes and a wrong scale or distribution fails.

`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.testing import assert_gradients_match, check_finite_differences, generator, seeded, fit_and_check

f64 = torch.float64

sizes = dict(
    in_features=st.integers(1, 9), out_features=st.integers(1, 9), bias=st.booleans(),
    data_seed=st.integers(0, 2**32 - 1),
)
leading_dims = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


# -- helpers ---------------------------------------------------------------------------------
def expected_shapes(in_features: int, out_features: int, bias: bool) -> dict:
    shapes = {"weight": (out_features, in_features)}
    if bias:
        shapes["bias"] = (out_features,)
    return shapes


def random_state_dict(in_features: int, out_features: int, bias: bool, g: torch.Generator, dtype=f64) -> dict:
    """Weights ~ N(0, 1/in), biases ~ N(0, 0.5^2): every entry different and large enough to matter."""
    sd = {"weight": torch.randn(out_features, in_features, generator=g, dtype=dtype) / math.sqrt(in_features)}
    if bias:
        sd["bias"] = 0.5 * torch.randn(out_features, generator=g, dtype=dtype)
    return sd


def load_candidate(candidate, sd: dict, dtype=f64):
    out_features, in_features = sd["weight"].shape
    m = candidate.Linear(in_features, out_features, bias="bias" in sd).to(dtype)
    m.load_state_dict(sd)
    return m


class FunctionalLinear(nn.Module):
    """The oracle as a module: torch's F.linear on the given weights (trusted side only)."""

    def __init__(self, sd: dict):
        super().__init__()
        self.weight = nn.Parameter(sd["weight"].clone())
        self.bias = nn.Parameter(sd["bias"].clone()) if "bias" in sd else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


def init_bound(in_features: int) -> float:
    return 1.0 / math.sqrt(in_features)


def assert_within_bound(values: torch.Tensor, bound: float, name: str) -> None:
    worst = float(values.abs().max())
    if worst > bound * (1 + 1e-6):
        where = [int(i) for i in (values.abs() == values.abs().max()).nonzero()[0]]
        raise Mismatch(f"{name}: entry {where} is {float(values[tuple(where)]):.6g}, outside the initialization range "
                       f"[-{bound:.6g}, {bound:.6g}] = ±1/sqrt(in_features) (torch's Linear draws both weight "
                       f"and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)))")


# Kolmogorov-Smirnov: for n uniform draws, P(sqrt(n) * D > t) <= 2 exp(-2 t^2); t = 3 gives about
# 3e-8, so a right initialization never fails, while a wrong scale (1/fan_in, sqrt(6/fan_in),
# xavier, fan_out), a normal of the same variance or a constant is far outside.
KS_T = 3.0


def assert_uniform(values: torch.Tensor, bound: float, name: str) -> None:
    """`values` must look like i.i.d. draws of U(-bound, bound) (KS test at a seeded threshold)."""
    v = values.detach().double().flatten()
    n = v.numel()
    u = ((v + bound) / (2 * bound)).sort().values  # U(0, 1) under the hypothesis
    i = torch.arange(1, n + 1, dtype=f64)
    d = float(torch.maximum(i / n - u, u - (i - 1) / n).max())
    limit = KS_T / math.sqrt(n)
    if d > limit:
        expected_std = bound / math.sqrt(3)
        raise Mismatch(
            f"{name}: {n} values do not look like draws from U(-{bound:.4g}, {bound:.4g}) (±1/sqrt(in_features)): "
            f"Kolmogorov-Smirnov distance {d:.4f} > {limit:.4f}; their std is {float(v.std()):.4g} (U(-b, b) has "
            f"b/sqrt(3) = {expected_std:.4g}), mean {float(v.mean()):.4g}, max |value| {float(v.abs().max()):.4g}",
            {"quantity": name, "ks_distance": d, "ks_limit": limit, "std": float(v.std()), "expected_std": expected_std})


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, lead=leading_dims)
def test_output_shape_and_dtype(candidate, in_features, out_features, bias, data_seed, lead):
    """(*, in_features) -> (*, out_features), including a single unbatched vector."""
    g = generator(data_seed)
    m = candidate.Linear(in_features, out_features, bias=bias)
    x = torch.randn(*lead, in_features, generator=g)
    y = assert_shape(m(x), (*lead, out_features), f"output for x of shape {tuple(x.shape)} (in_features={in_features}, "
                     f"out_features={out_features}; every leading dim is a batch dim, do not flatten them)",
                     dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@given(in_features=sizes["in_features"], out_features=sizes["out_features"], bias=sizes["bias"])
def test_parameters_follow_the_interface(candidate, in_features, out_features, bias):
    m = candidate.Linear(in_features, out_features, bias=bias)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = expected_shapes(in_features, out_features, bias)
    assert got == expected, (
        f"state_dict (name: shape) should be exactly {expected} for Linear({in_features}, {out_features}, "
        f"bias={bias}); got {got} (the weight is stored (out_features, in_features), as torch does)")
    attrs = (m.in_features, m.out_features)
    assert attrs == (in_features, out_features), (
        f"(in_features, out_features) attributes should be {(in_features, out_features)}, got {attrs}")
    if not bias:
        b = m.bias
        assert b is None, (f"with bias=False, `bias` should be None (register_parameter('bias', None), as torch "
                           f"does), got {type(b).__name__}")


@pytest.mark.category("shape")
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_are_trainable(candidate, seed, bias):
    """weight (and bias) are nn.Parameters: a backward pass reaches exactly them, and `.to(float64)` converts them."""
    g = generator(seed)
    m = candidate.Linear(5, 3, bias=bias)
    got = candidate.lib.grads(m, [torch.randn(4, 5, generator=g)])["param_grads"]
    shapes = {k: None if v is None else tuple(v.shape) for k, v in got.items()}
    expected = expected_shapes(5, 3, bias)
    assert shapes == expected, (
        f"trainable parameters and their gradient shapes (None: no gradient) should be {expected} for "
        f"Linear(5, 3, bias={bias}); got {shapes} (wrap the tensors in nn.Parameter so that they are registered)")
    m = m.to(f64)
    x = torch.randn(4, 5, generator=g, dtype=f64)
    assert_shape(m(x), (4, 3), "output after .to(torch.float64) for a float64 input", dtype=f64)
    assert_shape(m.weight, (3, 5), "weight after .to(torch.float64)", dtype=f64)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes, lead=leading_dims)
def test_matches_torch_functional_linear(candidate, in_features, out_features, bias, data_seed, lead):
    g = generator(data_seed)
    sd = random_state_dict(in_features, out_features, bias, g)
    m = load_candidate(candidate, sd)
    x = torch.randn(*lead, in_features, generator=g, dtype=f64)
    expected = F.linear(x, sd["weight"], sd.get("bias"))
    assert_close(m(x), expected, f"output vs F.linear with the same weights, for x of shape {tuple(x.shape)}")


@pytest.mark.category("equivalence")
@given(**sizes, lead=leading_dims)
def test_matches_reference(candidate, reference, in_features, out_features, bias, data_seed, lead):
    g = generator(data_seed)
    sd = random_state_dict(in_features, out_features, bias, g)
    ref = reference.Linear(in_features, out_features, bias=bias).to(f64)
    ref.load_state_dict(sd)
    m = load_candidate(candidate, sd)
    x = torch.randn(*lead, in_features, generator=g, dtype=f64)
    with torch.no_grad():
        expected = ref(x)
    assert_close(m(x), expected, f"output vs reference, for x of shape {tuple(x.shape)}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes, lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
def test_gradients_match_torch_functional_linear(candidate, in_features, out_features, bias, data_seed, lead):
    """Gradients w.r.t. x, weight and bias equal autograd's through F.linear (the weight gradient
    sums over every leading dim)."""
    g = generator(data_seed)
    sd = random_state_dict(in_features, out_features, bias, g)
    m = load_candidate(candidate, sd)
    x = torch.randn(*lead, in_features, generator=g, dtype=f64)
    grad_out = torch.randn(*lead, out_features, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(m, [x], {}, grad_out), FunctionalLinear(sd), x, {}, grad_out)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("lead, in_features, out_features, bias",
                         [((3,), 4, 2, True), ((1,), 1, 1, True), ((2, 3), 5, 4, False), ((), 3, 6, True)])
def test_gradients_match_finite_differences(candidate, seed, lead, in_features, out_features, bias):
    g = generator(seed * 100 + in_features)
    sd = random_state_dict(in_features, out_features, bias, g)
    m = candidate.Linear(in_features, out_features, bias=bias).to(f64)
    x = torch.randn(*lead, in_features, generator=g, dtype=f64)
    grad_out = torch.randn(*lead, out_features, generator=g, dtype=f64)
    check_finite_differences(candidate, m, sd, x, {}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
D, CLASSES = 5, 3
TRAIN = dict(steps=100, lr=5e-2, batch_size=64)


def blobs(n: int, centers: torch.Tensor, g: torch.Generator):
    """Gaussian blobs (std 1) around `centers` (C, D); 5*sqrt(2) apart they overlap by about 0.05%."""
    label = torch.randint(len(centers), (n,), generator=g)
    return centers[label] + torch.randn(n, centers.shape[1], generator=g), label  # (n, D), (n,)


@pytest.mark.category("convergence")
def test_learns_linearly_separable_classes(candidate, reference, seed, artifacts):
    """Softmax regression: the layer alone, trained with Adam on cross-entropy, separates three
    Gaussian blobs (centers 5*sqrt(2) apart, shifted away from the origin so the bias matters)."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        directions = torch.linalg.qr(torch.randn(D, D, generator=g)).Q[:CLASSES]  # (C, D) orthonormal rows
        centers = 5.0 * directions + 2.0 * torch.randn(D, generator=g)  # (C, D)
        x_train, y_train = blobs(512, centers, g)
        x_test, y_test = blobs(512, centers, g)
        with seeded(s):
            ref_model = reference.Linear(D, CLASSES)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        model = candidate.Linear(D, CLASSES)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, CLASSES), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.95:  # the reference is trained only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your layer reaches {accuracy:.1%} held-out accuracy "
            f"on three Gaussian blobs; the reference, from the same initial weights, reaches {ref_accuracy:.1%}; "
            f"at least 95% is required")


# -- properties: initialization --------------------------------------------------------------
@pytest.mark.category("property")
@given(in_features=st.integers(1, 64), out_features=st.integers(1, 64), bias=st.booleans())
def test_initialization_within_bounds(candidate, in_features, out_features, bias):
    """Every initial value lies in [-1/sqrt(in_features), 1/sqrt(in_features)] (fan_in, not fan_out)."""
    m = candidate.Linear(in_features, out_features, bias=bias)
    bound = init_bound(in_features)
    sd = m.state_dict()
    label = f"Linear({in_features}, {out_features}, bias={bias})"
    assert_within_bound(assert_shape(sd.get("weight"), (out_features, in_features), f"{label} weight"), bound,
                        f"initial weight of {label}")
    if bias:
        assert_within_bound(assert_shape(sd.get("bias"), (out_features,), f"{label} bias"), bound,
                            f"initial bias of {label}")


@pytest.mark.category("property")
@pytest.mark.parametrize("in_features, out_features", [(64, 256), (1024, 16), (9, 2048)])
def test_initial_weight_distribution(candidate, in_features, out_features):
    """The weight is U(-1/sqrt(in), 1/sqrt(in)), i.e. kaiming_uniform_(a=sqrt(5)): right range,
    right spread (variance 1/(3 in)), uniform shape."""
    m = candidate.Linear(in_features, out_features)
    w = assert_shape(m.weight, (out_features, in_features), f"weight of Linear({in_features}, {out_features})")
    bound = init_bound(in_features)
    assert_within_bound(w, bound, f"initial weight of Linear({in_features}, {out_features})")
    assert_uniform(w, bound, f"initial weight of Linear({in_features}, {out_features})")


@pytest.mark.category("property")
@pytest.mark.parametrize("in_features, out_features", [(9, 4096), (400, 2048)])
def test_initial_bias_distribution(candidate, in_features, out_features):
    """The bias is U(-1/sqrt(in), 1/sqrt(in)) as in torch (not zeros, not 1/in)."""
    m = candidate.Linear(in_features, out_features)
    b = assert_shape(m.bias, (out_features,), f"bias of Linear({in_features}, {out_features})")
    bound = init_bound(in_features)
    assert_within_bound(b, bound, f"initial bias of Linear({in_features}, {out_features})")
    assert_uniform(b, bound, f"initial bias of Linear({in_features}, {out_features})")


@pytest.mark.category("property")
def test_initialization_follows_the_global_seed(candidate, seed):
    """Like torch's layers, the initialization draws from the global RNG: the same
    torch.manual_seed gives the same weights, and two layers built in a row differ."""
    candidate.lib.make("torch.manual_seed", seed)
    first = candidate.Linear(6, 4).state_dict()
    second = candidate.Linear(6, 4).state_dict()
    candidate.lib.make("torch.manual_seed", seed)
    again = candidate.Linear(6, 4).state_dict()
    for name, shape in expected_shapes(6, 4, True).items():
        assert_shape(first.get(name), shape, f"{name} of Linear(6, 4) in the state_dict")
        assert_equal(again.get(name), first[name], f"{name} of a Linear(6, 4) built after the same "
                     "torch.manual_seed (draw from the global RNG, not from a private generator)")
        if torch.equal(first[name], assert_shape(second.get(name), shape, f"{name} of a second Linear(6, 4)")):
            raise Mismatch(f"{name}: two Linear(6, 4) built one after the other have identical values (a constant, "
                           "or a private generator with a fixed seed?); each layer must draw fresh random values "
                           "from the global RNG")


@pytest.mark.category("property")
@pytest.mark.parametrize("bias", [True, False])
def test_reset_parameters_redraws_in_place(candidate, seed, bias):
    """reset_parameters() redraws weight (and bias) within the bounds, in the same Parameter
    objects: an optimizer built before the reset still trains the layer afterwards."""
    g = generator(seed)
    in_features, out_features, lr = 7, 5, 0.5
    m = candidate.Linear(in_features, out_features, bias=bias)
    optimizer = candidate.lib.make("torch.optim.SGD", m.parameters(), lr=lr)
    loaded = {k: torch.full(v, 10.0) for k, v in expected_shapes(in_features, out_features, bias).items()}
    m.load_state_dict(loaded)
    m.reset_parameters()
    after_reset = m.state_dict()
    bound = init_bound(in_features)
    for name, value in loaded.items():
        got = assert_shape(after_reset.get(name), value.shape, f"{name} after reset_parameters()")
        assert_within_bound(got, bound, f"{name} after loading 10.0 everywhere and calling reset_parameters()")
    m.reset_parameters()
    if torch.equal(m.state_dict()["weight"], after_reset["weight"]):
        raise Mismatch("weight: two calls of reset_parameters() gave identical values; each call must draw anew")
    before_step = m.state_dict()
    x = torch.randn(3, in_features, generator=g)
    grads = candidate.lib.grads(m, [x], {}, torch.randn(3, out_features, generator=g))["param_grads"]
    optimizer.step()
    after_step = m.state_dict()
    for name in loaded:
        if grads.get(name) is None:
            raise Mismatch(f"gradient w.r.t. {name}: no gradient reached this parameter after reset_parameters()")
        assert_close(after_step[name], before_step[name] - lr * grads[name],
                     f"{name} after one SGD step (lr={lr}) of an optimizer built before reset_parameters() "
                     "(reset must fill the existing Parameters in place, e.g. with torch.no_grad() and "
                     "uniform_, not assign new nn.Parameter objects the optimizer does not know)")


# -- properties: forward ---------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
def test_leading_dims_act_as_a_batch(candidate, in_features, out_features, bias, data_seed, lead):
    g = generator(data_seed)
    m = load_candidate(candidate, random_state_dict(in_features, out_features, bias, g))
    x = torch.randn(*lead, in_features, generator=g, dtype=f64)
    flat = assert_shape(m(x.reshape(-1, in_features)), (math.prod(lead), out_features),
                        "output for the flattened (M, in_features) input", dtype=f64)
    got = assert_shape(m(x), (*lead, out_features), f"output for x of shape {tuple(x.shape)}", dtype=f64)
    assert_close(got, flat.reshape(*lead, out_features),
                 f"output for x of shape {tuple(x.shape)} vs the same rows as one flat (M, in_features) batch")
    row = assert_shape(m(x.reshape(-1, in_features)[0]), (out_features,), "output for one unbatched vector", dtype=f64)
    assert_close(row, flat[0], "output for a single vector (in_features,) vs the same row in a batch")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    g = generator(seed)
    m = candidate.Linear(6, 4)
    x = torch.randn(2, 3, 6, generator=g)
    _, args_after, _ = m.call_checked(x)
    assert_unchanged(args_after[0], x, "x after forward (modified in place)")
