"""Your solution for 46_cross_entropy: cross-entropy loss from raw logits.

Read README.md for the task, then replace the `raise NotImplementedError`.
Grade it with:  grade exercises/46_cross_entropy
"""
import torch


def cross_entropy(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy between softmax(input) over dim 1 and the target, as F.cross_entropy defines it.

    Dimensions: N batch, C classes, *d = d1, ..., dk optional extra dims (k >= 0, e.g. pixels).

    Args:
        input: (N, C, *d) float logits (raw scores, no softmax applied).
        target: either (N, *d) int64 class indices in [0, C) (or ignore_index),
            or (N, C, *d) float class probabilities (same shape and dtype as input).
        weight: optional (C,) class weights, same dtype as input.
        ignore_index: class-index targets equal to it add nothing to the loss nor to the 'mean'
            denominator (not used with probability targets).
        reduction: "none" -> (N, *d) loss per position; "mean" or "sum" -> 0-dim tensor.
            With class indices, "mean" divides by the summed weight of the counted targets
            (their number without weights); with probabilities, by N * d1 * ... * dk.
        label_smoothing: eps in [0, 1]; the target becomes (1 - eps) * target + eps / C.

    Returns:
        The loss, same dtype as input; finite even for logits as large as 1e4 in float32.
    """
    raise NotImplementedError("stable log-probabilities over dim 1, then the weighted target terms and the reduction")
