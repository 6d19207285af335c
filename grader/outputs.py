"""A call's output as one tensor: its floating tensors, nested in tuples and lists, flattened and
joined (what gradients are taken of, e.g. an RNN's (output, (h_n, c_n))), and its backward pass.

Shared by both sides (see grader/worker/__init__.py): `candidate.lib.grads` flattens in the worker,
the kit flattens the oracle's output the same way here.
"""
from __future__ import annotations

import torch


def flat(out) -> torch.Tensor:
    """A tensor as it is; a tuple or list of tensors (nested) as one vector of its floating ones.

    >>> flat((torch.zeros(2, 3), (torch.ones(1, 3), torch.ones(1, 3)))).shape
    torch.Size([12])
    """
    if isinstance(out, torch.Tensor):
        return out
    tensors = [t.reshape(-1) for t in _tensors(out) if t.is_floating_point()]
    if not tensors:
        raise TypeError(f"expected the call to return a tensor (or a tuple of tensors), got {_kind(out)}")
    return torch.cat(tensors)


def backward(out: torch.Tensor, grad: torch.Tensor) -> None:
    """`out.backward(grad)`, taken as the backward of (out * grad).sum(): the same gradients
    (d/d out is grad times one, exactly), but torch's first backward given a gradient imports
    torch.fx.experimental.symbolic_shapes and sympy (~500 modules, 0.6-0.8 s), in the grader and
    in a run's first worker, for two helpers of a shape check. Shapes must match, as there."""
    if grad.shape != out.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {tuple(grad.shape)} and output has "
                           f"a shape of {tuple(out.shape)}")
    (out * grad).sum().backward()


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)
    else:
        raise TypeError(f"expected the call to return a tensor (or a tuple of tensors), found {_kind(value)} in it")


def _kind(value) -> str:
    return type(value).__name__
