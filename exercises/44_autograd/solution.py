"""Your solution for 44_autograd: custom autograd Functions and a Jacobian.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/44_autograd
"""
from typing import Callable

import torch


class SiLUFunction(torch.autograd.Function):
    """y = x * sigmoid(x), elementwise, with a backward you write by hand.

    Use it as `SiLUFunction.apply(x)`: x is a float tensor of any shape (0-dim included);
    y has x's shape and dtype.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        """Compute y and save what backward needs with ctx.save_for_backward(...)."""
        raise NotImplementedError("save the tensors backward needs, return x * sigmoid(x)")

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        """grad_output: dL/dy, x's shape. Return dL/dx = grad_output * dy/dx."""
        raise NotImplementedError("read ctx.saved_tensors and apply the chain rule")


class StraightThroughRound(torch.autograd.Function):
    """Forward: round to the nearest integer exactly like torch.round (halves to even).
    Backward: the straight-through estimator, as if forward were the identity.

    Use it as `StraightThroughRound.apply(x)`: any shape; output has x's shape and dtype.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("round x")

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("pass the upstream gradient straight through")


def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of f at x, by reverse-mode autograd.

    Args:
        f: maps a tensor shaped like x to a tensor y = f(x) of any shape (0-dim included) with at
            least one element. f may branch and loop on x's values, and y's shape may depend on them.
        x: float tensor of any shape (0-dim included). It may require grad, or not; it is not modified.

    Returns:
        J of shape (*y.shape, *x.shape) with J[i..., j...] = d y[i...] / d x[j...]; zeros where an
        output does not depend on x (also when y does not require grad at all).
    """
    raise NotImplementedError("one vector-Jacobian product per output element, stacked and reshaped")
