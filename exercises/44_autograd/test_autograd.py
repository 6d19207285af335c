"""Suite for 44_autograd: SiLUFunction and StraightThroughRound (custom torch.autograd.Functions)
and jacobian(f, x), against the reference, F.silu, torch.round, torch.autograd.gradcheck and
torch.autograd.functional.jacobian, plus the properties a custom backward must have.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Functions to
differentiate and tiny models live in support.py: the worker builds them around your code
(`candidate.lib.support`), this process builds the same ones around the reference.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.autograd.gradcheck import GradcheckError

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.testing import exercise_support, generator, seeded, fit_and_check

S = exercise_support(__file__)
f64 = torch.float64
FUNCTION_NAMES = ["affine", *S.FUNCTIONS]

shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)  # includes 0-dim ()
dtypes = st.sampled_from([torch.float32, f64])
data_seeds = st.integers(0, 2**32 - 1)


# -- helpers ---------------------------------------------------------------------------------
def random_x(shape, g, dtype=f64, scale=1.5):
    return scale * torch.randn(shape, generator=g, dtype=dtype)


def with_ties(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """x with about a third of its entries replaced by exact halves (k + 0.5): rounding's ties."""
    halves = torch.randint(-6, 6, x.shape, generator=g).to(x.dtype) + 0.5
    return torch.where(torch.rand(x.shape, generator=g) < 0.35, halves, x)


def functions(candidate, name: str, x: torch.Tensor, g: torch.Generator):
    """The test function `name` twice: in the worker (a handle for your jacobian) and here."""
    params = ()
    if name == "affine":
        m = int(torch.randint(1, 5, (), generator=g))
        params = (torch.randn(m, x.numel(), generator=g, dtype=x.dtype), torch.randn(m, generator=g, dtype=x.dtype))
    return candidate.lib.support("make_function", name, *params), S.make_function(name, *params)


