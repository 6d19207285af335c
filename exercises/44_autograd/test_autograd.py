"""Suite for 44_autograd: SiLUFunction, StraightThroughRound (custom autograd Functions) and jacobian(f, x) vs the
reference, F.silu, torch.round, gradcheck and torch.autograd.functional.jacobian (test functions: support.py)."""
import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch.autograd.functional import jacobian as oracle_jacobian
from torch.autograd.gradcheck import GradcheckError

from grader import kit
from grader.kit import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
FUNCTIONS, SILU_ROUND = ["affine", *support.FUNCTIONS], ["SiLUFunction", "StraightThroughRound"]


class At(kit.Case):
    """x of `shape` (0-dim too) and `dtype`; `name`: the function of support.py to differentiate."""

    shape: tuple
    dtype: torch.dtype = f64
    name: str = "affine"
    data_seed: int = dataclasses.field(default=0, kw_only=True)  # seeds case.generator()

    def x(self, g, scale=1.5, ties=False) -> torch.Tensor:
        x = scale * torch.randn(self.shape, generator=g, dtype=self.dtype)
        halves = torch.randint(-6, 6, x.shape, generator=g).to(x.dtype) + 0.5
        return torch.where(torch.rand(x.shape, generator=g) < 0.35, halves, x) if ties else x

    def functions(self, candidate, x, g) -> tuple:
        """The function `name` in the worker (a handle for your jacobian) and here (affine: random W, b)."""
        m = int(torch.randint(1, 5, (), generator=g))
        params = (torch.randn(m, x.numel(), generator=g, dtype=x.dtype), torch.randn(m, generator=g, dtype=x.dtype)) \
            if self.name == "affine" else ()
        return candidate.lib.support("make_function", self.name, *params), support.make_function(self.name, *params)


def ats(dtype=st.sampled_from([torch.float32, f64]), name=st.sampled_from(FUNCTIONS)):
    return st.builds(At, shape=st.lists(st.integers(1, 3), max_size=3).map(tuple), dtype=dtype, name=name,
                     data_seed=kit.data_seeds)


