"""Operations the grader may run in the worker on the candidate's objects (worker side).

They return raw tensors and numbers; every verdict is made by the grader from them.
"""
from __future__ import annotations

import torch

from grader import tasks, training

__all__ = ["grads", "fit", "build"]


def lookup(name: str):
    """The operation called `name`; only the ones listed in __all__ exist."""
    if name not in __all__:
        raise LookupError(f"no remote operation {name!r}")
    return globals()[name]


def grads(fn, args: list, kwargs: dict | None = None, grad_output: torch.Tensor | None = None) -> dict:
    """Run fn(*args, **kwargs), backpropagate `grad_output` (ones if None) from its output.

    Returns {"output", "input_grads": [grad or None per arg], "param_grads": {name: grad or None}}.
    """
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a
              for a in args]
    params = dict(fn.named_parameters()) if isinstance(fn, torch.nn.Module) else {}
    for p in params.values():
        p.grad = None
    out = fn(*leaves, **(kwargs or {}))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"expected the call to return a tensor, got {type(out).__name__}")
    seed = torch.ones_like(out) if grad_output is None else grad_output.to(out.device, out.dtype)
    out.backward(seed)
    return {
        "output": out.detach(),
        "input_grads": [a.grad if isinstance(a, torch.Tensor) else None for a in leaves],
        "param_grads": {name: p.grad for name, p in params.items()},
    }


def fit(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **config) -> dict:
    """`grader.training.fit` on the candidate's model."""
    return training.fit(model, inputs, targets, **config)


def build(name: str, *args, **kwargs) -> torch.nn.Module:
    """Instantiate one of `grader.tasks.MODELS` (e.g. wrapping the candidate's module)."""
    return tasks.MODELS[name](*args, **kwargs)
