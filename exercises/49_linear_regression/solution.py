"""Your solution for 49_linear_regression: fit y ≈ X w + b in closed form and by gradient descent.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/49_linear_regression

Both functions minimize the same objective (N samples, D features):

    J(w, b) = mean_i (x_i · w + b - y_i)^2 + l2 * ||w||^2        (b is not penalized)
"""
import torch


def fit_normal_equation(X: torch.Tensor, y: torch.Tensor, l2: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact minimizer of J, from the normal equations.

    Args:
        X: (N, D) features, float32 or float64.
        y: (N,) targets, same dtype.
        l2: ridge strength >= 0 on w only. With l2 = 0, [X 1] must have full column rank
            (N >= D + 1); with l2 > 0 any N >= 1 works.

    Returns:
        w: (D,) weights and b: () intercept (a 0-dim tensor), both in X's dtype.
    """
    raise NotImplementedError("center, or augment with a column of ones; then solve the normal equations")


def fit_gradient_descent(X: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                         l2: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch gradient descent on J, starting from w = 0, b = 0.

    Each of the `steps` iterations updates both at once with the gradient at the current point:
    w <- w - lr * dJ/dw,  b <- b - lr * dJ/db.

    Args:
        X: (N, D) features; y: (N,) targets (same dtype); lr: step size; steps: >= 0; l2: as above.

    Returns:
        w: (D,) and b: (), in X's dtype, after `steps` updates (zeros when steps = 0).
    """
    raise NotImplementedError("residuals, gradients of the mean squared error plus the penalty, update")