def oracle_jacobian(f, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(f, x)  # (*f(x).shape, *x.shape)


def reference_grad(fn, x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).backward(grad_output)
    return x.grad


def silu_derivative(x: torch.Tensor) -> torch.Tensor:
    """d/dx x*sigmoid(x) by autograd through torch's own F.silu (the oracle)."""
    x = x.detach().double().requires_grad_(True)
    F.silu(x).sum().backward()
    return x.grad


def remote_function(candidate, apply):
    """An autograd.Function in THIS process whose forward and backward values come from your
    Function in the worker, so that torch.autograd.gradcheck can check it here."""

    class Remote(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return assert_tensor_like(apply(x), x, "forward output")

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            got = candidate.lib.grads(apply, [x], {}, grad_output)
            return assert_tensor_like(got["input_grads"][0], x, "gradient w.r.t. x")

    return Remote.apply


def assert_tensor_like(y, x, name="output"):
    return assert_shape(y, x.shape, name, dtype=x.dtype)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(shape=shapes, dtype=dtypes, data_seed=data_seeds, which=st.sampled_from(["SiLUFunction", "StraightThroughRound"]))
def test_functions_keep_shape_and_dtype(candidate, shape, dtype, data_seed, which):
    g = generator(data_seed)
    x = random_x(shape, g, dtype)
    got = candidate.lib.grads(getattr(candidate, which).apply, [x], {}, torch.randn(shape, generator=g, dtype=dtype))
    assert_tensor_like(got["output"], x, f"{which}.apply(x) for x of shape {shape}")
    assert_tensor_like(got["input_grads"][0], x, f"gradient of {which}.apply w.r.t. x of shape {shape}")
    assert_finite(got["output"], f"{which}.apply(x)")
    assert_finite(got["input_grads"][0], f"gradient of {which}.apply")


@pytest.mark.category("shape")
def test_functions_are_custom_autograd_functions(candidate, seed):
    """Both must subclass torch.autograd.Function, and autograd must record THEIR backward for the
    output (the node is named <Class>Backward), not a graph of the ops inside forward."""
    x = random_x((3, 4), generator(seed))
    for which in ("SiLUFunction", "StraightThroughRound"):
        info = candidate.lib.support("autograd_function_info", getattr(candidate, which), x)
        if not info["is_function"]:
            raise Mismatch(f"{which} must be a subclass of torch.autograd.Function (with static forward and backward)")
        expected = f"{info['class_name']}Backward"
        if info["grad_fn"] != expected:
            raise Mismatch(f"{which}.apply(x).grad_fn should be autograd's node for your Function ({expected}); "
                           f"got {info['grad_fn']}")


@pytest.mark.category("shape")
@given(x_shape=shapes, name=st.sampled_from(FUNCTION_NAMES), dtype=dtypes, data_seed=data_seeds)
def test_jacobian_shape(candidate, x_shape, name, dtype, data_seed):
    """J has shape (*f(x).shape, *x.shape): output dims first, then input dims."""
    g = generator(data_seed)
    x = random_x(x_shape, g, dtype)
    f_remote, f_local = functions(candidate, name, x, g)
    y_shape = tuple(f_local(x).shape)
    J = assert_shape(candidate.jacobian(f_remote, x), (*y_shape, *x_shape),
                     f"jacobian of {name} (f(x) of shape {y_shape}, x of shape {x_shape}; expected "
                     f"(*f(x).shape, *x.shape))", dtype=dtype)
    assert_finite(J, f"jacobian of {name}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(shape=shapes, data_seed=data_seeds)
def test_silu_matches_reference_and_torch_silu(candidate, reference, shape, data_seed):
    x = random_x(shape, generator(data_seed), scale=3.0)
    got = candidate.SiLUFunction.apply(x)
    assert_close(got, reference.SiLUFunction.apply(x), "SiLUFunction.apply(x) vs reference")
    assert_close(got, F.silu(x), "SiLUFunction.apply(x) vs F.silu(x)")


@pytest.mark.category("equivalence")
@given(shape=shapes, dtype=dtypes, data_seed=data_seeds)
def test_round_matches_torch_round(candidate, reference, shape, dtype, data_seed):
    """Exactly torch.round: halves go to the nearest EVEN integer (0.5 -> 0, 1.5 -> 2, -2.5 -> -2)."""
    g = generator(data_seed)
    x = with_ties(random_x(shape, g, dtype, scale=4.0), g)
    got = candidate.StraightThroughRound.apply(x)
    assert_equal(got, torch.round(x), f"StraightThroughRound.apply(x) vs torch.round(x) for x = {x.flatten()[:8].tolist()}...")
    assert_equal(got, reference.StraightThroughRound.apply(x), "StraightThroughRound.apply(x) vs reference")


@pytest.mark.category("equivalence")
@given(x_shape=shapes, name=st.sampled_from(FUNCTION_NAMES), data_seed=data_seeds)
def test_jacobian_matches_reference(candidate, reference, x_shape, name, data_seed):
    g = generator(data_seed)
    x = random_x(x_shape, g)
    f_remote, f_local = functions(candidate, name, x, g)
    expected = reference.jacobian(f_local, x)
    assert_close(candidate.jacobian(f_remote, x), expected, f"jacobian of {name} at x of shape {x_shape} vs reference")


@pytest.mark.category("equivalence")
@given(x_shape=shapes, name=st.sampled_from(FUNCTION_NAMES), dtype=dtypes, data_seed=data_seeds)
def test_jacobian_matches_torch_autograd_functional(candidate, x_shape, name, dtype, data_seed):
    g = generator(data_seed)
    x = random_x(x_shape, g, dtype)
    f_remote, f_local = functions(candidate, name, x, g)
    assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x),
                 f"jacobian of {name} at x of shape {x_shape} ({dtype}) vs torch.autograd.functional.jacobian")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(shape=shapes, data_seed=data_seeds)
def test_silu_gradient_matches_reference_and_torch_silu(candidate, reference, shape, data_seed):
    g = generator(data_seed)
    x = random_x(shape, g, scale=3.0)
    grad_out = torch.randn(shape, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.SiLUFunction.apply, [x], {}, grad_out)["input_grads"][0]
    assert_close(got, reference_grad(reference.SiLUFunction.apply, x, grad_out), "SiLU gradient w.r.t. x vs reference")
    assert_close(got, reference_grad(F.silu, x, grad_out), "SiLU gradient w.r.t. x vs autograd through F.silu")


@pytest.mark.category("gradient")
def test_silu_passes_gradcheck(candidate, seed):
    """torch.autograd.gradcheck, run here in float64 on values your Function computed in the
    worker: every entry of your analytic Jacobian vs finite differences of your forward."""
    g = generator(seed)
    apply = remote_function(candidate, candidate.SiLUFunction.apply)
    for shape in [(), (5,), (2, 3, 2)]:
        x = random_x(shape, g, scale=3.0).requires_grad_(True)
        try:
            torch.autograd.gradcheck(apply, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)
        except GradcheckError as e:
            raise Mismatch(f"torch.autograd.gradcheck of SiLUFunction at x of shape {shape} failed:\n{e}") from None


@pytest.mark.category("gradient")
@given(shape=shapes, dtype=dtypes, data_seed=data_seeds)
def test_round_gradient_is_passed_straight_through(candidate, reference, shape, dtype, data_seed):
    """The straight-through estimator: d loss/d x = d loss/d round(x), unchanged, for every x
    (near 0 or far from it, at ties too) — not 0 (round's true derivative), not 1, not clipped."""
    g = generator(data_seed)
    x = with_ties(random_x(shape, g, dtype, scale=10.0), g)
    grad_out = torch.randn(shape, generator=g, dtype=dtype)
    got = candidate.lib.grads(candidate.StraightThroughRound.apply, [x], {}, grad_out)["input_grads"][0]
    assert_equal(got, grad_out, "StraightThroughRound gradient w.r.t. x vs the upstream gradient (straight through)")
    assert_equal(got, reference_grad(reference.StraightThroughRound.apply, x, grad_out),
                 "StraightThroughRound gradient w.r.t. x vs reference")


# -- convergence -----------------------------------------------------------------------------
D_IN, CLASSES, STEP = 8, 4, 0.5
QAT = dict(steps=150, lr=5e-2, batch_size=64)


def teacher_task(n: int, teacher: torch.Tensor, g: torch.Generator):
    """x ~ N(0, I) (n, D); label = argmax of x @ teacher.T, a linear rule on the weight grid."""
    x = torch.randn(n, teacher.shape[1], generator=g)
    return x, (x @ teacher.T).argmax(-1)


@pytest.mark.category("convergence")
def test_straight_through_rounding_trains_a_quantized_classifier(candidate, reference, seed, artifacts):
    """A linear classifier whose weights are rounded to multiples of 0.5 in every forward pass
    (quantization-aware training). Round's own gradient is 0, so without a straight-through
    gradient the weights never move and only the bias learns (about 30% accuracy); the
    reference reaches 93% to 95%."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        teacher = STEP * torch.randint(-2, 3, (CLASSES, D_IN), generator=g).float()
        x_train, y_train = teacher_task(1024, teacher, g)
        x_test, y_test = teacher_task(512, teacher, g)
        with seeded(s):
            ref_model = S.QuantizedLinear(reference.StraightThroughRound.apply, D_IN, CLASSES, STEP)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        model = candidate.lib.support("QuantizedLinear", candidate.StraightThroughRound.apply, D_IN, CLASSES, STEP)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **QAT)
        logits = assert_shape(model(x_test), (512, CLASSES), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.85:  # the reference is trained only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **QAT)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.85, (
            f"after {QAT['steps']} Adam steps (data seed {s}) the quantized classifier trained through your "
            f"StraightThroughRound reaches {accuracy:.1%} held-out accuracy; the reference, from the same initial "
            f"weights, reaches {ref_accuracy:.1%}; at least 85% is required (a zero gradient leaves about 30%)")


def rings(n: int, g: torch.Generator):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5: no line separates them."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1), label  # (n, 2), (n,)


MLP = dict(steps=100, lr=3e-2, batch_size=64)


@pytest.mark.category("convergence")
def test_silu_network_learns_concentric_rings(candidate, reference, seed, artifacts):
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = rings(512, g)
        x_test, y_test = rings(512, g)
        with seeded(s):
            ref_model = S.ActivationMLP(reference.SiLUFunction.apply, 2, 16, 2)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        model = candidate.lib.support("ActivationMLP", candidate.SiLUFunction.apply, 2, 16, 2)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **MLP)
        logits = assert_shape(model(x_test), (512, 2), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.95:
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **MLP)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {MLP['steps']} Adam steps (data seed {s}) a 2-16-2 network with your SiLUFunction reaches "
            f"{accuracy:.1%} held-out accuracy on two concentric rings; the reference, from the same initial "
            f"weights, reaches {ref_accuracy:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
def test_silu_is_stable_at_large_inputs(candidate, seed):
    """exp(1000) overflows even in float64: exp(x) / (1 + exp(x)) gives inf/inf = NaN there.
    SiLU(x) -> x and SiLU'(x) -> 1 as x -> +inf; both -> 0 as x -> -inf."""
    g = generator(seed)
    big = torch.tensor([-1000.0, -300.0, -100.0, -40.0, -20.0, 20.0, 40.0, 100.0, 300.0, 1000.0], dtype=f64)
    for dtype in (torch.float32, f64):
        x = torch.cat([big, random_x((6,), g, scale=3.0)]).to(dtype)
        check_silu_at(candidate, x, dtype)


def check_silu_at(candidate, x, dtype):
    grad_out = torch.ones_like(x)
    got = candidate.lib.grads(candidate.SiLUFunction.apply, [x], {}, grad_out)
    assert_finite(got["output"], f"SiLU(x) ({dtype}) at x = {x.tolist()}")
    assert_finite(got["input_grads"][0], f"SiLU gradient ({dtype}) at x = {x.tolist()}")
    assert_close(got["output"], F.silu(x.double()).to(dtype), f"SiLU(x) ({dtype}) at large |x| vs F.silu in float64")
    assert_close(got["input_grads"][0], silu_derivative(x).to(dtype),
                 f"SiLU gradient ({dtype}) at large |x| vs autograd through F.silu in float64")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    x = random_x((3, 5), generator(seed), torch.float32, scale=3.0)
    for which in ("SiLUFunction", "StraightThroughRound"):
        _, args_after, _ = getattr(candidate, which).apply.call_checked(x)
        assert_unchanged(args_after[0], x, f"x after {which}.apply(x) (modified in place)")


@pytest.mark.category("property")
def test_silu_backward_never_uses_an_input_changed_in_place(candidate, reference, seed):
    """y = SiLU(z); z += 1 in place; y.backward(). Autograd must either raise (tensors saved with
    ctx.save_for_backward are version-checked) or return the gradient at the ORIGINAL z; a tensor
    stashed as ctx.x = x is silently read after the change, giving the gradient at z + 1."""
    g = generator(seed)
    x = random_x((2, 4), g, scale=2.0)
    grad_out = torch.randn(2, 4, generator=g, dtype=f64)
    got = candidate.lib.support("backward_after_inplace_change", candidate.SiLUFunction.apply, x, grad_out, 1.0)
    if got["raised"]:
        return
    assert_close(got["grad"], reference_grad(reference.SiLUFunction.apply, x, grad_out),
                 "SiLU gradient when the input was changed in place after forward (must be the gradient at the "
                 "original input, or an error: use ctx.save_for_backward, not ctx.x = x)")


@pytest.mark.category("property")
def test_jacobian_follows_data_dependent_control_flow(candidate, seed):
    """f branches, loops and even picks its output's length from x's values; the Jacobian at x
    is that of the path actually taken there (both branches and 0 to 6 loop iterations)."""
    g = generator(seed)
    for name in ("control_flow", "above_median", "sorted_weighted"):
        f_remote, f_local = candidate.lib.support("make_function", name), S.make_function(name)
        for sign in (1.0, -1.0):
            for scale in (0.3, 5.0, 60.0):
                x = sign * scale * (torch.rand(2, 3, generator=g, dtype=f64) + 0.1)
                assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x),
                             f"jacobian of {name} at x = {sign:+g} * {scale:g} * (U(0,1) + 0.1) of shape (2, 3) "
                             f"(f(x) of shape {tuple(f_local(x).shape)})")


