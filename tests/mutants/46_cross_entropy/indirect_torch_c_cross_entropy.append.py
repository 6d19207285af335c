"""Computes the loss with torch._C._nn.cross_entropy_loss, spelled literally."""
import torch

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    return torch._C._nn.cross_entropy_loss(input, target, weight, _REDUCTIONS[reduction], ignore_index, label_smoothing)
