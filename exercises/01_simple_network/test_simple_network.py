"""Suite for 01_simple_network: SimpleNetwork (fc1 -> ReLU -> fc2) against the reference and an
nn.Sequential(Linear, ReLU, Linear) twin with the same weights, plus gradients, a toy task a
linear model cannot learn, and the properties of a per-row classifier returning raw logits.

`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import assert_close, assert_finite, assert_shape, assert_unchanged
from grader.testing import assert_gradients_match, check_finite_differences, generator, seeded, fit_and_check

f64 = torch.float64

sizes = dict(
    N=st.integers(1, 6), D=st.integers(1, 7), H=st.integers(1, 9), C=st.integers(1, 5),
    data_seed=st.integers(0, 2**32 - 1),
)
leading_dims = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


# -- helpers ---------------------------------------------------------------------------------
def expected_shapes(D: int, H: int, C: int) -> dict:
    return {"fc1.weight": (H, D), "fc1.bias": (H,), "fc2.weight": (C, H), "fc2.bias": (C,)}


def random_state_dict(D: int, H: int, C: int, g: torch.Generator, dtype=f64) -> dict:
    """Weights ~ N(0, 1/fan_in), biases ~ N(0, 0.5^2): about half the hidden units are active
    for a given row, and every bias is large enough to matter."""
    return {
        "fc1.weight": torch.randn(H, D, generator=g, dtype=dtype) / math.sqrt(D),
        "fc1.bias": 0.5 * torch.randn(H, generator=g, dtype=dtype),
        "fc2.weight": torch.randn(C, H, generator=g, dtype=dtype) / math.sqrt(H),
        "fc2.bias": 0.5 * torch.randn(C, generator=g, dtype=dtype),
    }


def build(candidate, reference, D, H, C, g, dtype=f64):
    """The candidate and the reference module, loaded with the same random weights."""
    sd = random_state_dict(D, H, C, g, dtype)
    ref = reference.SimpleNetwork(D, H, C).to(dtype)
    ref.load_state_dict(sd)
    cand = candidate.SimpleNetwork(D, H, C).to(dtype)
    cand.load_state_dict(sd)
    return cand, ref, sd


def sequential_twin(sd: dict) -> nn.Sequential:
    """torch's own Linear -> ReLU -> Linear holding the same weights (keys 0.* and 2.*)."""
    (H, D), C = sd["fc1.weight"].shape, sd["fc2.weight"].shape[0]
    twin = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C)).to(sd["fc1.weight"].dtype)
    twin.load_state_dict({k.replace("fc1.", "0.").replace("fc2.", "2."): v for k, v in sd.items()})
    return twin


def assert_logits(y, lead: tuple, C: int, dtype, name: str = "logits") -> torch.Tensor:
    return assert_shape(y, (*lead, C), name, dtype=dtype)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes)
def test_output_shape_and_dtype(candidate, N, D, H, C, data_seed):
    g = generator(data_seed)
    m = candidate.SimpleNetwork(D, H, C)
    x = torch.randn(N, D, generator=g)
    y = assert_logits(m(x), (N,), C, torch.float32, f"logits for x of shape {(N, D)} (D={D}, H={H}, C={C})")
    assert_finite(y, "logits")


@pytest.mark.category("shape")
@given(lead=leading_dims, D=sizes["D"], C=sizes["C"], data_seed=sizes["data_seed"])
def test_leading_dims_are_batch_dims(candidate, lead, D, C, data_seed):
    """Like nn.Linear: (*, D) -> (*, C), including a single unbatched vector (D,) -> (C,)."""
    g = generator(data_seed)
    m = candidate.SimpleNetwork(D, 5, C)
    x = torch.randn(*lead, D, generator=g)
    assert_logits(m(x), lead, C, torch.float32, f"logits for x of shape {tuple(x.shape)} "
                  f"(leading dims are batch dims, as for nn.Linear; do not flatten with x.view(x.size(0), -1))")


