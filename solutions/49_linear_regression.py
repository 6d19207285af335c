"""Reference: linear regression y ≈ X w + b, fitted in closed form (normal equations, with an
optional ridge penalty on w but not on b) and by full-batch gradient descent.

Both minimize the same objective

    J(w, b) = mean_i (x_i · w + b - y_i)^2 + l2 * ||w||^2

Checked by the exercise's suite (`grade validate`) against `torch.linalg.lstsq` on the
augmented system [X 1; sqrt(N l2) I 0] [w; b] = [y; 0] (whose squared residual is N * J), and
gradient descent against autograd's gradient of J.
"""
import torch


def _check(X: torch.Tensor, y: torch.Tensor, l2: float) -> None:
    assert X.ndim == 2, f"X must be (N, D), got shape {tuple(X.shape)}"
    assert y.shape == X.shape[:1], f"y must be (N,) = {tuple(X.shape[:1])}, got {tuple(y.shape)}"
    assert l2 >= 0, f"l2 must be >= 0, got {l2}"


def fit_normal_equation(X: torch.Tensor, y: torch.Tensor, l2: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin J in closed form. Returns w (D,) and b () in X's dtype."""
    _check(X, y, l2)
    N, D = X.shape
    # Centering eliminates b: at the optimum b = mean(y) - mean(x)·w, so w solves the centered
    # problem, where the penalty touches w alone (an unpenalized bias, as in sklearn's Ridge).
    x_mean, y_mean = X.mean(dim=0), y.mean()  # (D,), ()
    Xc, yc = X - x_mean, y - y_mean  # (N, D), (N,)
    # dJ/dw = 0  <=>  (Xcᵀ Xc + N l2 I) w = Xcᵀ yc   (N l2 because J averages over the N samples)
    gram = Xc.T @ Xc + N * l2 * torch.eye(D, dtype=X.dtype, device=X.device)  # (D, D)
    w = torch.linalg.solve(gram, Xc.T @ yc)  # (D,): solve, never inv(): cheaper and more accurate
    b = y_mean - x_mean @ w  # ()
    return w, b


def fit_gradient_descent(X: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                         l2: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """`steps` full-batch gradient steps on J from w = 0, b = 0. Returns w (D,) and b ()."""
    _check(X, y, l2)
    assert steps >= 0, f"steps must be >= 0, got {steps}"
    N, D = X.shape
    w, b = X.new_zeros(D), X.new_zeros(())  # (D,), ()
    for _ in range(steps):
        r = X @ w + b - y  # (N,) residuals
        grad_w = (2.0 / N) * (X.T @ r) + 2.0 * l2 * w  # (D,)
        grad_b = (2.0 / N) * r.sum()  # (): the penalty does not involve b
        w, b = w - lr * grad_w, b - lr * grad_b  # simultaneous update: both grads at the old point
    return w, b
