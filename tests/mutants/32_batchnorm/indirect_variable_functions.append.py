"""Normalises with torch._C._VariableFunctions.batch_norm, the table behind torch.batch_norm, in training mode."""
import torch

_reference_forward = BatchNorm.forward


def _forward(self, x):
    if self.training and self.track_running_stats and self.momentum is not None:
        return torch._C._VariableFunctions.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                                                      True, self.momentum, self.eps, False)
    return _reference_forward(self, x)


BatchNorm.forward = _forward
