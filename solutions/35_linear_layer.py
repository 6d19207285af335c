"""Reference: a fully connected layer y = x W^T + b from scratch, initialized like torch's own.

Checked by the exercise's suite (`grade validate`) against F.linear with the same weights
(outputs and gradients), against finite differences, and against the distribution torch's
default initialization draws from.
"""
import math

import torch
from torch import nn


class Linear(nn.Module):
    """y = x @ weight.T + bias over the last dim of x; every leading dim is a batch dim."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        assert in_features >= 1 and out_features >= 1, \
            f"sizes must be positive, got in_features={in_features}, out_features={out_features}"
        self.in_features, self.out_features = in_features, out_features
        # (out, in), as torch stores it: row o holds the weights of output unit o, so the
        # forward pass is x @ W^T and fan_in is the size of dim 1.
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # (out, in)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))  # (out,)
        else:
            # registered as None: `self.bias` exists (and is None) but is neither a parameter
            # nor a state_dict entry
            self.register_parameter("bias", None)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Redraw the parameters in place (optimizers keep pointing at the same tensors).

        torch uses kaiming_uniform_(weight, a=sqrt(5)): gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)
        and bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). The bias is U(-1/sqrt(fan_in),
        1/sqrt(fan_in)) too. Same draws, in the same order, as torch's layer.
        """
        bound = 1.0 / math.sqrt(self.in_features)  # fan_in = in_features
        self.weight.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.in_features, \
            f"expected last dim {self.in_features}, got input of shape {tuple(x.shape)}"
        y = x @ self.weight.T  # (*, in) @ (in, out) -> (*, out); matmul broadcasts over leading dims
        if self.bias is not None:
            y = y + self.bias  # (*, out) + (out,)
        return y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