def grad_of(fn, x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    fn(x).backward(grad_output)
    return x.grad


def remote_function(candidate, apply):
    """A Function here whose forward and backward values come from your Function in the worker (for gradcheck)."""
    class Remote(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return assert_shape(apply(x), x.shape, "forward output", dtype=x.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            got = candidate.lib.grads(apply, [ctx.saved_tensors[0]], {}, grad_output)["input_grads"][0]
            return assert_shape(got, grad_output.shape, "gradient w.r.t. x", dtype=grad_output.dtype)
    return Remote.apply


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(ats(), which=st.sampled_from(SILU_ROUND))
def test_functions_keep_shape_and_dtype(candidate, case, which):
    g = case.generator()
    x = case.x(g)
    got = candidate.lib.grads(getattr(candidate, which).apply, [x], {}, case.x(g, scale=1.0))
    for value, what in ((got["output"], f"{which}.apply(x)"), (got["input_grads"][0], f"gradient of {which}.apply")):
        assert_finite(assert_shape(value, x.shape, what, dtype=x.dtype), what)


@pytest.mark.category("shape")
def test_functions_are_custom_autograd_functions(candidate, seed):
    for which in SILU_ROUND:
        x = At((3, 4)).x(kit.generator(seed))
        info = candidate.lib.support("autograd_function_info", getattr(candidate, which), x)
        assert info["is_function"] and info["grad_fn"] == f"{info['class_name']}Backward", (
            f"{which} must subclass torch.autograd.Function and {which}.apply(x).grad_fn be autograd's node for it "
            f"({info['class_name']}Backward); got is_function={info['is_function']}, grad_fn={info['grad_fn']}")


@pytest.mark.category("shape")
@given_cases(ats())
def test_jacobian_shape(candidate, case):
    g = case.generator()
    x = case.x(g)
    f_remote, f_local = case.functions(candidate, x, g)
    assert_finite(assert_shape(candidate.jacobian(f_remote, x), (*f_local(x).shape, *x.shape),
                               f"jacobian (f(x) of shape {tuple(f_local(x).shape)})", dtype=x.dtype), "jacobian")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(ats(dtype=st.just(f64)))
def test_silu_matches_reference_and_torch_silu(candidate, reference, case):
    x = case.x(case.generator(), scale=3.0)
    got = candidate.SiLUFunction.apply(x)
    assert_close(got, reference.SiLUFunction.apply(x), "SiLUFunction.apply(x) vs reference")
    assert_close(got, F.silu(x), "SiLUFunction.apply(x) vs F.silu(x)")


@pytest.mark.category("equivalence")
@given_cases(ats())
def test_round_matches_torch_round(candidate, reference, case):
    """Exactly torch.round: halves go to the nearest EVEN integer (0.5 -> 0, 1.5 -> 2, -2.5 -> -2)."""
    x = case.x(case.generator(), scale=4.0, ties=True)
    got = candidate.StraightThroughRound.apply(x)
    assert_equal(got, torch.round(x), f"StraightThroughRound.apply(x) vs torch.round(x) at {x.flatten()[:8].tolist()}")
    assert_equal(got, reference.StraightThroughRound.apply(x), "StraightThroughRound.apply(x) vs reference")


@pytest.mark.category("equivalence")
@given_cases(ats(dtype=st.just(f64)))
def test_jacobian_matches_reference(candidate, reference, case):
    g = case.generator()
    x = case.x(g)
    f_remote, f_local = case.functions(candidate, x, g)
    assert_close(candidate.jacobian(f_remote, x), reference.jacobian(f_local, x), "jacobian vs reference")


@pytest.mark.category("equivalence")
@given_cases(ats())
def test_jacobian_matches_torch_autograd_functional(candidate, case):
    g = case.generator()
    x = case.x(g)
    f_remote, f_local = case.functions(candidate, x, g)
    assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x), "jacobian vs torch.autograd.functional")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(ats(dtype=st.just(f64)))
def test_silu_gradient_matches_reference_and_torch_silu(candidate, reference, case):
    g = case.generator()
    x, grad_out = case.x(g, scale=3.0), torch.randn(case.shape, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.SiLUFunction.apply, [x], {}, grad_out)["input_grads"][0]
    assert_close(got, grad_of(reference.SiLUFunction.apply, x, grad_out), "SiLU gradient w.r.t. x vs reference")
    assert_close(got, grad_of(F.silu, x, grad_out), "SiLU gradient w.r.t. x vs autograd through F.silu")


@pytest.mark.category("gradient")
def test_silu_passes_gradcheck(candidate, seed):
    g, apply = kit.generator(seed), remote_function(candidate, candidate.SiLUFunction.apply)
    for shape in [(), (5,), (2, 3, 2)]:
        try:
            torch.autograd.gradcheck(apply, (At(shape).x(g, 3.0).requires_grad_(),), eps=1e-6, atol=1e-7, rtol=1e-5)
        except GradcheckError as e:
            raise Mismatch(f"torch.autograd.gradcheck of SiLUFunction at x of shape {shape} failed:\n{e}") from None


@pytest.mark.category("gradient")
@given_cases(ats())
def test_round_gradient_is_passed_straight_through(candidate, reference, case):
    """d loss/d x = d loss/d round(x) unchanged, for every x (ties too): not 0, not 1, not clipped."""
    g = case.generator()
    x, grad_out = case.x(g, scale=10.0, ties=True), torch.randn(case.shape, generator=g, dtype=case.dtype)
    got = candidate.lib.grads(candidate.StraightThroughRound.apply, [x], {}, grad_out)["input_grads"][0]
    assert_equal(got, grad_out, "StraightThroughRound gradient w.r.t. x vs the upstream gradient (straight through)")
    assert_equal(got, grad_of(reference.StraightThroughRound.apply, x, grad_out), "rounding's gradient vs reference")


# -- convergence -----------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_straight_through_rounding_trains_a_quantized_classifier(candidate, reference, seed, artifacts):
    """Weights rounded to multiples of 0.5 in every forward pass; the reference reaches 93% to 95%."""
    kit.check_convergence(
        candidate, artifacts, seed, runs=3, threshold=0.85, train=dict(steps=150, lr=5e-2, batch_size=64),
        models=lambda s, run: kit.same_init(
            candidate.lib.support("QuantizedLinear", candidate.StraightThroughRound.apply, 8, 4, 0.5),
            lambda: support.QuantizedLinear(reference.StraightThroughRound.apply, 8, 4, 0.5), s),
        task=support.teacher_task, subject="a quantized classifier trained through your StraightThroughRound",
        goal="on a linear rule (a zero gradient leaves about 30%)")


@pytest.mark.category("convergence")
def test_silu_network_learns_concentric_rings(candidate, reference, seed, artifacts):
    kit.check_convergence(
        candidate, artifacts, seed, runs=3, threshold=0.95, train=dict(steps=100, lr=3e-2, batch_size=64),
        models=lambda s, run: kit.same_init(candidate.lib.support("ActivationMLP", candidate.SiLUFunction.apply, 2, 16,
                                                                  2),
                                            lambda: support.ActivationMLP(reference.SiLUFunction.apply, 2, 16, 2), s),
        task=support.rings_task, subject="a 2-16-2 network with your SiLUFunction", goal="on two concentric rings")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
def test_silu_is_stable_at_large_inputs(candidate, seed):
    """exp(1000) overflows even in float64 (exp(x) / (1 + exp(x)) = NaN there)."""
    big = torch.tensor([-1000.0, -300.0, -100.0, -40.0, -20.0, 20.0, 40.0, 100.0, 300.0, 1000.0], dtype=f64)
    for dtype in (torch.float32, f64):
        x = torch.cat([big, At((6,)).x(kit.generator(seed), scale=3.0)]).to(dtype)
        got, at = candidate.lib.grads(candidate.SiLUFunction.apply, [x], {}, torch.ones_like(x)), f"{dtype}, {x.tolist()}"
        assert_close(got["output"], F.silu(x.double()).to(dtype), f"SiLU(x) {at} vs F.silu in float64")
        assert_close(got["input_grads"][0], grad_of(F.silu, x.double(), torch.ones_like(x.double())).to(dtype),
                     f"SiLU gradient {at} vs autograd through F.silu in float64")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    x = At((3, 5), torch.float32).x(kit.generator(seed), scale=3.0)
    for which in SILU_ROUND:
        kit.assert_inputs_unchanged(getattr(candidate, which).apply, {"x": x}, what=f"{which}.apply(x)")


@pytest.mark.category("property")
def test_silu_backward_never_uses_an_input_changed_in_place(candidate, reference, seed):
    """y = SiLU(z); z += 1 in place; y.backward(): raise (save_for_backward checks versions) or use the original z."""
    g = kit.generator(seed)
    x, grad_out = At((2, 4)).x(g, scale=2.0), torch.randn(2, 4, generator=g, dtype=f64)
    got = candidate.lib.support("backward_after_inplace_change", candidate.SiLUFunction.apply, x, grad_out, 1.0)
    if not got["raised"]:
        assert_close(got["grad"], grad_of(reference.SiLUFunction.apply, x, grad_out), "SiLU gradient after an in-place "
                     "change of the input (must be the gradient at the original input, or an error)")


@pytest.mark.category("property")
def test_jacobian_follows_data_dependent_control_flow(candidate, seed):
    """f branches, loops and picks its output's length from x's values: the Jacobian of the path taken at x."""
    g = kit.generator(seed)
    for name, sign, scale in itertools.product(["control_flow", "above_median", "sorted_weighted"], [1, -1], [.3, 5, 60]):
        x = sign * scale * (torch.rand(2, 3, generator=g, dtype=f64) + 0.1)
        f_remote, f_local = candidate.lib.support("make_function", name), support.make_function(name)
        assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x), f"jacobian of {name} at x = "
                     f"{sign:+d} * {scale:g} * (U(0,1) + 0.1) (f(x) of shape {tuple(f_local(x).shape)})")


