"""Alternative: the augmented system [X 1] with an unpenalized bias solved by Cholesky (no
centering); gradient descent with autograd and torch.optim.SGD."""
import torch


def fit_normal_equation(X, y, l2=0.0):
    N, D = X.shape
    A = torch.cat([X, X.new_ones(N, 1)], dim=1)  # (N, D + 1)
    penalty = X.new_full((D + 1,), N * l2)
    penalty[D] = 0.0  # the intercept is not penalized
    chol = torch.linalg.cholesky(A.T @ A + torch.diag(penalty))  # (D + 1, D + 1)
    theta = torch.cholesky_solve((A.T @ y).unsqueeze(1), chol).squeeze(1)  # (D + 1,)
    return theta[:D], theta[D]


def fit_gradient_descent(X, y, lr, steps, l2=0.0):
    w = torch.zeros(X.shape[1], dtype=X.dtype, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((X @ w + b - y) ** 2).mean() + l2 * (w ** 2).sum()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()
