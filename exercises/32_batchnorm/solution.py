"""Your solution for 32_batchnorm: batch normalization from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/32_batchnorm
"""
import torch
from torch import nn


class BatchNorm(nn.Module):
    """Batch normalization over the channel dim (dim 1) of (N, C), (N, C, L) or (N, C, H, W) inputs.

    Dimensions: N batch, C = num_features channels, L or (H, W) positions.

    Args:
        num_features: C.
        eps: added to the variance inside the square root.
        momentum: weight of the new batch in the running estimates
            (running = (1 - momentum) * running + momentum * batch); None means a cumulative
            moving average (momentum = 1 / num_batches_tracked).
        affine: learn a per-channel scale `weight` (init 1) and shift `bias` (init 0).
        track_running_stats: keep running estimates for eval mode; if False, batch statistics
            are used in training and in eval mode alike.

    State (names are graded: the tests load nn.BatchNorm's state_dict into your module):
        weight, bias: (C,) nn.Parameters if affine (else None).
        running_mean (C,) init 0, running_var (C,) init 1, num_batches_tracked () long init 0:
            buffers if track_running_stats (else None).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        raise NotImplementedError("store the options; create weight, bias and the running-statistics buffers")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize each channel of x.

        Args:
            x: (N, C), (N, C, L) or (N, C, H, W) float tensor.

        Returns:
            tensor of x's shape and dtype. Training mode: normalized with this batch's mean and
            biased variance per channel (over N and every position), and the running estimates
            updated (running_var with the unbiased variance). Eval mode: normalized with the
            running estimates, which do not change.
        """
        raise NotImplementedError("batch or running statistics per channel, update the running ones, normalize, "
                                  "scale and shift")
