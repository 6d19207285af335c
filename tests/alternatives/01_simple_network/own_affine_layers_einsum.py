"""Alternative: hand-written affine layers (own Parameters, einsum) and an nn.ReLU module."""
import math

import torch
from torch import nn


class Affine(nn.Module):
    """y = x W^T + b with W of shape (out, in), initialised like nn.Linear."""

    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def forward(self, x):
        return torch.einsum("...i,oi->...o", x, self.weight) + self.bias  # (*, out)


class SimpleNetwork(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = Affine(input_size, hidden_size)
        self.act = nn.ReLU()
        self.fc2 = Affine(hidden_size, num_classes)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))
