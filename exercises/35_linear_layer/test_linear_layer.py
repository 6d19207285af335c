"""Suite for 35_linear_layer: Linear vs F.linear and the reference with the same weights (outputs, gradients), finite
differences, a classification task, and torch's initialization U(±1/sqrt(in_features)) by seeded statistical bounds."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader import kit
from grader.kit import Mismatch, assert_close, assert_finite, assert_shape, f64, given_cases

leading_dims = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


class Lin(kit.Case):
    """x (*lead, in_features) through Linear(in_features, out_features, bias)."""

    lead: tuple
    in_features: int
    out_features: int
    bias: bool

    def build(self, candidate, reference):
        """Candidate and reference with the same random weights, the weights, x (float64), the generator."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.Linear(self.in_features, self.out_features, bias=self.bias),
                                  candidate, reference, g)
        return cand, ref, sd, torch.randn(*self.lead, self.in_features, generator=g, dtype=f64), g


def lins(lead=leading_dims, size=st.integers(1, 9)):
    return kit.builds(Lin, lead=lead, in_features=size, out_features=size, bias=st.booleans())


def shapes(in_features: int, out_features: int, bias: bool) -> dict:
    return {"weight": (out_features, in_features), **({"bias": (out_features,)} if bias else {})}


def assert_init(values, in_features: int, name: str, uniform: bool = False) -> None:
    """Within ±1/sqrt(in_features) and, when `uniform`, distributed as U(-1/sqrt(in), 1/sqrt(in)) (KS test)."""
    bound = in_features ** -0.5
    kit.assert_within(values, bound, name, " = ±1/sqrt(in_features), torch's initialization range of weight and bias")
    if uniform:
        kit.assert_uniform(values, bound, name, " (±1/sqrt(in_features))")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(lins())
