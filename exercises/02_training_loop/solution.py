"""Your solution for 02_training_loop: one training epoch and one evaluation pass.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/02_training_loop
"""
from typing import Iterable

import torch
from torch import nn


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                device: torch.device | str) -> float:
    """Train `model` for one pass over `loader`: one optimizer step per batch.

    Dimensions: B batch size (the last batch may be smaller), D features, C classes.

    Args:
        model: maps (B, D) inputs to (B, C) logits; already on `device`. It may contain dropout
            and BatchNorm, and may have been left in eval mode by `evaluate`.
        loader: yields (x, y) batches on the CPU: x (B, D) float, y (B,) int64 class indices.
        loss_fn: loss_fn(logits, y) -> scalar tensor, the mean over the batch's B samples.
        optimizer: already holds the model's parameters.
        device: where the model lives ("cpu", "cuda", a torch.device).

    Returns:
        The mean loss per sample over the epoch, as a Python float: each batch's loss (computed
        before its optimizer step) weighted by the batch's size.
    """
    raise NotImplementedError("train mode, then per batch: move, forward, loss, zero_grad, backward, step")


def evaluate(model: nn.Module, loader: Iterable, loss_fn: nn.Module,
             device: torch.device | str) -> tuple[float, float]:
    """Measure `model` on every batch of `loader` without training it.

    Args: as for train_epoch (no optimizer).

    Returns:
        (loss, accuracy) as Python floats: the mean loss per sample, and the fraction of samples
        (in [0, 1]) whose highest logit is the target class.
    """
    raise NotImplementedError("eval mode, no autograd, then accumulate loss and correct predictions")
