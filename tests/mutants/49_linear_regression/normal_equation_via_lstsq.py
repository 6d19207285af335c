"""Calls torch.linalg.lstsq on the augmented system: right numbers, but the oracle is forbidden."""
import torch


def fit_normal_equation(X, y, l2=0.0):
    N, D = X.shape
    A = torch.cat([X, torch.ones(N, 1, dtype=X.dtype)], dim=1)
    rhs = y
    if l2 > 0:
        penalty = torch.cat([(N * l2) ** 0.5 * torch.eye(D, dtype=X.dtype), torch.zeros(D, 1, dtype=X.dtype)], 1)
        A, rhs = torch.cat([A, penalty]), torch.cat([y, torch.zeros(D, dtype=X.dtype)])
    theta = torch.linalg.lstsq(A, rhs[:, None]).solution[:, 0]
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
