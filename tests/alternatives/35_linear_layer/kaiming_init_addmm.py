"""Alternative: torch's own init recipe (nn.init.kaiming_uniform_ with a=sqrt(5)) and a flattened torch.addmm."""
import math

import torch
from torch import nn


class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # (out, in)
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None  # (out,) or no bias
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # bound sqrt(1/3) * sqrt(3 / fan_in)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight.size(1))
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        rows = x.reshape(-1, self.in_features)  # (N, in): every leading dim is a batch dim
        if self.bias is None:
            y = rows.mm(self.weight.t())  # (N, out)
        else:
            y = torch.addmm(self.bias, rows, self.weight.t())  # (N, out)
        return y.view(*x.shape[:-1], self.out_features)  # (*, out)
