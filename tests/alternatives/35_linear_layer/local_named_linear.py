"""A correct Linear in another idiom (einsum, xavier-free init through calculate_gain("linear")),
with a local variable named `linear`: words shared with a forbidden API are not uses of it."""
import math

import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # (out, in)
        self.register_parameter("bias", nn.Parameter(torch.empty(out_features)) if bias else None)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("linear")  # 1.0: the bound below is 1 / sqrt(fan_in)
        bound = gain / math.sqrt(self.in_features)
        self.weight.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linear = torch.einsum("...i,oi->...o", x, self.weight)  # (*, out)
        return linear if self.bias is None else linear + self.bias
