"""Your solution for 01_simple_network: a two-layer fully connected network.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/01_simple_network
"""
import torch
from torch import nn


class SimpleNetwork(nn.Module):
    """fc1 -> ReLU -> fc2: a fully connected classifier with one hidden layer.

    Dimensions: N batch (or any leading dims *), D = input_size, H = hidden_size, C = num_classes.

    Args:
        input_size: D, the number of input features.
        hidden_size: H, the width of the hidden layer.
        num_classes: C, the number of output logits.

    Submodules (names are graded: the tests load a state_dict into them):
        fc1: nn.Linear(input_size, hidden_size)
        fc2: nn.Linear(hidden_size, num_classes)
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int):
        super().__init__()
        raise NotImplementedError("create fc1 and fc2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map features to class scores.

        Args:
            x: (N, D) float tensor; more generally (*, D), any leading dims are batch dims.

        Returns:
            (N, C) raw logits (no softmax), same dtype as x; more generally (*, C).
        """
        raise NotImplementedError("fc1, ReLU, fc2")
