"""Reference: a two-layer fully connected network, fc1 -> ReLU -> fc2, returning raw logits.

Checked by the exercise's suite (`grade validate`) against an nn.Sequential(Linear, ReLU, Linear)
twin with the same weights (outputs and gradients) and against finite differences.
"""
import torch
import torch.nn.functional as F
from torch import nn


class SimpleNetwork(nn.Module):
    """logits = fc2(relu(fc1(x))). Leading dims of x are batch dims, as for nn.Linear."""

    def __init__(self, input_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        assert min(input_size, hidden_size, num_classes) >= 1, \
            f"sizes must be positive, got {input_size}, {hidden_size}, {num_classes}"
        self.input_size = input_size
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.input_size, f"expected last dim {self.input_size}, got shape {tuple(x.shape)}"
        h = F.relu(self.fc1(x))  # (*, H)
        return self.fc2(h)  # (*, C): raw logits; cross-entropy applies log-softmax itself
