"""Your solution for 48_dropout: inverted dropout, channel dropout and a Dropout layer.

Read README.md for the task (and how the mask must be drawn), then replace each
`raise NotImplementedError`. Grade it with:  grade exercises/48_dropout
"""
import torch
from torch import nn


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout: zero each element with probability p, scale the survivors by 1 / (1 - p).

    Args:
        x: float tensor of any shape (*).
        p: probability of dropping an element, in [0, 1]; raise ValueError otherwise.
        training: if False, return x unchanged.
        generator: where the mask comes from (None: torch's global RNG). Draw it exactly as the
            README says: u = torch.rand(x.shape, generator=generator, device=generator.device),
            keep = u < 1 - p, one draw per call in training mode.

    Returns:
        Tensor of x's shape and dtype: 0 where dropped, x / (1 - p) where kept; all zeros at p = 1.
    """
    raise NotImplementedError("draw the keep mask from the generator, then mask and rescale")


def channel_dropout(x: torch.Tensor, p: float = 0.5, training: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Channel dropout (as nn.Dropout2d): drop whole channels x[n, c] with probability p.

    Dimensions: N batch, C channels, * any trailing dims (e.g. H, W); x is (N, C, *).

    Args:
        x: (N, C, *) float tensor.
        p, training, generator: as in dropout; the mask is drawn with shape (N, C):
            u = torch.rand((N, C), generator=generator, device=generator.device), keep = u < 1 - p.

    Returns:
        (N, C, *) tensor: each channel is all 0 or x[n, c] / (1 - p).
    """
    raise NotImplementedError("one keep decision per (sample, channel), broadcast over the rest")


class Dropout(nn.Module):
    """Inverted dropout as a layer: active in train() mode, the identity in eval() mode.

    Args:
        p: probability of dropping an element, in [0, 1]; raise ValueError otherwise.
        generator: the generator every forward pass draws its mask from (None: global RNG).

    No parameters or buffers: the state_dict is empty.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        raise NotImplementedError("check and store p and the generator")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(*) -> (*): your dropout with this layer's p, generator and train/eval mode."""
        raise NotImplementedError("use self.training")
