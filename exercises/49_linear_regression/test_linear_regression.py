"""Suite for 49_linear_regression: both fits of J(w, b) = mean((Xw + b - y)^2) + l2 * ||w||^2 (ridge on w only)."""
import math

import pytest
import torch
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, f64, given_cases



class Fit(kit.Case):
    """N samples of D features, ridge strength l2; for descent, `steps` steps of lr = lr_factor / L."""

    N: int
    D: int
    l2: float
    data_seed: int
    steps: int = 0
    lr_factor: float = 1.0

    def data(self, dtype=f64, noise=0.3):
        """X (N, D) with feature scales in [0.5, 1.5] and means in [-1, 1] (centering is needed); y (N,); w*, b*."""
        r = dict(generator=self.generator(), dtype=f64)  # one stream for every draw
        scale, offset = 0.5 + torch.rand(self.D, **r), 2 * torch.rand(self.D, **r) - 1
        X = torch.randn(self.N, self.D, **r) * scale + offset  # (N, D)
        w_true, b_true = torch.randn(self.D, **r), 6 * torch.rand((), **r) - 3  # b* in [-3, 3]
        y = X @ w_true + b_true + noise * torch.randn(self.N, **r)  # (N,)
        return X.to(dtype), y.to(dtype), w_true, b_true

    def lr(self, X) -> float:
        return self.lr_factor / curvature(X.double(), self.l2)[0]

    def closed(self, lib, X, y):
        return unpack_fit(lib.fit_normal_equation(X, y, self.l2), X, f"fit_normal_equation(l2={self.l2:g})")

    def descent(self, lib, X, y):
        name = f"fit_gradient_descent(lr={self.lr(X):.4g}, steps={self.steps}, l2={self.l2:g})"
        return unpack_fit(lib.fit_gradient_descent(X, y, self.lr(X), self.steps, self.l2), X, name)

    def converged(self, lib, X, y):  # enough steps for the condition number: within ~1e-15 of the optimum
        return self.replace(steps=min(4000, math.ceil(35 * curvature(X, self.l2)[1]))).descent(lib, X, y)

    def loss_curve(self, lib, X, y) -> list[float]:
        fits = (lib.fit_gradient_descent(X, y, self.lr(X), k, self.l2) for k in [0, 1, 2, 4, 8, 16, 32, 64, 128, 256])
        return [float(objective(X, y, w, b, self.l2)) for w, b in fits]


@st.composite
def fits(draw, well_posed=True, l2=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)), steps=st.just(0)):
    D, l2 = draw(st.integers(1, 5), label="D"), draw(l2, label="l2")
    N = draw(st.integers(D + 2 if well_posed and l2 == 0 else 1, 12), label="N")  # l2 = 0 is well posed if N >= D + 2
    return Fit(N, D, l2, draw(kit.data_seeds), draw(steps, label="steps"), draw(st.floats(0.1, 1.5)))


def ridge_system(X: torch.Tensor, l2: float) -> torch.Tensor:
    """B = [X 1; sqrt(N l2) I 0] (N+D, D+1): lstsq on B [w; b] = [y; 0] minimizes N J; (2/N) BᵀB is J's Hessian."""
    N, D = X.shape
    return torch.cat([torch.cat([X, X.new_ones(N, 1)], 1), math.sqrt(N * l2) * torch.eye(D, D + 1, dtype=X.dtype)])


def lstsq_fit(X: torch.Tensor, y: torch.Tensor, l2: float):  # the oracle: torch.linalg.lstsq on the ridge system
    theta = torch.linalg.lstsq(ridge_system(X, l2), torch.cat([y, y.new_zeros(X.shape[1])])[:, None]).solution[:, 0]
    return theta[:-1], theta[-1]


def curvature(X: torch.Tensor, l2: float) -> tuple[float, float]:
    """L, the largest eigenvalue of J's Hessian, and its condition number (lr = factor / L converges if factor < 2)."""
    eig = torch.linalg.eigvalsh(2 / len(X) * ridge_system(X, l2).T @ ridge_system(X, l2))
    return float(eig[-1]), float(eig[-1] / eig[0])


def tolerance(X, l2: float, atol: float = 1e-9) -> dict:
    """Normal equations lose about cond(AᵀA) digits, lstsq about cond(A): allow for the worse."""
    return dict(rtol=max(1e-7, 100 * torch.finfo(f64).eps * curvature(X, l2)[1]), atol=atol)


