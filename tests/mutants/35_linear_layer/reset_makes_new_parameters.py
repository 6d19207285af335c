"""reset_parameters() assigns brand-new nn.Parameters, so an optimizer built earlier keeps training the old ones."""
import math

import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.use_bias = in_features, out_features, bias
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in_features)
        w = torch.rand(self.out_features, self.in_features) * 2 * bound - bound
        self.weight = nn.Parameter(w)
        if self.use_bias:
            self.bias = nn.Parameter(torch.rand(self.out_features) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y
