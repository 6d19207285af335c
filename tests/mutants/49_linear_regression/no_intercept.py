"""Fits y ≈ X w through the origin and returns b = 0."""
import torch


def fit_normal_equation(X, y, l2=0.0):
    N, D = X.shape
    w = torch.linalg.solve(X.T @ X + N * l2 * torch.eye(D, dtype=X.dtype), X.T @ y)
    return w, torch.zeros((), dtype=X.dtype)


def fit_gradient_descent(X, y, lr, steps, l2=0.0):
    N, D = X.shape
    w, b = torch.zeros(D, dtype=X.dtype), torch.zeros((), dtype=X.dtype)
    for _ in range(steps):
        r = X @ w + b - y
        grad_w = 2 / N * X.T @ r + 2 * l2 * w
        grad_b = 2 / N * r.sum()
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b
