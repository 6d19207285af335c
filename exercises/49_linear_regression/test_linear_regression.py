"""Suite for 49_linear_regression: `fit_normal_equation` (closed form, ridge on w only) against
torch.linalg.lstsq and the reference, `fit_gradient_descent` against gradient descent driven by
autograd's gradient of the same objective, both fits against each other and against the true
weights of noiseless data, and the invariances an unpenalized intercept implies.

Objective (both fits): J(w, b) = mean_i (x_i · w + b - y_i)^2 + l2 * ||w||^2.
`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.testing import generator

f64 = torch.float64
EPS64 = torch.finfo(f64).eps

sizes = dict(N=st.integers(1, 12), D=st.integers(1, 5), data_seed=st.integers(0, 2**32 - 1))
penalties = st.one_of(st.just(0.0), st.floats(1e-3, 3.0))


# -- data and oracles ---------------------------------------------------------------------------
def make_data(N: int, D: int, g: torch.Generator, noise: float = 0.3, dtype=f64):
    """Features with scales in [0.5, 1.5] and nonzero means in [-1, 1] (so the intercept matters
    and centering is needed), true weights w*, an intercept b* in [-3, 3], Gaussian noise."""
    scale = 0.5 + torch.rand(D, generator=g, dtype=f64)
    offset = 2 * torch.rand(D, generator=g, dtype=f64) - 1
    X = torch.randn(N, D, generator=g, dtype=f64) * scale + offset  # (N, D)
    w_true = torch.randn(D, generator=g, dtype=f64)  # (D,)
    b_true = 6 * torch.rand((), generator=g, dtype=f64) - 3  # ()
    y = X @ w_true + b_true + noise * torch.randn(N, generator=g, dtype=f64)  # (N,)
    return X.to(dtype), y.to(dtype), w_true, b_true


def augmented(X: torch.Tensor, l2: float):
    """[X 1; sqrt(N l2) I 0]: least squares on it (with targets [y; 0]) minimizes N * J."""
    N, D = X.shape
    A = torch.cat([X, torch.ones(N, 1, dtype=X.dtype)], dim=1)  # (N, D+1)
    if l2 > 0:
        penalty = torch.cat([math.sqrt(N * l2) * torch.eye(D, dtype=X.dtype), torch.zeros(D, 1, dtype=X.dtype)], 1)
        A = torch.cat([A, penalty], dim=0)  # (N+D, D+1)
    return A


def lstsq_fit(X: torch.Tensor, y: torch.Tensor, l2: float):
    """The oracle: torch.linalg.lstsq on the augmented system."""
    D = X.shape[1]
    rhs = torch.cat([y, torch.zeros(D, dtype=y.dtype)]) if l2 > 0 else y
    theta = torch.linalg.lstsq(augmented(X, l2), rhs[:, None]).solution[:, 0]  # (D+1,)
    return theta[:D], theta[D]


def hessian(X: torch.Tensor, l2: float) -> torch.Tensor:
    """The (constant) Hessian of J w.r.t. (w, b): (2/N) AᵀA + 2 l2 diag(1, ..., 1, 0)."""
    N, D = X.shape
    A = torch.cat([X, torch.ones(N, 1, dtype=X.dtype)], dim=1)
    P = torch.diag(torch.cat([torch.ones(D, dtype=X.dtype), torch.zeros(1, dtype=X.dtype)]))
    return (2.0 / N) * A.T @ A + 2.0 * l2 * P


def condition(X: torch.Tensor, l2: float) -> float:
    eig = torch.linalg.eigvalsh(hessian(X, l2))
    return float(eig[-1] / eig[0])


def solve_tolerance(X: torch.Tensor, l2: float) -> dict:
    """Normal equations lose about cond(AᵀA) digits, lstsq about cond(A): allow for the worse."""
    return dict(rtol=max(1e-7, 100 * EPS64 * condition(X, l2)), atol=1e-9)


def objective(X, y, w, b, l2: float) -> torch.Tensor:
    return ((X @ w + b - y) ** 2).mean() + l2 * (w ** 2).sum()


def autograd_descent(X, y, lr: float, steps: int, l2: float) -> list:
    """Gradient descent with autograd's gradient of J, from zeros: the iterates after 1..steps."""
    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)
    iterates = []
    for _ in range(steps):
        w, b = w.requires_grad_(), b.requires_grad_()
        grad_w, grad_b = torch.autograd.grad(objective(X, y, w, b, l2), (w, b))
        w, b = (w - lr * grad_w).detach(), (b - lr * grad_b).detach()
        iterates.append((w, b))
    return iterates