def objective(X, y, w, b, l2: float) -> torch.Tensor:
    return ((X @ w + b - y) ** 2).mean() + l2 * (w ** 2).sum()


def grad_J(X, y, l2: float, w, b) -> tuple:  # autograd's gradient of J at (w, b)
    point = [t.detach().clone().requires_grad_() for t in (w, b)]
    return torch.autograd.grad(objective(X, y, *point, l2), point)


def unpack_fit(result, X: torch.Tensor, name: str):
    result = tuple(result) if isinstance(result, list) else result
    return kit.unpack(result, {f"{name}: w": (X.shape[1],), f"{name}: b (0-dim)": ()}, X.dtype, name, finite=True)


def assert_fit_close(got, expected, what: str, **tol):
    for g, e, name in zip(got, expected, "wb"):
        assert_close(g, e, f"{name} {what}", **tol)


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@pytest.mark.parametrize("fit", ["closed", "descent"])
@given_cases(fits(steps=st.integers(0, 5)), dtype=st.sampled_from([torch.float32, f64]))
def test_shapes_and_dtype(candidate, case, dtype, fit):
    for t, name in zip(getattr(case, fit)(candidate, *case.data(dtype)[:2]), "wb"):
        if fit == "descent" and case.steps == 0:
            kit.assert_equal(t, torch.zeros_like(t), f"{name} after 0 steps (descent starts from w = 0, b = 0)")


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("oracle", ["lstsq", "reference"])
@given_cases(fits())
def test_normal_equation_matches(candidate, reference, case, oracle):
    X, y = case.data()[:2]
    expected = case.closed(reference, X, y) if oracle == "reference" else lstsq_fit(X, y, case.l2)
    assert_fit_close(case.closed(candidate, X, y), expected, f"vs {oracle} (b unpenalized)", **tolerance(X, case.l2))


@pytest.mark.category("equivalence")
@given_cases(fits(well_posed=False, steps=st.integers(1, 40)))
def test_gradient_descent_matches_reference(candidate, reference, case):
    X, y = case.data()[:2]
    assert_fit_close(case.descent(candidate, X, y), case.descent(reference, X, y),
                     f"after {case.steps} steps of lr={case.lr(X):.4g} vs reference")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(fits(well_posed=False, steps=st.just(3)))
def test_descent_steps_follow_the_objective_gradient(candidate, case):
    X, y = case.data()[:2]
    point = (torch.zeros(case.D, dtype=f64), torch.zeros((), dtype=f64))
    for k in range(1, case.steps + 1):
        point = [t - case.lr(X) * g for t, g in zip(point, grad_J(X, y, case.l2, *point))]
        assert_fit_close(case.replace(steps=k).descent(candidate, X, y), point, f"after {k} step(s) vs descent on "
                         "autograd's gradient of J = mean((Xw + b - y)^2) + l2*||w||^2")


@pytest.mark.category("gradient")
@given_cases(fits())
def test_objective_gradient_vanishes_at_the_closed_form_solution(candidate, case):
    X, y = case.data()[:2]
    at_zero = grad_J(X, y, case.l2, torch.zeros(case.D, dtype=f64), torch.zeros((), dtype=f64))
    atol = 1e2 * torch.finfo(f64).eps * curvature(X, case.l2)[1] * (1 + max(float(g.abs().max()) for g in at_zero))
    grads = grad_J(X, y, case.l2, *case.closed(candidate, X, y))
    assert_fit_close(grads, [torch.zeros_like(g) for g in grads], "-part of J's gradient at your normal-equation "
                     "solution (the minimizer only if this is 0; the penalty does not involve b)", rtol=0.0, atol=atol)


# -- convergence ------------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_gradient_descent_reaches_the_closed_form_solution(candidate, reference, seed, artifacts):
    """With lr = 1/L and enough steps for the condition number, descent lands on the closed form and on lstsq's fit."""
    for run, l2 in enumerate([0.0, 0.01, 0.3]):
        case = Fit(64, 4, l2, seed * 1000 + run)
        X, y = case.data()[:2]
        if run == 0:
            artifacts["loss_curve"] = {"candidate": case.loss_curve(candidate, X, y),
                                       "reference": case.loss_curve(reference, X, y)}
        got = case.converged(candidate, X, y)
        # the iterate is within ~1e-15 of the optimum; rounding in the solves
        for expected, whose in [(lstsq_fit(X, y, l2), "lstsq's"), (case.closed(candidate, X, y), "your closed form's")]:
            assert_fit_close(got, expected, f"by descent vs {whose} minimizer ({case}, lr=1/L)", rtol=1e-6, atol=1e-8)


