"""The grading process's torch: one thread, and torch's passing plain-bool checks without sympy.

Trusted side only (the worker's torch is the candidate's and left as torch ships it).
"""
from __future__ import annotations

import functools

import torch


def configure() -> None:
    """Set up this process's torch for grading (idempotent)."""
    # Exercise tensors are tiny: extra threads only add overhead (and contention on small
    # machines); workers run single-threaded too.
    torch.set_num_threads(1)
    if not getattr(torch._check_with, "passes_plain_bools", False):
        torch._check_with = _passing_plain_bools_first(torch._check_with)


def _passing_plain_bools_first(check_with):
    """torch._check_with, which torch._check and torch's shape checks call (e.g.
    nn.MultiheadAttention's of a key_padding_mask), imports torch.fx.experimental.symbolic_shapes
    and sympy on its first call (~500 modules, 0.6-0.8 s of a grading process, of each lane's)
    only to read a symbolic bool. A check of a plain True returns here, as it would there; any
    other condition (False, a SymBool, a wrong type) goes to torch's own, errors and all."""
    @functools.wraps(check_with)
    def checked(error_type, cond, message=None):
        if cond is True:
            return None
        return check_with(error_type, cond, message)

    checked.passes_plain_bools = True
    return checked