@pytest.mark.category("property")
@given_cases(ats(dtype=st.just(f64), name=st.just("affine")))
def test_jacobian_of_an_affine_map_is_its_matrix(candidate, case):
    g = case.generator()
    x, m = case.x(g), int(torch.randint(1, 5, (), generator=g))
    W, b = torch.randn(m, x.numel(), generator=g, dtype=f64), torch.randn(m, generator=g, dtype=f64)
    for k, x in enumerate((x, case.x(g, scale=10.0)), 1):
        assert_close(candidate.jacobian(candidate.lib.support("make_function", "affine", W, b), x),
                     W.reshape(m, *case.shape), f"jacobian of x -> W @ x.flatten() + b at point {k} vs W")


@pytest.mark.category("property")
def test_jacobian_is_autograds_not_finite_differences(candidate, seed):
    """2 * x.detach() + sin(x): autograd says diag(cos x), finite differences diag(cos x + 2); exact in float32 too."""
    g = kit.generator(seed)
    for dtype in (torch.float32, f64):
        x = At((2, 3), dtype).x(g)
        for name, diagonal in (("detached_part", torch.cos(x)), ("elementwise", x * torch.cos(x) + torch.sin(x))):
            assert_close(candidate.jacobian(candidate.lib.support("make_function", name), x), torch.diag(
                diagonal.reshape(-1)).reshape(2, 3, 2, 3), f"jacobian of support.{name} ({dtype}) vs its diagonal")


@pytest.mark.category("property")
def test_jacobian_of_outputs_that_ignore_x_is_zero(candidate, seed):
    g = kit.generator(seed)
    for name in ("partly_constant", "constant"):
        x = At((3, 2)).x(g)
        f_remote, f_local = At((3, 2), name=name).functions(candidate, x, g)
        assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x), f"jacobian of {name}")


@pytest.mark.category("property")
def test_jacobian_leaves_its_input_alone(candidate, seed):
    g = kit.generator(seed)
    x = At((2, 3)).x(g)
    f_remote, f_local = At((2, 3), name="outer").functions(candidate, x, g)
    for mode in ("plain", "leaf", "non_leaf", "no_grad"):
        got = candidate.lib.support("jacobian_input_effects", candidate.jacobian, f_remote, x, mode)
        assert_close(got["J"], oracle_jacobian(f_local, x), f"jacobian of outer(x) with x passed as {mode!r}")
        kit.assert_unchanged(got["values"], x, f"the caller's x ({mode}) after jacobian (modified in place)")
        assert got["requires_grad"] == (mode in ("leaf", "non_leaf")) and got["leaf_grad"] is None, (
            f"the caller's x ({mode}) after jacobian: requires_grad={got['requires_grad']}, .grad "
            f"{got['leaf_grad']} (work on x.detach().requires_grad_(), and use torch.autograd.grad)")
