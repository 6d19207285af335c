"""Suite for 01_simple_network: SimpleNetwork (fc1 -> ReLU -> fc2, raw logits) vs the reference and an
nn.Sequential(Linear, ReLU, Linear) twin with the same weights; gradients; a task no linear model learns;
the properties of a per-row classifier. Leading dims of x are batch dims, as for nn.Linear."""
import math

import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_shape, f64, given_cases

ROWS = st.integers(1, 6).map(lambda n: (n,))
LEADS = st.lists(st.integers(1, 3), max_size=3).map(tuple)  # () is one unbatched vector (D,) -> (C,)


class Net(kit.Case):
    """x of shape (*lead, D) through SimpleNetwork(D, H, C)."""

    lead: tuple
    D: int
    H: int
    C: int
    data_seed: int

    def x(self, g, dtype=f64):
        return torch.randn(*self.lead, self.D, generator=g, dtype=dtype)

    def logits(self, y, dtype=f64, name="logits"):
        return assert_shape(y, (*self.lead, self.C), f"{name} for x of shape {(*self.lead, self.D)}", dtype=dtype)

    def build(self, candidate, reference):
        """Candidate and reference with the same random weights, the weights, x, the generator."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.SimpleNetwork(self.D, self.H, self.C), candidate, reference, g)
        return cand, ref, sd, self.x(g), g


def nets(lead=ROWS, H=st.integers(1, 9)):
    return st.builds(Net, lead=lead, D=st.integers(1, 7), H=H, C=st.integers(1, 5), data_seed=kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(nets())
def test_output_shape_and_dtype(candidate, case):
    y = candidate.SimpleNetwork(case.D, case.H, case.C)(case.x(case.generator(), torch.float32))
    kit.assert_finite(case.logits(y, torch.float32), "logits")


@pytest.mark.category("shape")
@given_cases(nets(lead=LEADS, H=st.just(5)))
def test_leading_dims_are_batch_dims(candidate, case):
    """Like nn.Linear: (*, D) -> (*, C), including a single unbatched vector (D,) -> (C,)."""
    y = candidate.SimpleNetwork(case.D, case.H, case.C)(case.x(case.generator(), torch.float32))
    case.logits(y, torch.float32, "logits (leading dims are batch dims, as for nn.Linear; do not flatten with "
                "x.view(x.size(0), -1))")


@pytest.mark.category("shape")
@given_cases(nets())
def test_parameters_follow_the_interface(candidate, reference, case):
    kit.assert_state_shapes(candidate.SimpleNetwork(case.D, case.H, case.C),
                            reference.SimpleNetwork(case.D, case.H, case.C), "SimpleNetwork (fc1, fc2: nn.Linear)")


@pytest.mark.category("shape")
@given_cases(nets(H=st.integers(1, 40)))
def test_parameter_count_formula(candidate, case):
    """Parameters counted here from the state_dict and the trainable parameters the worker reports."""
    D, H, C = case.D, case.H, case.C
    m, formula = candidate.SimpleNetwork(D, H, C), D * H + H + H * C + C
    in_state_dict = sum(v.numel() for v in m.state_dict().values())
    assert in_state_dict == formula, (f"the state_dict holds {in_state_dict} numbers, expected D*H + H + H*C + C = "
                                      f"{formula} (two nn.Linear layers with bias)")
    grads = candidate.lib.grads(m, [case.x(case.generator(), torch.float32)])["param_grads"]
    trainable, shapes = sum(g.numel() for g in grads.values() if g is not None), {
        k: None if g is None else tuple(g.shape) for k, g in grads.items()}
    assert trainable == formula, (f"trainable parameter count: a backward pass reached {trainable} numbers, expected "
                                  f"{formula}; gradient shapes by parameter (None: no gradient): {shapes}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(nets())
def test_matches_reference(candidate, reference, case):
    cand, ref, _, x, _ = case.build(candidate, reference)
    assert_close(cand(x), ref(x).detach(), "logits vs reference")


@pytest.mark.category("equivalence")
@given_cases(nets())
def test_matches_sequential_linear_relu_linear(candidate, reference, case):
    cand, _, sd, x, _ = case.build(candidate, reference)
    twin = nn.Sequential(nn.Linear(case.D, case.H), nn.ReLU(), nn.Linear(case.H, case.C)).to(f64)
    twin.load_state_dict({k.replace("fc1.", "0.").replace("fc2.", "2."): v for k, v in sd.items()})
    assert_close(cand(x), twin(x).detach(), "logits vs nn.Sequential(Linear, ReLU, Linear) with the same weights")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(nets())
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, x, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"x": x}, g=g)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("N, D, H, C", [(3, 4, 5, 3), (1, 1, 7, 2)])
def test_gradients_match_finite_differences(candidate, reference, seed, N, D, H, C):
    cand, _, sd, x, g = Net((N,), D, H, C, seed * 100 + D).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
def rings(n: int, center: torch.Tensor, g: torch.Generator):
    """Class 0 uniform on a disk of radius 0.5, class 1 on the annulus 1.0 < r < 1.5, around
    `center`. No line separates them: the best linear classifier gets about 70% right."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1) + center, label  # (n, 2), (n,)