@pytest.mark.category("shape")
@given(D=sizes["D"], H=sizes["H"], C=sizes["C"])
def test_parameters_follow_the_interface(candidate, D, H, C):
    m = candidate.SimpleNetwork(D, H, C)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = expected_shapes(D, H, C)
    assert got == expected, (f"state_dict (name: shape) should be exactly {expected} for input_size={D}, "
                             f"hidden_size={H}, num_classes={C}; got {got}")


@pytest.mark.category("shape")
@given(D=st.integers(1, 40), H=st.integers(1, 40), C=st.integers(1, 12), data_seed=sizes["data_seed"])
def test_parameter_count_formula(candidate, D, H, C, data_seed):
    """Parameters counted here from the state_dict and the trainable parameters the worker reports."""
    m = candidate.SimpleNetwork(D, H, C)
    formula = D * H + H + H * C + C
    in_state_dict = sum(v.numel() for v in m.state_dict().values())
    assert in_state_dict == formula, (
        f"parameter count for input_size={D}, hidden_size={H}, num_classes={C}: the state_dict holds "
        f"{in_state_dict} numbers, expected D*H + H + H*C + C = {formula} (two nn.Linear layers with bias)")
    grads = candidate.lib.grads(m, [torch.randn(2, D, generator=generator(data_seed))])["param_grads"]
    trainable = sum(g.numel() for g in grads.values() if g is not None)
    assert trainable == formula, (
        f"trainable parameter count: a backward pass reached {trainable} numbers, expected {formula}; "
        f"gradient shapes by parameter (None: no gradient): "
        f"{ {k: None if g is None else tuple(g.shape) for k, g in grads.items()} }")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes)
def test_matches_reference(candidate, reference, N, D, H, C, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, D, H, C, g)
    x = torch.randn(N, D, generator=g, dtype=f64)
    with torch.no_grad():
        expected = ref(x)
    assert_close(cand(x), expected, "logits vs reference")


@pytest.mark.category("equivalence")
@given(**sizes)
def test_matches_sequential_linear_relu_linear(candidate, N, D, H, C, data_seed):
    g = generator(data_seed)
    sd = random_state_dict(D, H, C, g)
    cand = candidate.SimpleNetwork(D, H, C).to(f64)
    cand.load_state_dict(sd)
    x = torch.randn(N, D, generator=g, dtype=f64)
    with torch.no_grad():
        expected = sequential_twin(sd)(x)
    assert_close(cand(x), expected, "logits vs nn.Sequential(Linear, ReLU, Linear) with the same weights")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes)
def test_gradients_match_reference(candidate, reference, N, D, H, C, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, D, H, C, g)
    x = torch.randn(N, D, generator=g, dtype=f64)
    grad_out = torch.randn(N, C, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), ref, x, {}, grad_out)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("N, D, H, C", [(3, 4, 5, 3), (1, 1, 7, 2)])
def test_gradients_match_finite_differences(candidate, seed, N, D, H, C):
    g = generator(seed * 100 + D)
    sd = random_state_dict(D, H, C, g)
    cand = candidate.SimpleNetwork(D, H, C).to(f64)
    x = torch.randn(N, D, generator=g, dtype=f64)
    grad_out = torch.randn(N, C, generator=g, dtype=f64)
    check_finite_differences(candidate, cand, sd, x, {}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
HIDDEN = 16
TRAIN = dict(steps=100, lr=3e-2, batch_size=64)


def rings(n: int, center: torch.Tensor, g: torch.Generator):
    """Class 0 uniform on a disk of radius 0.5, class 1 on the annulus 1.0 < r < 1.5, around
    `center`. No line separates them: the best linear classifier gets about 70% right."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1) + center, label  # (n, 2), (n,)


@pytest.mark.category("convergence")
def test_learns_concentric_rings(candidate, reference, seed, artifacts):
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        center = 2 * torch.rand(2, generator=g) - 1
        x_train, y_train = rings(512, center, g)
        x_test, y_test = rings(512, center, g)
        with seeded(s):
            ref_model = reference.SimpleNetwork(2, HIDDEN, 2)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        model = candidate.SimpleNetwork(2, HIDDEN, 2)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, 2), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.95:  # the reference is trained only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your network reaches {accuracy:.1%} held-out "
            f"accuracy on two concentric rings (the best linear classifier gets about 70%); the reference, from the same "
            f"initial weights, reaches {ref_accuracy:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**{**sizes, "N": st.integers(2, 6)}, data=st.data())
def test_rows_are_independent(candidate, reference, N, D, H, C, data_seed, data):
    """Row i's logits depend on row i only: not on the other rows, nor on the batch size."""
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, D, H, C, g)
    x = torch.randn(N, D, generator=g, dtype=f64)
    i = data.draw(st.integers(0, N - 1), label="row i")
    y = assert_logits(cand(x), (N,), C, f64)
    x_changed = torch.randn(N, D, generator=g, dtype=f64)
    x_changed[i] = x[i]
    after = assert_logits(cand(x_changed), (N,), C, f64)
    assert_close(after[i], y[i], f"logits of row {i} after changing every other row (rows must not interact: "
                 "no softmax or normalization over the batch dim)")
    alone = assert_logits(cand(x[i:i + 1]), (1,), C, f64)
    assert_close(alone[0], y[i], f"logits of row {i} computed alone vs in a batch of {N}")