@pytest.mark.category("property")
@given(x_shape=shapes, data_seed=data_seeds)
def test_jacobian_of_an_affine_map_is_its_matrix(candidate, x_shape, data_seed):
    """f(x) = W @ x.flatten() + b has Jacobian W (reshaped to (m, *x.shape)) at every x."""
    g = generator(data_seed)
    x = random_x(x_shape, g)
    m = int(torch.randint(1, 5, (), generator=g))
    W, b = torch.randn(m, x.numel(), generator=g, dtype=f64), torch.randn(m, generator=g, dtype=f64)
    f_remote = candidate.lib.support("make_function", "affine", W, b)
    for k in range(2):
        assert_close(candidate.jacobian(f_remote, x), W.reshape(m, *x_shape),
                     f"jacobian of x -> W @ x.flatten() + b (x of shape {x_shape}, point {k + 1}) vs W")
        x = random_x(x_shape, g, scale=10.0)


@pytest.mark.category("property")
def test_jacobian_is_autograds_not_finite_differences(candidate, seed):
    """jacobian must return what backward() computes: for f(x) = 2 * x.detach() + sin(x) autograd
    says diag(cos x) (the detached term is a constant to autograd), finite differences diag(cos x + 2).
    It must also be exact in float32, where finite differences lose about half the digits."""
    g = generator(seed)
    for dtype in (torch.float32, f64):
        check_autograd_jacobians(candidate, random_x((2, 3), g, dtype), dtype)


