"""Trusted helpers for the 44_autograd suite: test functions to differentiate, tiny models built
around your Functions, and probes of what autograd recorded.

The tests run them in the worker (`candidate.lib.support("name", ...)`) on your objects, and the
same file here on the reference; they only return plain data and tensors (or a model / function
handle). Every verdict is made by the tests from those values.
"""
from __future__ import annotations

import math

import torch
from torch import nn


# -- functions for jacobian(f, x) -------------------------------------------------------------
def elementwise(x):
    return torch.sin(x) * x  # diagonal Jacobian


def softmax_last(x):
    return torch.softmax(x, dim=-1)  # dense blocks along the last dim


def outer(x):
    v = x.reshape(-1)
    return v[:, None] * torch.tanh(v)[None, :]  # (n, n), not symmetric


def cubic_sum(x):
    return (x ** 3).sum()  # 0-dim output


def identity(x):
    return x  # f(x) is x itself


def normalize(x):
    return x / x.norm()


def sorted_weighted(x):
    """Sorting: which input lands where depends on the values."""
    v = x.reshape(-1)
    return v.sort().values * torch.arange(1, v.numel() + 1, dtype=x.dtype, device=x.device)


def control_flow(x):
    """Python control flow on x's values: how often the loop runs and which branch (with which
    output shape) is taken depend on the data; autograd records only the operations that ran."""
    y = x
    halvings = 0
    while y.abs().max() > 1.0:  # data-dependent number of iterations
        y = y / 2
        halvings += 1
    if y.sum() > 0:  # data-dependent branch
        return torch.exp(y) * x  # same shape as x
    return y.reshape(-1).cumsum(0) ** 2 + halvings  # (n,)


def above_median(x):
    """The output's length depends on the values: the entries at or above the median, scaled by
    the sum of all entries (so every input matters to every output)."""
    v = x.reshape(-1)
    return v[v >= v.median()] * v.sum()


def constant(x):
    return torch.ones(2, 3, dtype=x.dtype, device=x.device)  # does not depend on x at all


def partly_constant(x):
    zeros = torch.zeros(2, dtype=x.dtype, device=x.device)
    return torch.cat([torch.tanh(x.reshape(-1)), zeros])  # the last two outputs ignore x


def detached_part(x):
    """Autograd treats the detached term as a constant: the Jacobian is diag(cos x), although
    finite differences of this f would give diag(cos x + 2)."""
    return 2 * x.detach() + torch.sin(x)


FUNCTIONS = {f.__name__: f for f in (elementwise, softmax_last, outer, cubic_sum, identity, normalize,
                                      sorted_weighted, control_flow, above_median, constant,
                                      partly_constant, detached_part)}


def make_function(name: str, *params: torch.Tensor):
    """The test function `name`; "affine" takes (W (m, n), b (m,)): x -> W @ x.flatten() + b."""
    if name == "affine":
        W, b = params

        def affine(x):
            return W.to(x.device) @ x.reshape(-1) + b.to(x.device)  # (m,)
        return affine
    return FUNCTIONS[name]


def jacobian_input_effects(jacobian, f, x: torch.Tensor, mode: str) -> dict:
    """Call jacobian(f, arg) as a caller would and report what the caller can see afterwards.

    mode: "plain" (arg = a plain tensor), "leaf" (a leaf that requires grad), "non_leaf" (the
    output of an op on such a leaf), "no_grad" (a plain tensor, called under torch.no_grad()).
    """
    leaf = x.clone().requires_grad_(mode in ("leaf", "non_leaf"))
    arg = leaf * 1.0 if mode == "non_leaf" else leaf
    if mode == "no_grad":
        with torch.no_grad():
            J = jacobian(f, arg)
    else:
        J = jacobian(f, arg)
    return {"J": J, "requires_grad": arg.requires_grad, "leaf_grad": leaf.grad, "values": arg.detach().clone()}


# -- probes of a custom Function ------------------------------------------------------------------
def autograd_function_info(cls, x: torch.Tensor) -> dict:
    """Is `cls` a torch.autograd.Function, and which node did autograd record for its output?"""
    is_function = isinstance(cls, type) and issubclass(cls, torch.autograd.Function)
    y = cls.apply(x.clone().requires_grad_(True))
    grad_fn = getattr(y, "grad_fn", None)
    return {"is_function": is_function, "class_name": getattr(cls, "__name__", ""),
            "grad_fn": None if grad_fn is None else type(grad_fn).__name__}


def backward_after_inplace_change(apply, x: torch.Tensor, grad_output: torch.Tensor, delta: float) -> dict:
    """y = apply(z) for a tensor z that requires grad; then z += delta in place; then backward.

    Autograd may raise (it version-checks tensors saved with ctx.save_for_backward) or give the
    gradient at the ORIGINAL z; a gradient at the changed z is silently wrong."""
    leaf = x.clone().requires_grad_(True)
    z = leaf * 1.0  # not a leaf, so it may be changed in place
    y = apply(z)
    with torch.no_grad():
        z.add_(delta)
    try:
        y.backward(grad_output)
    except RuntimeError as e:
        return {"raised": True, "message": str(e)[:300], "grad": None}
    return {"raised": False, "message": "", "grad": leaf.grad}


# -- tiny models for the convergence tests --------------------------------------------------------
class QuantizedLinear(nn.Module):
    """A linear classifier whose weights are rounded to multiples of `step` in every forward pass
    (quantization-aware training): x (N, D) -> logits (N, C). The float weights behind the grid
    can only learn if gradients pass through the rounding."""

    def __init__(self, round_fn, d_in: int, num_classes: int, step: float = 0.5):
        super().__init__()
        self.round_fn, self.step = round_fn, step
        self.weight = nn.Parameter(0.1 * torch.randn(num_classes, d_in))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.round_fn(self.weight / self.step) * self.step  # (C, D) on the grid
        return x @ w.T + self.bias  # (N, C)


class ActivationMLP(nn.Module):
    """x (N, D) -> Linear -> act -> Linear -> logits (N, C), with `act` a function such as
    SiLUFunction.apply."""

    def __init__(self, act, d_in: int, hidden: int, num_classes: int):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))  # (N, C)


def teacher_task(g: torch.Generator, d_in: int = 8, classes: int = 4, step: float = 0.5):
    """A linear rule on the weight grid: teacher weights in step * {-2..2}; x ~ N(0, I); label = argmax
    of x @ teacher.T. (x_train, y_train, x_test, y_test) with 1024 and 512 rows."""
    teacher = step * torch.randint(-2, 3, (classes, d_in), generator=g).float()
    x = torch.randn(1536, d_in, generator=g)
    y = (x @ teacher.T).argmax(-1)
    return x[:1024], y[:1024], x[1024:], y[1024:]


def rings_task(g: torch.Generator, n: int = 512):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5 (no line separates them):
    (x_train, y_train, x_test, y_test), n rows each."""
    label = torch.randint(2, (2 * n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(2 * n, generator=g), 0.5 * torch.rand(2 * n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(2 * n, generator=g)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)  # (2n, 2)
    return x[:n], label[:n], x[n:], label[n:]