def stable_lr(X: torch.Tensor, l2: float, factor: float = 1.0) -> float:
    """factor / L, L the largest eigenvalue of the Hessian (any factor < 2 converges)."""
    return factor / float(torch.linalg.eigvalsh(hessian(X, l2))[-1])


def assert_fit(result, D: int, dtype, name: str):
    """(w (D,), b ()) of `dtype`."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Mismatch(f"{name}: expected a tuple (w, b), got {type(result).__name__}")
    w = assert_shape(result[0], (D,), f"{name}: w", dtype=dtype)
    b = assert_shape(result[1], (), f"{name}: b (a 0-dim tensor)", dtype=dtype)
    return w, b


def fit_args(l2: float, N: int, D: int) -> bool:
    """Without a penalty the least-squares problem needs N >= D + 2 to be well posed here."""
    return l2 > 0 or N >= D + 2


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, l2=penalties, dtype=st.sampled_from([torch.float32, f64]))
def test_normal_equation_shapes_and_dtype(candidate, N, D, data_seed, l2, dtype):
    assume(fit_args(l2, N, D))
    X, y, _, _ = make_data(N, D, generator(data_seed), dtype=dtype)
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, dtype,
                      f"fit_normal_equation(X {tuple(X.shape)}, y {tuple(y.shape)}, l2={l2:g})")
    assert_finite(w, "w")
    assert_finite(b, "b")


@pytest.mark.category("shape")
@given(**sizes, l2=penalties, steps=st.integers(0, 5), dtype=st.sampled_from([torch.float32, f64]))
def test_gradient_descent_shapes_and_dtype(candidate, N, D, data_seed, l2, steps, dtype):
    X, y, _, _ = make_data(N, D, generator(data_seed), dtype=dtype)
    lr = stable_lr(X.double(), l2)
    w, b = assert_fit(candidate.fit_gradient_descent(X, y, lr, steps, l2), D, dtype,
                      f"fit_gradient_descent(X {tuple(X.shape)}, y {tuple(y.shape)}, steps={steps}, l2={l2:g})")
    if steps == 0:
        assert_equal(w, torch.zeros(D, dtype=dtype), "w after 0 steps (gradient descent starts from w = 0)")
        assert_equal(b, torch.zeros((), dtype=dtype), "b after 0 steps (gradient descent starts from b = 0)")
    assert_finite(w, "w")
    assert_finite(b, "b")


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes, l2=penalties)
def test_normal_equation_matches_lstsq(candidate, N, D, data_seed, l2):
    assume(fit_args(l2, N, D))
    X, y, _, _ = make_data(N, D, generator(data_seed))
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w_ref, b_ref = lstsq_fit(X, y, l2)
    tol = solve_tolerance(X, l2)
    assert_close(w, w_ref, f"w vs torch.linalg.lstsq on [X 1; sqrt(N*l2) I 0] (l2={l2:g}, N={N})", **tol)
    assert_close(b, b_ref, f"b vs torch.linalg.lstsq (l2={l2:g}; the intercept is not penalized)", **tol)


@pytest.mark.category("equivalence")
@given(**sizes, l2=penalties)
def test_normal_equation_matches_reference(candidate, reference, N, D, data_seed, l2):
    assume(fit_args(l2, N, D))
    X, y, _, _ = make_data(N, D, generator(data_seed))
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w_ref, b_ref = reference.fit_normal_equation(X, y, l2)
    tol = solve_tolerance(X, l2)
    assert_close(w, w_ref, f"w vs reference (l2={l2:g})", **tol)
    assert_close(b, b_ref, f"b vs reference (l2={l2:g})", **tol)


@pytest.mark.category("equivalence")
@given(**sizes, l2=penalties, steps=st.integers(1, 40), lr_factor=st.floats(0.1, 1.5))
def test_gradient_descent_matches_reference(candidate, reference, N, D, data_seed, l2, steps, lr_factor):
    X, y, _, _ = make_data(N, D, generator(data_seed))
    lr = stable_lr(X, l2, lr_factor)
    w, b = assert_fit(candidate.fit_gradient_descent(X, y, lr, steps, l2), D, f64, "fit_gradient_descent")
    w_ref, b_ref = reference.fit_gradient_descent(X, y, lr, steps, l2)
    assert_close(w, w_ref, f"w after {steps} steps of lr={lr:.4g} vs reference (l2={l2:g})")
    assert_close(b, b_ref, f"b after {steps} steps of lr={lr:.4g} vs reference (l2={l2:g})")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes, l2=penalties, lr_factor=st.floats(0.1, 1.5))
def test_descent_steps_follow_the_objective_gradient(candidate, N, D, data_seed, l2, lr_factor):
    """Iterates 1, 2 and 3 equal (w, b) - lr * grad J(w, b), with grad J from autograd."""
    X, y, _, _ = make_data(N, D, generator(data_seed))
    lr = stable_lr(X, l2, lr_factor)
    for k, (w_ref, b_ref) in enumerate(autograd_descent(X, y, lr, 3, l2), start=1):
        w, b = assert_fit(candidate.fit_gradient_descent(X, y, lr, k, l2), D, f64, f"fit_gradient_descent(steps={k})")
        where = (f"after {k} step{'s' * (k > 1)} (lr={lr:.4g}, l2={l2:g}) vs descent on autograd's gradient of "
                 "J = mean((Xw + b - y)^2) + l2*||w||^2")
        assert_close(w, w_ref, f"w {where}")
        assert_close(b, b_ref, f"b {where}")


@pytest.mark.category("gradient")
@given(**sizes, l2=penalties)
def test_objective_gradient_vanishes_at_the_closed_form_solution(candidate, N, D, data_seed, l2):
    assume(fit_args(l2, N, D))
    X, y, _, _ = make_data(N, D, generator(data_seed))
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w, b = w.requires_grad_(), b.requires_grad_()
    grad_w, grad_b = torch.autograd.grad(objective(X, y, w, b, l2), (w, b))
    at_zero = (torch.zeros(D, dtype=f64, requires_grad=True), torch.zeros((), dtype=f64, requires_grad=True))
    scale = max(float(g.abs().max()) for g in torch.autograd.grad(objective(X, y, *at_zero, l2), at_zero))
    atol = 1e2 * EPS64 * condition(X, l2) * (1 + scale)
    assert_close(grad_w, torch.zeros(D, dtype=f64), f"dJ/dw at your normal-equation solution (l2={l2:g}; it is the "
                 "minimizer only if this is 0)", rtol=0.0, atol=atol)
    assert_close(grad_b, torch.zeros((), dtype=f64), f"dJ/db at your normal-equation solution (l2={l2:g}; the "
                 "penalty does not involve b)", rtol=0.0, atol=atol)


# -- convergence ------------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_gradient_descent_reaches_the_closed_form_solution(candidate, reference, seed, artifacts):
    """Both fits agree: with lr = 1/L and enough steps for the problem's condition number,
    gradient descent lands on the normal-equation solution (and on lstsq's), on three data sets."""
    for run in range(3):
        g = generator(seed * 1000 + run)
        X, y, _, _ = make_data(64, 4, g)
        l2 = [0.0, 0.01, 0.3][run]
        lr, steps = stable_lr(X, l2), min(4000, math.ceil(35 * condition(X, l2)))
        w, b = assert_fit(candidate.fit_gradient_descent(X, y, lr, steps, l2), 4, f64, "fit_gradient_descent")
        w_closed, b_closed = assert_fit(candidate.fit_normal_equation(X, y, l2), 4, f64, "fit_normal_equation")
        w_ref, b_ref = lstsq_fit(X, y, l2)
        if run == 0:
            checkpoints = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256]
            curve = [float(objective(X, y, *candidate.fit_gradient_descent(X, y, lr, k, l2), l2)) for k in checkpoints]
            ref_curve = [float(objective(X, y, *reference.fit_gradient_descent(X, y, lr, k, l2), l2))
                         for k in checkpoints]
            artifacts["loss_curve"] = {"candidate": curve, "reference": ref_curve}
        tol = dict(rtol=1e-6, atol=1e-8)  # the iterate is within ~1e-15 of the optimum; rounding in the solves
        where = f"(data seed {seed * 1000 + run}, l2={l2:g}, {steps} steps of lr=1/L={lr:.4g})"
        assert_close(w, w_ref, f"gradient descent's w vs lstsq's minimizer {where}", **tol)
        assert_close(b, b_ref, f"gradient descent's b vs lstsq's minimizer {where}", **tol)
        assert_close(w, w_closed, f"gradient descent's w vs your fit_normal_equation's w {where}", **tol)
        assert_close(b, b_closed, f"gradient descent's b vs your fit_normal_equation's b {where}", **tol)