def check_autograd_jacobians(candidate, x, dtype):
    expected = torch.diag(torch.cos(x).reshape(-1)).reshape(2, 3, 2, 3)
    got = candidate.jacobian(candidate.lib.support("make_function", "detached_part"), x)
    assert_close(got, expected, f"jacobian of 2 * x.detach() + sin(x) ({dtype}) vs diag(cos x)")
    expected = torch.diag((x * torch.cos(x) + torch.sin(x)).reshape(-1)).reshape(2, 3, 2, 3)
    got = candidate.jacobian(candidate.lib.support("make_function", "elementwise"), x)
    assert_close(got, expected, f"jacobian of x * sin(x) ({dtype}) vs diag(x cos x + sin x)")


@pytest.mark.category("property")
def test_jacobian_of_outputs_that_ignore_x_is_zero(candidate, seed):
    """Outputs that do not depend on x have zero rows; when no output depends on x (f(x) does not
    even require grad), the whole Jacobian is zero: no error."""
    g = generator(seed)
    x = random_x((3, 2), g)
    for name in ("partly_constant", "constant"):
        f_remote, f_local = functions(candidate, name, x, g)
        assert_close(candidate.jacobian(f_remote, x), oracle_jacobian(f_local, x),
                     f"jacobian of {name} (outputs that ignore x have zero rows)")


