"""Runs aten::native_batch_norm through torch.ops.aten beside its own normalisation."""
import torch

_reference_forward = BatchNorm.forward


def _forward(self, x):
    torch.ops.aten.native_batch_norm(x.detach(), None, None, None, None, True, 0.1, 1e-5)
    return _reference_forward(self, x)


BatchNorm.forward = _forward