def test_output_shape_and_dtype(candidate, case):
    """(*, in_features) -> (*, out_features), including a single unbatched vector."""
    y = candidate.Linear(case.in_features, case.out_features, bias=case.bias)(
        torch.randn(*case.lead, case.in_features, generator=case.generator()))
    assert_finite(assert_shape(y, (*case.lead, case.out_features), "output (every leading dim is a batch dim: do not "
                               "flatten them)", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@given_cases(lins())
def test_parameters_follow_the_interface(candidate, case):
    i, o, bias = case.in_features, case.out_features, case.bias
    m = candidate.Linear(i, o, bias=bias)
    kit.assert_state_shapes(m, shapes(i, o, bias), f"Linear({i}, {o}, bias={bias}) (the weight is stored "
                            "(out_features, in_features), as torch does)")
    kit.assert_attributes(m, {"in_features": i, "out_features": o, **({} if bias else {"bias": None})},
                          f"Linear({i}, {o}, bias={bias}) (without a bias: register_parameter('bias', None))")


@pytest.mark.category("shape")
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_are_trainable(candidate, seed, bias):
    """weight (and bias) are nn.Parameters: a backward pass reaches exactly them, and `.to(float64)` converts them."""
    g = kit.generator(seed)
    m = candidate.Linear(5, 3, bias=bias)
    kit.assert_trainable(candidate, m, [torch.randn(4, 5, generator=g)], shapes(5, 3, bias), f"Linear(5, 3, {bias=})")
    assert_shape(m.to(f64)(torch.randn(4, 5, generator=g, dtype=f64)), (4, 3), "output after .to(float64)", dtype=f64)
    assert_shape(m.weight, (3, 5), "weight after .to(torch.float64)", dtype=f64)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(lins())
def test_matches_torch_functional_linear(candidate, reference, case):
    cand, _, sd, x, _ = case.build(candidate, reference)
    assert_close(cand(x), F.linear(x, sd["weight"], sd.get("bias")), "output vs F.linear with the same weights")


@pytest.mark.category("equivalence")
@given_cases(lins())
def test_matches_reference(candidate, reference, case):
    cand, ref, _, x, _ = case.build(candidate, reference)
    assert_close(cand(x), ref(x), "output vs reference")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(lins(lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)))
def test_gradients_match_torch_functional_linear(candidate, reference, case):
    """Gradients w.r.t. x, weight and bias equal autograd's through F.linear (nn.Linear's forward)."""
    cand, _, sd, x, g = case.build(candidate, reference)
    oracle = kit.load(torch.nn.Linear(case.in_features, case.out_features, bias=case.bias), sd, f64)
    kit.check_gradients(candidate, cand, oracle, {"x": x}, g=g, against="F.linear")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("lead, in_features, out_features, bias",
                         [((3,), 4, 2, True), ((1,), 1, 1, True), ((2, 3), 5, 4, False), ((), 3, 6, True)])
def test_gradients_match_finite_differences(candidate, reference, seed, lead, in_features, out_features, bias):
    case = Lin(lead, in_features, out_features, bias, data_seed=seed * 100 + in_features)
    cand, _, sd, x, g = case.build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
D, CLASSES = 5, 3


def blobs(g: torch.Generator):
    """512 training and 512 held-out points of three Gaussian blobs (std 1) 5*sqrt(2) apart (overlap about
    0.05%), shifted away from the origin so that the bias matters."""
    directions = torch.linalg.qr(torch.randn(D, D, generator=g)).Q[:CLASSES]  # (C, D) orthonormal rows
    centers = 5.0 * directions + 2.0 * torch.randn(D, generator=g)  # (C, D)

    def draw():
        label = torch.randint(CLASSES, (512,), generator=g)
        return centers[label] + torch.randn(512, D, generator=g), label  # (n, D), (n,)

    return (*draw(), *draw())


@pytest.mark.category("convergence")
def test_learns_linearly_separable_classes(candidate, reference, seed, artifacts):
    """Softmax regression: the layer alone, trained with Adam on cross-entropy, separates three Gaussian blobs."""
    kit.check_convergence(candidate, artifacts, seed, runs=3, threshold=0.95, task=blobs,
                          models=lambda s, run: kit.same_init(candidate.Linear(D, CLASSES),
                                                              lambda: reference.Linear(D, CLASSES), s),
                          train=dict(steps=100, lr=5e-2, batch_size=64), subject="your layer",
                          goal="on three Gaussian blobs")


# -- properties: initialization --------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(lins(size=st.integers(1, 64)))
def test_initialization_within_bounds(candidate, case):
    """Every initial value lies in [-1/sqrt(in_features), 1/sqrt(in_features)] (fan_in, not fan_out)."""
    sd = candidate.Linear(case.in_features, case.out_features, bias=case.bias).state_dict()
    for name, shape in shapes(case.in_features, case.out_features, case.bias).items():
        assert_init(assert_shape(sd.get(name), shape, name), case.in_features, f"initial {name}")


@pytest.mark.category("property")
@pytest.mark.parametrize("in_features, out_features", [(64, 256), (1024, 16), (9, 2048)])
def test_initial_weight_distribution(candidate, in_features, out_features):
    """The weight is U(±1/sqrt(in)) (kaiming_uniform_, a=sqrt(5)): range, spread (variance 1/(3 in)) and shape."""
    w = assert_shape(candidate.Linear(in_features, out_features).weight, (out_features, in_features), "weight")
    assert_init(w, in_features, f"initial weight of Linear({in_features}, {out_features})", uniform=True)


@pytest.mark.category("property")
@pytest.mark.parametrize("in_features, out_features", [(9, 4096), (400, 2048)])
def test_initial_bias_distribution(candidate, in_features, out_features):
    """The bias is U(-1/sqrt(in), 1/sqrt(in)) as in torch (not zeros, not 1/in)."""
    b = assert_shape(candidate.Linear(in_features, out_features).bias, (out_features,), "bias")
    assert_init(b, in_features, f"initial bias of Linear({in_features}, {out_features})", uniform=True)


@pytest.mark.category("property")
def test_initialization_follows_the_global_seed(candidate, seed):
    """Like torch's layers: the same torch.manual_seed gives the same weights; two layers built in a row differ."""
    kit.assert_follows_global_seed(candidate, lambda: candidate.Linear(6, 4), seed, ["weight", "bias"], "Linear(6, 4)")


@pytest.mark.category("property")
@pytest.mark.parametrize("bias", [True, False])
def test_reset_parameters_redraws_in_place(candidate, seed, bias):
    """reset_parameters() redraws weight (and bias) within the bounds, in the same Parameter
    objects: an optimizer built before the reset still trains the layer afterwards."""
    g, lr = kit.generator(seed), 0.5
    m = candidate.Linear(7, 5, bias=bias)
    optimizer = candidate.lib.make("torch.optim.SGD", m.parameters(), lr=lr)
    loaded = {k: torch.full(v, 10.0) for k, v in shapes(7, 5, bias).items()}
    m.load_state_dict(loaded)
    m.reset_parameters()
    after_reset = m.state_dict()
    for name, value in loaded.items():
        assert_init(assert_shape(after_reset.get(name), value.shape, f"{name} after reset_parameters()"), 7,
                    f"{name} after loading 10.0 everywhere and calling reset_parameters()")
    m.reset_parameters()
    if torch.equal(m.state_dict()["weight"], after_reset["weight"]):
        raise Mismatch("weight: two calls of reset_parameters() gave identical values; each call must draw anew")
    before_step = m.state_dict()
    grads = candidate.lib.grads(m, [torch.randn(3, 7, generator=g)], {}, torch.randn(3, 5, generator=g))["param_grads"]
    optimizer.step()
    for name in kit.require_gradients(grads, loaded):
        assert_close(m.state_dict()[name], before_step[name] - lr * grads[name], f"{name} after one SGD step (lr={lr})"
                     " of an optimizer built before reset_parameters() (reset must fill the existing Parameters in "
                     "place, e.g. with torch.no_grad() and uniform_, not assign new nn.Parameters the optimizer lacks)")


# -- properties: forward ---------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(lins(lead=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)))
def test_leading_dims_act_as_a_batch(candidate, reference, case):
    m, _, _, x, _ = case.build(candidate, reference)
    rows = x.reshape(-1, case.in_features)  # (M, in_features)
    flat = assert_shape(m(rows), (len(rows), case.out_features), "output for the (M, in_features) rows", dtype=f64)
    assert_close(m(x), flat.reshape(*case.lead, case.out_features),
                 f"output for x of shape {tuple(x.shape)} vs the same rows as one flat (M, in_features) batch")
    assert_close(m(rows[0]), flat[0], "output for a single vector (in_features,) vs the same row in a batch")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    kit.assert_inputs_unchanged(candidate.Linear(6, 4), {"x": torch.randn(2, 3, 6, generator=kit.generator(seed))},
                                what="forward")
