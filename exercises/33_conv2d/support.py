"""Trusted helpers for 33_conv2d, run in the worker through `candidate.lib.support` and imported
on the trusted side by the tests: a tiny CNN built around any conv2d function."""
import torch
from torch import nn


class TinyCNN(nn.Module):
    """conv 3x3 (1->4, padding 1) -> ReLU -> conv 3x3 (4->8, stride 2, padding 1, groups 2) -> ReLU
    -> max over space -> linear to 2 logits. `conv` is a conv2d function (the one under test)."""

    def __init__(self, conv, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = conv
        self.w1 = nn.Parameter(torch.randn(4, 1, 3, 3, generator=g) / 3.0)
        self.b1 = nn.Parameter(torch.zeros(4))
        self.w2 = nn.Parameter(torch.randn(8, 2, 3, 3, generator=g) / 18 ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(8))
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(2, 8, generator=g) / 8 ** 0.5)
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x, self.w1, self.b1, stride=1, padding=1))  # (N, 4, H, W)
        h = torch.relu(self.conv(h, self.w2, self.b2, stride=2, padding=1, groups=2))  # (N, 8, H/2, W/2)
        return self.head(h.amax(dim=(2, 3)))  # (N, 2)


def tiny_cnn(conv, seed: int) -> nn.Module:
    """A TinyCNN around `conv`, its weights drawn from `seed`."""
    return TinyCNN(conv, seed)
