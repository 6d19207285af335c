"""A call's output as one tensor: its floating tensors, nested in tuples and lists, flattened and
joined (what gradients are taken of, e.g. an RNN's (output, (h_n, c_n))).

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