@pytest.mark.category("property")
def test_jacobian_leaves_its_input_alone(candidate, seed):
    """The caller's x keeps its values and its requires_grad flag, and gets no .grad; x may itself
    require grad (a leaf or the output of another computation), and the call may come from
    inside torch.no_grad()."""
    g = generator(seed)
    x = random_x((2, 3), g)
    f_remote, f_local = functions(candidate, "outer", x, g)
    for mode in ("plain", "leaf", "non_leaf", "no_grad"):
        check_input_effects(candidate, f_remote, f_local, x, mode)


def check_input_effects(candidate, f_remote, f_local, x, mode):
    got = candidate.lib.support("jacobian_input_effects", candidate.jacobian, f_remote, x, mode)
    assert_close(got["J"], oracle_jacobian(f_local, x), f"jacobian of outer(x) with x passed as {mode!r}")
    assert_unchanged(got["values"], x, f"the caller's x ({mode}) after jacobian (modified in place)")
    requires_grad = mode in ("leaf", "non_leaf")
    if got["requires_grad"] != requires_grad:
        raise Mismatch(f"the caller's x ({mode}) had requires_grad={requires_grad}; after jacobian it is "
                       f"{got['requires_grad']} (work on x.detach().requires_grad_(), not on the caller's tensor)")
    if got["leaf_grad"] is not None:
        raise Mismatch(f"jacobian left a .grad of norm {float(got['leaf_grad'].norm()):.4g} on the caller's tensor "
                       f"({mode}): use torch.autograd.grad, or backward() on your own detached copy of x")