def rings_task(g: torch.Generator):
    center = 2 * torch.rand(2, generator=g) - 1
    return *rings(512, center, g), *rings(512, center, g)


@pytest.mark.category("convergence")
def test_learns_concentric_rings(candidate, reference, seed, artifacts):
    def models(s, run):
        return kit.same_init(candidate.SimpleNetwork(2, 16, 2), lambda: reference.SimpleNetwork(2, 16, 2), s)

    kit.check_convergence(candidate, artifacts, seed, models=models, task=rings_task, runs=3, threshold=0.95,
                          train=dict(steps=100, lr=3e-2, batch_size=64), subject="your network",
                          goal="on two concentric rings (the best linear classifier gets about 70%)")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(nets(lead=st.integers(2, 6).map(lambda n: (n,))), data=st.data())
def test_rows_are_independent(candidate, reference, case, data):
    """Row i's logits depend on row i only: not on the other rows, nor on the batch size."""
    cand, _, _, x, g = case.build(candidate, reference)
    i = data.draw(st.integers(0, case.lead[0] - 1), label="row i")
    y = case.logits(cand(x))
    x_changed = torch.where(torch.arange(len(x))[:, None] == i, x, case.x(g))
    assert_close(case.logits(cand(x_changed))[i], y[i], f"logits of row {i} after changing every other row (rows "
                 "must not interact: no softmax or normalization over the batch dim)")
    alone = assert_shape(cand(x[i:i + 1]), (1, case.C), f"logits for row {i} alone", dtype=f64)
    assert_close(alone[0], y[i], f"logits of row {i} computed alone vs in a batch of {len(x)}")


@pytest.mark.category("property")
@given_cases(nets(lead=LEADS, H=st.just(5)))
def test_leading_dims_act_as_a_batch(candidate, reference, case):
    cand, _, _, x, _ = case.build(candidate, reference)
    flat = cand(x.reshape(-1, case.D))
    flat = assert_shape(flat, (math.prod(case.lead), case.C), "logits for the flattened (M, D) input", dtype=f64)
    assert_close(case.logits(cand(x)), flat.reshape(*case.lead, case.C),
                 "logits vs the same rows as one flat (M, D) batch")


@pytest.mark.category("property")
@given_cases(nets())
def test_outputs_are_raw_logits(candidate, reference, case):
    """fc2's output is returned as is: adding c to fc2.bias adds exactly c to every logit
    (false after a softmax, which ignores shifts, or after a ReLU/sigmoid, which bend them)."""
    cand, _, sd, x, g = case.build(candidate, reference)
    y = case.logits(cand(x))
    for sign in (1, -1):
        c = sign * (2.0 + 3.0 * float(torch.rand((), generator=g, dtype=f64)))
        cand.load_state_dict({**sd, "fc2.bias": sd["fc2.bias"] + c})
        assert_close(cand(x), y + c, f"logits after adding {c:.3f} to fc2.bias vs the original logits + {c:.3f} "
                     "(forward must return fc2's raw output: no softmax, sigmoid or ReLU after fc2)")


@pytest.mark.category("property")
def test_hidden_units_with_negative_input_are_off(candidate, reference, seed):
    """ReLU outputs exactly 0 for a negative pre-activation: when fc1.bias is so negative that
    every hidden pre-activation is < 0, the logits are exactly fc2.bias for every input."""
    cand, _, sd, x, g = Net((5,), 4, 6, 3, seed).build(candidate, reference)
    cand.load_state_dict({**sd, "fc1.bias": -50.0 - torch.rand(6, generator=g, dtype=f64)})
    assert_close(cand(x), sd["fc2.bias"].expand(5, 3), "logits when every hidden pre-activation is negative "
                 "(should be fc2.bias exactly: the ReLU zeroes every hidden unit)")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    x = torch.randn(4, 6, generator=kit.generator(seed))
    kit.assert_inputs_unchanged(candidate.SimpleNetwork(6, 8, 3), {"x": x}, what="forward")
