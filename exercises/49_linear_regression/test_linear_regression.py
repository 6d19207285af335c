"""Suite for 49_linear_regression: both fits of J(w, b) = mean((Xw + b - y)^2) + l2 * ||w||^2 (ridge on w only)
vs torch.linalg.lstsq, the reference, autograd's gradient of J, each other, noiseless data; the invariances of
an unpenalized intercept."""
import math

import pytest
import torch
from hypothesis import strategies as st

from grader import kit
from grader.kit import Mismatch, assert_close, assert_shape, f64, given_cases

EPS64 = torch.finfo(f64).eps
DTYPES = st.sampled_from([torch.float32, f64])
CHECKPOINTS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256]  # steps at which the loss curve is drawn


class Fit(kit.Case):
    """N samples of D features, ridge strength l2; for descent, `steps` steps of lr = lr_factor / L."""

    N: int
    D: int
    l2: float
    data_seed: int
    steps: int = 0
    lr_factor: float = 1.0

    def data(self, dtype=f64, noise=0.3):
        return make_data(self.N, self.D, self.generator(), noise, dtype)

    def closed(self, candidate, X, y, dtype=f64, l2=None):
        l2 = self.l2 if l2 is None else l2
        return assert_fit(candidate.fit_normal_equation(X, y, l2), self.D, dtype, f"fit_normal_equation(l2={l2:g})")

    def descent(self, candidate, X, y, dtype=f64, steps=None, lr=None):
        steps, lr = self.steps if steps is None else steps, lr or self.lr_factor / curvature(X.double(), self.l2)[0]
        return assert_fit(candidate.fit_gradient_descent(X, y, lr, steps, self.l2), self.D, dtype,
                          f"fit_gradient_descent(lr={lr:.4g}, steps={steps}, l2={self.l2:g})")


@st.composite
def fits(draw, well_posed=True, l2=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)), steps=st.just(0)):
    """Without ridge a least-squares fit needs N >= D + 2 samples here to be well posed."""
    D, l2 = draw(st.integers(1, 5), label="D"), draw(l2, label="l2")
    N = draw(st.integers(D + 2 if well_posed and l2 == 0 else 1, 12), label="N")
    return Fit(N, D, l2, draw(kit.data_seeds), draw(steps, label="steps"), draw(st.floats(0.1, 1.5)))


def make_data(N: int, D: int, g: torch.Generator, noise: float = 0.3, dtype=f64):
    """Features with scales in [0.5, 1.5] and means in [-1, 1] (centering is needed), true w*, b* in [-3, 3]."""
    scale, offset = 0.5 + torch.rand(D, generator=g, dtype=f64), 2 * torch.rand(D, generator=g, dtype=f64) - 1
    X = torch.randn(N, D, generator=g, dtype=f64) * scale + offset  # (N, D)
    w_true, b_true = torch.randn(D, generator=g, dtype=f64), 6 * torch.rand((), generator=g, dtype=f64) - 3
    y = X @ w_true + b_true + noise * torch.randn(N, generator=g, dtype=f64)  # (N,)
    return X.to(dtype), y.to(dtype), w_true, b_true


def augmented(X: torch.Tensor, l2: float = 0.0) -> torch.Tensor:
    """[X 1] (N, D+1), with [sqrt(N l2) I 0] (D, D+1) below it when l2 > 0."""
    A = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)
    penalty = math.sqrt(len(X) * l2) * torch.eye(X.shape[1], X.shape[1] + 1, dtype=X.dtype)  # (D, D+1)
    return A if l2 == 0 else torch.cat([A, penalty])


def lstsq_fit(X: torch.Tensor, y: torch.Tensor, l2: float):
    """The oracle: torch.linalg.lstsq on augmented(X, l2) [w; b] = [y; 0], whose squared residual is N * J."""
    rhs = torch.cat([y, torch.zeros(len(augmented(X, l2)) - len(y), dtype=y.dtype)])
    theta = torch.linalg.lstsq(augmented(X, l2), rhs[:, None]).solution[:, 0]  # (D+1,)
    return theta[:-1], theta[-1]


