"""Reference: custom autograd Functions (SiLU with a hand-written backward, straight-through
rounding) and a reverse-mode Jacobian built from torch.autograd.grad.

SiLU(x) = x * sigmoid(x) (Elfwing et al., 2018; "Swish" in Ramachandran et al., 2017);
straight-through estimator for rounding (Bengio et al., 2013). Checked in float64 against
torch.autograd.gradcheck, F.silu and torch.autograd.functional.jacobian by the exercise's suite.
"""
from typing import Callable

import torch


class SiLUFunction(torch.autograd.Function):
    """y = x * sigmoid(x);  dy/dx = s * (1 + x * (1 - s)) with s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        # save_for_backward (not ctx.x = x): autograd version-checks saved tensors, so an
        # in-place change of x before backward raises instead of giving a silently wrong
        # gradient, and frees them once backward has run.
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)  # torch.sigmoid is stable for any |x| (no exp overflow)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * s * (1 + x * (1 - s))  # chain rule: upstream grad times local derivative


class StraightThroughRound(torch.autograd.Function):
    """Forward: torch.round (half to even). Backward: pretend it was the identity."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        # round's true derivative is 0 almost everywhere (nothing would train); the
        # straight-through estimator passes the upstream gradient through unchanged.
        return grad_output


def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """J of shape (*f(x).shape, *x.shape) with J[i..., j...] = d f(x)[i...] / d x[j...].

    Reverse mode: one vector-Jacobian product per output element (row of J).
    """
    x = x.detach().requires_grad_(True)  # our own leaf: the caller's tensor keeps its flags and .grad
    with torch.enable_grad():  # record a graph even when the caller is under torch.no_grad()
        y = f(x)
        assert isinstance(y, torch.Tensor), f"f must return a tensor, got {type(y).__name__}"
        assert y.numel() > 0, "f(x) must have at least one element"
        flat_y = y.reshape(-1)  # (m,)
        rows = []
        for i in range(flat_y.numel()):
            if flat_y.requires_grad:
                # retain_graph: the same graph serves every row; allow_unused: an output that
                # does not depend on x gives None, i.e. a zero row.
                (grad,) = torch.autograd.grad(flat_y[i], x, retain_graph=True, allow_unused=True)
            else:
                grad = None  # f(x) does not depend on x at all (constant, or built from x.detach())
            rows.append(torch.zeros_like(x) if grad is None else grad)  # each (*x.shape)
    J = torch.stack(rows)  # (m, *x.shape)
    return J.reshape(y.shape + x.shape)  # (*y.shape, *x.shape)