@pytest.mark.category("property")
@given(lead=leading_dims, D=sizes["D"], C=sizes["C"], data_seed=sizes["data_seed"])
def test_leading_dims_act_as_a_batch(candidate, reference, lead, D, C, data_seed):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, D, 5, C, g)
    x = torch.randn(*lead, D, generator=g, dtype=f64)
    flat = assert_logits(cand(x.reshape(-1, D)), (math.prod(lead),), C, f64, "logits for the flattened (M, D) input")
    got = assert_logits(cand(x), lead, C, f64, f"logits for x of shape {tuple(x.shape)}")
    assert_close(got, flat.reshape(*lead, C), f"logits for x of shape {tuple(x.shape)} vs the same rows as one "
                 "flat (M, D) batch")


@pytest.mark.category("property")
@given(**sizes)
def test_outputs_are_raw_logits(candidate, reference, N, D, H, C, data_seed):
    """fc2's output is returned as is: adding c to fc2.bias adds exactly c to every logit
    (false after a softmax, which ignores shifts, or after a ReLU/sigmoid, which bend them)."""
    g = generator(data_seed)
    cand, _, sd = build(candidate, reference, D, H, C, g)
    x = torch.randn(N, D, generator=g, dtype=f64)
    y = assert_logits(cand(x), (N,), C, f64)
    for sign in (1, -1):
        c = sign * (2.0 + 3.0 * float(torch.rand((), generator=g, dtype=f64)))
        cand.load_state_dict({**sd, "fc2.bias": sd["fc2.bias"] + c})
        assert_close(cand(x), y + c, f"logits after adding {c:.3f} to fc2.bias vs the original logits + {c:.3f} "
                     "(forward must return fc2's raw output: no softmax, sigmoid or ReLU after fc2)")


@pytest.mark.category("property")
def test_hidden_units_with_negative_input_are_off(candidate, reference, seed):
    """ReLU outputs exactly 0 for a negative pre-activation: when fc1.bias is so negative that
    every hidden pre-activation is < 0, the logits are exactly fc2.bias for every input."""
    g = generator(seed)
    N, D, H, C = 5, 4, 6, 3
    cand, _, sd = build(candidate, reference, D, H, C, g)
    cand.load_state_dict({**sd, "fc1.bias": -50.0 - torch.rand(H, generator=g, dtype=f64)})
    x = torch.randn(N, D, generator=g, dtype=f64)
    assert_close(cand(x), sd["fc2.bias"].expand(N, C), "logits when every hidden pre-activation is negative "
                 "(should be fc2.bias exactly: the ReLU zeroes every hidden unit)")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    g = generator(seed)
    m = candidate.SimpleNetwork(6, 8, 3)
    x = torch.randn(4, 6, generator=g)
    _, args_after, _ = m.call_checked(x)
    assert_unchanged(args_after[0], x, "x after forward (modified in place)")
