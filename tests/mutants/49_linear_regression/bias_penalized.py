"""Ridge on the augmented matrix [X 1] penalizes the intercept too (l2 * I over all D + 1 coefficients)."""
import torch


def fit_normal_equation(X, y, l2=0.0):
    N, D = X.shape
    A = torch.cat([X, torch.ones(N, 1, dtype=X.dtype)], dim=1)
    theta = torch.linalg.solve(A.T @ A + N * l2 * torch.eye(D + 1, dtype=X.dtype), A.T @ y)
    return theta[:D], theta[D]


def fit_gradient_descent(X, y, lr, steps, l2=0.0):
    N, D = X.shape
    w, b = torch.zeros(D, dtype=X.dtype), torch.zeros((), dtype=X.dtype)
    for _ in range(steps):
        r = X @ w + b - y
        grad_w = 2 / N * X.T @ r + 2 * l2 * w
        grad_b = 2 / N * r.sum()
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b