@pytest.mark.category("convergence")
@pytest.mark.parametrize("N, D", [(50, 3), (7, 6)])
def test_closed_form_recovers_true_weights_from_noiseless_data(candidate, seed, N, D):
    """y = X w* + b* exactly: the fit must return w* and b* (with N = D + 1 the system is square)."""
    X, y, w_true, b_true = make_data(N, D, generator(seed * 100 + D), noise=0.0)
    w, b = assert_fit(candidate.fit_normal_equation(X, y), D, f64, "fit_normal_equation")
    tol = solve_tolerance(X, 0.0)
    assert_close(w, w_true, f"w from noiseless y = X w* + b* (N={N}, D={D}) vs w*", **tol)
    assert_close(b, b_true, f"b from noiseless y = X w* + b* (N={N}, D={D}) vs b*", **tol)


@pytest.mark.category("convergence")
def test_gradient_descent_recovers_true_weights_from_noiseless_data(candidate, seed):
    N, D = 50, 3
    X, y, w_true, b_true = make_data(N, D, generator(seed * 100 + D), noise=0.0)
    steps = min(4000, math.ceil(35 * condition(X, 0.0)))
    w, b = assert_fit(candidate.fit_gradient_descent(X, y, stable_lr(X, 0.0), steps), D, f64, "fit_gradient_descent")
    assert_close(w, w_true, f"w after {steps} gradient steps of lr=1/L on noiseless y = X w* + b* vs w*",
                 rtol=1e-6, atol=1e-8)
    assert_close(b, b_true, f"b after {steps} gradient steps of lr=1/L on noiseless data vs b*", rtol=1e-6, atol=1e-8)


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, l2=penalties, data=st.data())
def test_shifting_the_targets_moves_only_the_intercept(candidate, N, D, data_seed, l2, data):
    """fit(X, y + c) = (w, b + c): true for any penalty only when b is not penalized."""
    assume(fit_args(l2, N, D))
    X, y, _, _ = make_data(N, D, generator(data_seed))
    c = data.draw(st.floats(-10, 10).filter(lambda v: abs(v) > 0.5), label="shift c")
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w2, b2 = assert_fit(candidate.fit_normal_equation(X, y + c, l2), D, f64, "fit_normal_equation(X, y + c)")
    tol = solve_tolerance(X, l2)
    assert_close(w2, w, f"w after adding {c:.3g} to every target (l2={l2:g}; must not change: is b penalized?)",
                 **{**tol, "atol": 1e-8})
    assert_close(b2, b + c, f"b after adding {c:.3g} to every target (must move by exactly {c:.3g})",
                 **{**tol, "atol": 1e-8})


