"""Your solution for 31_parameters_buffers: parameters vs buffers.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/31_parameters_buffers
"""
import torch
from torch import nn


class RunningNormalizer(nn.Module):
    """Per-feature normalization with running statistics and a learnable affine:
    y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.

    Dimensions: F = num_features (the last dim of x); * any leading dims, all batch dims.

    Args:
        num_features: F.
        momentum: weight of the new batch in the running averages (as in BatchNorm).
        eps: added to the variance before the square root.

    State (names are graded; the state_dict is the same as nn.BatchNorm1d's):
        parameters:            weight (F,) = 1, bias (F,) = 0
        persistent buffers:    running_mean (F,) = 0, running_var (F,) = 1,
                               num_batches_tracked () int64 = 0
        non-persistent buffer: batch_mean (F,) = 0, the mean of the latest training batch
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("register the parameters and the buffers")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training mode: first fold this batch into the running statistics (no gradient through
        them), then normalize with them. Eval mode: normalize only; no buffer changes.

        Args:
            x: (*, F) float tensor; in training mode at least 2 rows in all (the variance is unbiased).

        Returns:
            (*, F) tensor, same dtype as x.
        """
        raise NotImplementedError("update the statistics in training mode, then normalize")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters in `model`, each tensor counted once even if shared or
    tied; buffers are not parameters. trainable_only: count only those with requires_grad."""
    raise NotImplementedError


def parameter_table(model: nn.Module) -> list[dict]:
    """One row per distinct parameter, in named_parameters() order:
    {"name": str, "shape": tuple[int, ...], "numel": int, "requires_grad": bool}."""
    raise NotImplementedError