def curvature(X: torch.Tensor, l2: float) -> tuple[float, float]:
    """L, the largest eigenvalue of J's (constant) Hessian (2/N) AᵀA + 2 l2 diag(1, ..., 1, 0), and its condition
    number. Descent with lr = factor / L converges for any factor < 2."""
    A, P = augmented(X), torch.diag(torch.tensor([1.0] * X.shape[1] + [0.0], dtype=X.dtype))
    eig = torch.linalg.eigvalsh(2 / len(X) * A.T @ A + 2 * l2 * P)
    return float(eig[-1]), float(eig[-1] / eig[0])


def loss_curve(lib, X, y, lr: float, l2: float) -> list[float]:
    return [float(objective(X, y, *lib.fit_gradient_descent(X, y, lr, k, l2), l2)) for k in CHECKPOINTS]


def tolerance(X, l2: float, atol: float = 1e-9) -> dict:
    """Normal equations lose about cond(AᵀA) digits, lstsq about cond(A): allow for the worse."""
    return dict(rtol=max(1e-7, 100 * EPS64 * curvature(X, l2)[1]), atol=atol)


def objective(X, y, w, b, l2: float) -> torch.Tensor:
    return ((X @ w + b - y) ** 2).mean() + l2 * (w ** 2).sum()


def assert_fit(result, D: int, dtype, name: str):
    """(w (D,), b ()) of `dtype`."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Mismatch(f"{name}: expected a tuple (w, b), got {type(result).__name__}")
    return (assert_shape(result[0], (D,), f"{name}: w", dtype=dtype),
            assert_shape(result[1], (), f"{name}: b (a 0-dim tensor)", dtype=dtype))


def assert_fit_close(got, expected, what: str, **tol):
    for g, e, name in zip(got, expected, "wb"):
        assert_close(g, e, f"{name} {what}", **tol)


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(fits(), dtype=DTYPES)
def test_normal_equation_shapes_and_dtype(candidate, case, dtype):
    for t, name in zip(case.closed(candidate, *case.data(dtype)[:2], dtype), "wb"):
        kit.assert_finite(t, name)


@pytest.mark.category("shape")
@given_cases(fits(well_posed=False, steps=st.integers(0, 5)), dtype=DTYPES)
def test_gradient_descent_shapes_and_dtype(candidate, case, dtype):
    for t, name in zip(case.descent(candidate, *case.data(dtype)[:2], dtype), "wb"):
        if case.steps == 0:
            kit.assert_equal(t, torch.zeros_like(t), f"{name} after 0 steps (descent starts from w = 0, b = 0)")
        kit.assert_finite(t, name)


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(fits())
def test_normal_equation_matches_lstsq(candidate, case):
    X, y, _, _ = case.data()
    assert_fit_close(case.closed(candidate, X, y), lstsq_fit(X, y, case.l2), "vs torch.linalg.lstsq on "
                     "[X 1; sqrt(N*l2) I 0] (the intercept is not penalized)", **tolerance(X, case.l2))


@pytest.mark.category("equivalence")
@given_cases(fits())
def test_normal_equation_matches_reference(candidate, reference, case):
    X, y, _, _ = case.data()
    expected = reference.fit_normal_equation(X, y, case.l2)
    assert_fit_close(case.closed(candidate, X, y), expected, "vs reference", **tolerance(X, case.l2))


@pytest.mark.category("equivalence")
@given_cases(fits(well_posed=False, steps=st.integers(1, 40)))
def test_gradient_descent_matches_reference(candidate, reference, case):
    X, y, _, _ = case.data()
    lr = case.lr_factor / curvature(X, case.l2)[0]
    expected = reference.fit_gradient_descent(X, y, lr, case.steps, case.l2)
    assert_fit_close(case.descent(candidate, X, y), expected, f"after {case.steps} steps of lr={lr:.4g} vs reference")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(fits(well_posed=False, steps=st.just(3)))
def test_descent_steps_follow_the_objective_gradient(candidate, case):
    """Iterates 1, 2 and 3 equal (w, b) - lr * grad J(w, b), with grad J from autograd."""
    X, y, _, _ = case.data()
    lr, point = case.lr_factor / curvature(X, case.l2)[0], (torch.zeros(case.D, dtype=f64), torch.zeros((), dtype=f64))
    for k in range(1, case.steps + 1):
        point = [t.requires_grad_() for t in point]
        grads = torch.autograd.grad(objective(X, y, *point, case.l2), point)
        point = [(t - lr * g).detach() for t, g in zip(point, grads)]
        assert_fit_close(case.descent(candidate, X, y, steps=k), point, f"after {k} step(s) vs descent on autograd's "
                         "gradient of J = mean((Xw + b - y)^2) + l2*||w||^2")


@pytest.mark.category("gradient")
@given_cases(fits())
def test_objective_gradient_vanishes_at_the_closed_form_solution(candidate, case):
    X, y, _, _ = case.data()
    w, b = (t.requires_grad_() for t in case.closed(candidate, X, y))
    at_zero = (torch.zeros(case.D, dtype=f64, requires_grad=True), torch.zeros((), dtype=f64, requires_grad=True))
    scale = max(float(g.abs().max()) for g in torch.autograd.grad(objective(X, y, *at_zero, case.l2), at_zero))
    grads = torch.autograd.grad(objective(X, y, w, b, case.l2), (w, b))
    assert_fit_close(grads, [torch.zeros_like(g) for g in grads], "-part of J's gradient at your normal-equation "
                     "solution (it is the minimizer only if this is 0; the penalty does not involve b)",
                     rtol=0.0, atol=1e2 * EPS64 * curvature(X, case.l2)[1] * (1 + scale))


# -- convergence ------------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_gradient_descent_reaches_the_closed_form_solution(candidate, reference, seed, artifacts):
    """With lr = 1/L and enough steps for the condition number, gradient descent lands on the
    normal-equation solution (and on lstsq's), on three data sets."""
    for run, l2 in enumerate([0.0, 0.01, 0.3]):
        case = Fit(64, 4, l2, seed * 1000 + run)
        X, y, _, _ = case.data()
        L, cond = curvature(X, l2)
        if run == 0:
            artifacts["loss_curve"] = {"candidate": loss_curve(candidate, X, y, 1 / L, l2),
                                       "reference": loss_curve(reference, X, y, 1 / L, l2)}
        got, where = case.descent(candidate, X, y, steps=min(4000, math.ceil(35 * cond))), f"({case}, lr=1/L)"
        # the iterate is within ~1e-15 of the optimum; rounding in the solves
        for expected, whose in [(lstsq_fit(X, y, l2), "lstsq's"), (case.closed(candidate, X, y), "your closed form's")]:
            assert_fit_close(got, expected, f"of gradient descent vs {whose} minimizer {where}", rtol=1e-6, atol=1e-8)


@pytest.mark.category("convergence")
@pytest.mark.parametrize("fit, N, D", [("closed form", 50, 3), ("closed form", 7, 6), ("gradient descent", 50, 3)])
def test_recovers_true_weights_from_noiseless_data(candidate, seed, fit, N, D):
    """y = X w* + b* exactly: both fits must return w* and b* (with N = D + 1 the system is square)."""
    case = Fit(N, D, 0.0, seed * 100 + D)
    X, y, w_true, b_true = case.data(noise=0.0)
    steps = min(4000, math.ceil(35 * curvature(X, 0.0)[1]))  # lr = 1/L
    got = case.closed(candidate, X, y) if fit == "closed form" else case.descent(candidate, X, y, steps=steps)
    tol = tolerance(X, 0.0) if fit == "closed form" else dict(rtol=1e-6, atol=1e-8)
    assert_fit_close(got, (w_true, b_true), f"by {fit} from noiseless y = X w* + b* ({case}) vs (w*, b*)", **tol)


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("shift", ["targets", "features"])
@given_cases(fits(), c=st.floats(-10, 10).filter(lambda v: abs(v) > 0.5))
def test_shifts_move_only_the_intercept(candidate, case, shift, c):
    """fit(X, y + c) = (w, b + c) and fit(X + t, y) = (w, b - t·w), for any penalty only when b is not penalized."""
    X, y, _, _ = case.data()
    w, b = case.closed(candidate, X, y)
    t = 4 * torch.rand(case.D, generator=case.generator(1), dtype=f64) - 2  # (D,)
    if shift == "targets":
        got, expected, what = case.closed(candidate, X, y + c), (w, b + c), f"adding {c:.3g} to every target"
    else:
        got, expected, what = case.closed(candidate, X + t, y), (w, b - t @ w), f"moving X's rows by t={t.tolist()}"
    assert_fit_close(got, expected, f"after {what} vs (w, b + c) or (w, b - t·w)", **tolerance(X, case.l2, 1e-8))


@pytest.mark.category("property")
@given_cases(fits())
def test_row_order_does_not_matter(candidate, case):
    X, y, _, _ = case.data()
    perm = torch.randperm(case.N, generator=case.generator(1))
    assert_fit_close(case.closed(candidate, X[perm], y[perm]), case.closed(candidate, X, y), f"with the samples "
                     f"in the order {perm.tolist()} vs in order", **tolerance(X, case.l2, 1e-8))


@pytest.mark.category("property")
def test_ridge_shrinks_the_weights_not_the_intercept(candidate, seed):
    """||w|| falls as l2 grows; at a huge l2, w -> 0 and b -> mean(y) (the best constant)."""
    case = Fit(30, 4, 0.0, seed)
    X, y, _, _ = case.data()
    norms = [float(case.closed(candidate, X, y, l2=l2)[0].norm()) for l2 in [0.0, 0.01, 0.1, 1.0, 10.0]]
    assert all(a > b for a, b in zip(norms, norms[1:])), (
        f"||w|| for l2 = 0, 0.01, 0.1, 1, 10: {[round(n, 6) for n in norms]}; a larger penalty must give a smaller w")
    w, b = case.closed(candidate, X, y, l2=1e9)
    assert_close(w, torch.zeros(4, dtype=f64), "w at l2=1e9 (should be ~0)", rtol=0.0, atol=1e-7)
    assert_close(b, y.mean(), "b at l2=1e9 (should be ~mean(y): the intercept is not penalized)", rtol=0.0, atol=1e-6)


@pytest.mark.category("property")
@given_cases(fits(l2=st.floats(1e-3, 3.0)).map(lambda case: case.replace(N=1)))
def test_single_sample_with_ridge(candidate, case):
    """One sample and l2 > 0: the intercept alone fits it, so w = 0 and b = y (any nonzero w only adds penalty)."""
    X, y, _, _ = case.data()
    assert_fit_close(case.closed(candidate, X, y), (torch.zeros(case.D, dtype=f64), y[0]), "for a single sample "
                     "with ridge vs (0, y)", atol=1e-12)


@pytest.mark.category("property")
def test_inputs_are_not_modified(candidate, seed):
    X, y, _, _ = make_data(10, 3, kit.generator(seed))
    kit.assert_inputs_unchanged(candidate.fit_normal_equation, {"X": X, "y": y, "l2": 0.1},
                                what="fit_normal_equation (centering must make a new tensor)")
    kit.assert_inputs_unchanged(candidate.fit_gradient_descent, {"X": X, "y": y, "lr": 0.05, "steps": 20, "l2": 0.1},
                                what="fit_gradient_descent")