@pytest.mark.category("property")
@given(**sizes, l2=penalties)
def test_shifting_the_features_moves_only_the_intercept(candidate, N, D, data_seed, l2):
    """fit(X + t, y) = (w, b - t·w): translating the inputs is absorbed by the intercept."""
    assume(fit_args(l2, N, D))
    g = generator(data_seed)
    X, y, _, _ = make_data(N, D, g)
    t = 4 * torch.rand(D, generator=g, dtype=f64) - 2  # (D,)
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w2, b2 = assert_fit(candidate.fit_normal_equation(X + t, y, l2), D, f64, "fit_normal_equation(X + t, y)")
    tol = {**solve_tolerance(X, l2), "atol": 1e-8}
    assert_close(w2, w, f"w after translating every row of X by t={t.tolist()} (l2={l2:g})", **tol)
    assert_close(b2, b - t @ w, f"b after translating X by t (should be b - t·w)", **tol)


@pytest.mark.category("property")
@given(**sizes, l2=penalties)
def test_row_order_does_not_matter(candidate, N, D, data_seed, l2):
    assume(fit_args(l2, N, D))
    g = generator(data_seed)
    X, y, _, _ = make_data(N, D, g)
    perm = torch.randperm(N, generator=g)
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation")
    w2, b2 = assert_fit(candidate.fit_normal_equation(X[perm], y[perm], l2), D, f64, "fit_normal_equation")
    tol = {**solve_tolerance(X, l2), "atol": 1e-8}
    assert_close(w2, w, f"w with the samples in the order {perm.tolist()}", **tol)
    assert_close(b2, b, f"b with the samples in the order {perm.tolist()}", **tol)


