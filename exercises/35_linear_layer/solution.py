"""Your solution for 35_linear_layer: a fully connected layer y = x W^T + b, from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/35_linear_layer
"""
import math

import torch
from torch import nn


class Linear(nn.Module):
    """y = x @ weight.T + bias, applied to the last dim of x; a drop-in for torch's own layer.

    Dimensions: * any leading dims (batch dims, possibly none), in = in_features, out = out_features.

    Args:
        in_features: in, the size of each input vector (the fan-in of every output unit).
        out_features: out, the size of each output vector.
        bias: whether the layer adds a learnable bias.

    Attributes (names are graded: the tests load a state_dict into them):
        in_features, out_features: the two sizes, as given.
        weight: nn.Parameter of shape (out, in).
        bias: nn.Parameter of shape (out,), or None when bias=False (not in the state_dict then).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("register weight (out, in) and bias (out,) or None, then call reset_parameters()")

    def reset_parameters(self) -> None:
        """(Re)initialize the parameters in place, as torch's layer does: weight and bias both
        ~ U(-1/sqrt(in_features), 1/sqrt(in_features)), drawn from the global RNG."""
        raise NotImplementedError("fill weight and bias in place with uniform draws")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to the last dim of x.

        Args:
            x: (*, in) float tensor; every leading dim is a batch dim, and there may be none.

        Returns:
            (*, out) tensor, same dtype as x.
        """
        raise NotImplementedError("x @ W^T + b")
