"""Your solution for 66_ctc: the CTC loss (forward algorithm in log space) and greedy decoding.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/66_ctc
"""
import torch


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> torch.Tensor:
    """-log p(target | input), summed over every alignment, as F.ctc_loss computes it (padded targets).

    Dimensions: T input frames, N batch, C symbols (the blank included), S padded target length.

    Args:
        log_probs: (T, N, C) float log-probabilities (e.g. log_softmax of logits over C).
        targets: (N, S) int64 labels in [0, C), never the blank; sample n uses targets[n, :target_lengths[n]],
            the rest is padding (any value).
        input_lengths: (N,) int64, 1 <= input_lengths[n] <= T: sample n uses frames 0 .. input_lengths[n] - 1.
        target_lengths: (N,) int64, 0 <= target_lengths[n] <= S.
        blank: the blank symbol's index in [0, C).
        reduction: "none" -> (N,) per-sample losses; "sum" -> their sum; "mean" -> each loss divided by
            its target length (at least 1), then the mean over the batch. Both 0-dim.
        zero_infinity: infinite losses (targets that no alignment can emit) and their gradients become 0.

    Returns:
        The loss, same dtype as log_probs; inf for an infeasible target unless zero_infinity.
    """
    raise NotImplementedError("extend the targets with blanks, run the alpha recursion in log space, then reduce")


def greedy_decode(log_probs: torch.Tensor, input_lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: the most likely symbol of each frame, runs merged, then blanks removed.

    Args:
        log_probs: (T, N, C) float log-probabilities.
        input_lengths: (N,) int64: only the first input_lengths[n] frames of sample n count.
        blank: the blank symbol's index.

    Returns:
        N lists of Python ints, the decoded labels of each sample.
    """
    raise NotImplementedError("argmax per frame, merge repeats, drop blanks")