@pytest.mark.category("property")
def test_ridge_shrinks_the_weights_not_the_intercept(candidate, seed):
    """||w|| falls as l2 grows; at a huge l2, w -> 0 and b -> mean(y) (the best constant)."""
    g = generator(seed)
    X, y, _, _ = make_data(30, 4, g)
    norms = []
    for l2 in [0.0, 0.01, 0.1, 1.0, 10.0]:
        w, _ = assert_fit(candidate.fit_normal_equation(X, y, l2), 4, f64, f"fit_normal_equation(l2={l2:g})")
        norms.append(float(w.norm()))
    assert all(a > b for a, b in zip(norms, norms[1:])), (
        f"||w|| for l2 = 0, 0.01, 0.1, 1, 10: {[round(n, 6) for n in norms]}; a larger penalty must give a smaller w")
    w, b = assert_fit(candidate.fit_normal_equation(X, y, 1e9), 4, f64, "fit_normal_equation(l2=1e9)")
    assert_close(w, torch.zeros(4, dtype=f64), "w at l2=1e9 (should be ~0)", rtol=0.0, atol=1e-7)
    assert_close(b, y.mean(), "b at l2=1e9 (should be ~mean(y): the intercept is not penalized)", rtol=0.0, atol=1e-6)


@pytest.mark.category("property")
@given(D=sizes["D"], data_seed=sizes["data_seed"], l2=st.floats(1e-3, 3.0))
def test_single_sample_with_ridge(candidate, D, data_seed, l2):
    """One sample and l2 > 0: the intercept alone fits it, so w = 0 and b = y."""
    X, y, _, _ = make_data(1, D, generator(data_seed))
    w, b = assert_fit(candidate.fit_normal_equation(X, y, l2), D, f64, "fit_normal_equation on one sample")
    assert_close(w, torch.zeros(D, dtype=f64), f"w for a single sample with l2={l2:g} (the unpenalized "
                 "intercept fits it exactly, so any nonzero w only adds penalty)", atol=1e-12)
    assert_close(b, y[0], f"b for a single sample with l2={l2:g}", atol=1e-12)


@pytest.mark.category("property")
def test_inputs_are_not_modified(candidate, seed):
    X, y, _, _ = make_data(10, 3, generator(seed))
    for name, args in [("fit_normal_equation", (X, y, 0.1)), ("fit_gradient_descent", (X, y, 0.05, 20, 0.1))]:
        _, after, _ = getattr(candidate, name).call_checked(*args)
        assert_unchanged(after[0], X, f"X after {name} (modified in place; centering must make a new tensor)")
        assert_unchanged(after[1], y, f"y after {name} (modified in place)")