@pytest.mark.category("convergence")
@pytest.mark.parametrize("fit, N, D", [("closed form", 50, 3), ("closed form", 7, 6), ("gradient descent", 50, 3)])
def test_recovers_true_weights_from_noiseless_data(candidate, seed, fit, N, D):  # (7, 6): N = D + 1, a square system
    case = Fit(N, D, 0.0, seed * 100 + D)
    X, y, w_true, b_true = case.data(noise=0.0)
    got = case.closed(candidate, X, y) if fit == "closed form" else case.converged(candidate, X, y)
    tol = tolerance(X, 0.0) if fit == "closed form" else dict(rtol=1e-6, atol=1e-8)
    assert_fit_close(got, (w_true, b_true), f"by {fit} from noiseless y = X w* + b* ({case}) vs (w*, b*)", **tol)


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("change", ["targets", "features", "row order"])
@given_cases(fits(), c=st.floats(-10, 10).filter(lambda v: abs(v) > 0.5))
def test_shifts_move_only_the_intercept(candidate, case, change, c):
    """fit(X, y + c) = (w, b + c); fit(X + t, y) = (w, b - t·w) as b is unpenalized; fit(X[perm], y[perm]) = (w, b)."""
    X, y = case.data()[:2]
    w, b = case.closed(candidate, X, y)
    t = 4 * torch.rand(case.D, generator=case.generator(1), dtype=f64) - 2  # (D,)
    perm = torch.randperm(case.N, generator=case.generator(1))
    moved = {"targets": (X, y + c, (w, b + c), f"adding {c:.3g} to every target vs (w, b + c)"),
             "features": (X + t, y, (w, b - t @ w), f"moving X's rows by t={t.tolist()} vs (w, b - t·w)"),
             "row order": (X[perm], y[perm], (w, b), f"putting the samples in the order {perm.tolist()} vs in order")}
    X2, y2, expected, what = moved[change]
    assert_fit_close(case.closed(candidate, X2, y2), expected, f"after {what}", **tolerance(X, case.l2, 1e-8))


@pytest.mark.category("property")
def test_ridge_shrinks_the_weights_not_the_intercept(candidate, seed):
    """||w|| falls as l2 grows; at a huge l2, w -> 0 and b -> mean(y) (the best constant)."""
    case = Fit(30, 4, 0.0, seed)
    X, y = case.data()[:2]
    norms = [float(case.replace(l2=l2).closed(candidate, X, y)[0].norm()) for l2 in [0.0, 0.01, 0.1, 1.0, 10.0]]
    assert all(a > b for a, b in zip(norms, norms[1:])), (
        f"||w|| for l2 = 0, 0.01, 0.1, 1, 10: {[round(n, 6) for n in norms]}; a larger penalty must give a smaller w")
    w, b = case.replace(l2=1e9).closed(candidate, X, y)
    assert_close(w, torch.zeros(4, dtype=f64), "w at l2=1e9 (should be ~0)", rtol=0.0, atol=1e-7)
    assert_close(b, y.mean(), "b at l2=1e9 (should be ~mean(y): the intercept is not penalized)", rtol=0.0, atol=1e-6)


@pytest.mark.category("property")
@given_cases(fits(l2=st.floats(1e-3, 3.0)).map(lambda case: case.replace(N=1)))
def test_single_sample_with_ridge(candidate, case):
    """One sample and l2 > 0: the intercept alone fits it, so w = 0 and b = y (any nonzero w only adds penalty)."""
    X, y = case.data()[:2]
    assert_fit_close(case.closed(candidate, X, y), (y.new_zeros(case.D), y[0]), "for one sample vs (0, y)", atol=1e-12)


@pytest.mark.category("property")
def test_inputs_are_not_modified(candidate, seed):
    X, y = Fit(10, 3, 0.1, seed).data()[:2]
    for fn, more in [("fit_normal_equation", {}), ("fit_gradient_descent", {"lr": 0.05, "steps": 20})]:
        kit.assert_inputs_unchanged(getattr(candidate, fn), {"X": X, "y": y, **more, "l2": 0.1},
                                    what=f"{fn} (centering, if any, must make a new tensor)")
