"""Helpers for writing exercise tests: seeded randomness and gradient comparisons.

Exercise tests import from here and from grader.compare; both run only in the trusted process.
"""
from __future__ import annotations

import contextlib

import torch

from grader.compare import Mismatch, assert_close


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed` (use one per test or per hypothesis example)."""
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block with torch's global RNG seeded, restoring the previous state afterwards
    (for code such as module constructors that cannot take a generator)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def assert_grads_close(got: dict, module: torch.nn.Module) -> None:
    """Parameter gradients returned by the candidate must match `module`'s .grad, by name."""
    for name, param in module.named_parameters():
        if got.get(name) is None:
            raise Mismatch(f"gradient w.r.t. {name}: no gradient reached this parameter "
                           "(detached, computed under no_grad, or not used in forward?)")
        assert_close(got[name], param.grad, f"gradient w.r.t. {name}")
