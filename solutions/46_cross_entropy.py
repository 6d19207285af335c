"""Reference: cross-entropy from raw logits, computed as torch.nn.functional.cross_entropy does.

Class-index targets (with class weights, ignore_index and label smoothing) and class-probability
targets, for logits (N, C) or (N, C, d1, ..., dk). The suite checks it against F.cross_entropy in
float64 (`grade validate`).
"""
import torch

REDUCTIONS = ("none", "mean", "sum")


def log_probabilities(logits: torch.Tensor, dim: int) -> torch.Tensor:
    """log softmax(z) = z - logsumexp(z), with the maximum subtracted first: exp() of the shifted
    logits is at most 1, so nothing overflows, and at least one term of the sum is exactly 1, so
    the log never sees 0."""
    # The shift cancels out of the result, so it needs no gradient (and detaching it avoids
    # routing gradient through the argmax).
    m = logits.amax(dim=dim, keepdim=True).detach()  # (N, 1, *d)
    shifted = logits - m  # (N, C, *d), every entry <= 0
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()  # (N, C, *d)


def cross_entropy(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy between softmax(input) over dim 1 and the target (indices or probabilities)."""
    assert input.dim() >= 2, f"input must be (N, C) or (N, C, d1, ...), got shape {tuple(input.shape)}"
    assert reduction in REDUCTIONS, f"reduction must be one of {REDUCTIONS}, got {reduction!r}"
    assert 0.0 <= label_smoothing <= 1.0, f"label_smoothing must be in [0, 1], got {label_smoothing}"
    C = input.shape[1]
    if weight is not None:
        assert weight.shape == (C,), f"weight must be (C,) = ({C},), got {tuple(weight.shape)}"
    logp = log_probabilities(input, dim=1)  # (N, C, *d)
    if target.is_floating_point():
        return probability_target_loss(logp, target, weight, reduction, label_smoothing)
    return class_index_loss(logp, target, weight, ignore_index, reduction, label_smoothing)


def class_weights(logp: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The (C,) class weights in logp's dtype; all ones when there are none."""
    C = logp.shape[1]
    return torch.ones(C, dtype=logp.dtype, device=logp.device) if weight is None else weight.to(logp.dtype)


def broadcast_over_classes(w: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """(C,) -> (1, C, 1, ..., 1), to multiply logp (N, C, *d) class by class."""
    return w.view(1, -1, *[1] * (logp.dim() - 2))  # (1, C, *1)


def class_index_loss(logp, target, weight, ignore_index, reduction, label_smoothing):
    """loss = (1 - eps) * w[y] * -log p[y]  +  eps / C * sum_c w[c] * -log p[c]   (0 where ignored).

    'mean' divides the sum by the total weight w[y] of the targets that are not ignored (the
    count of them when there are no weights), for both terms: that is PyTorch's definition."""
    N, C = logp.shape[:2]
    assert target.shape == (N, *logp.shape[2:]), \
        f"class-index target must be (N, *d) = {(N, *logp.shape[2:])}, got {tuple(target.shape)}"
    counted = target != ignore_index  # (N, *d)
    # gather needs a valid class at ignored positions; what it picks there is zeroed below
    y = target.masked_fill(~counted, 0)  # (N, *d)
    logp_y = logp.gather(1, y.unsqueeze(1)).squeeze(1)  # (N, *d): log-probability of the target class
    w = class_weights(logp, weight)  # (C,)
    w_y = w[y] * counted  # (N, *d): the weight of each target's class, 0 where ignored
    nll = -w_y * logp_y  # (N, *d)
    smooth = -(broadcast_over_classes(w, logp) * logp).sum(dim=1) * counted  # (N, *d): the uniform part
    loss = (1.0 - label_smoothing) * nll + (label_smoothing / C) * smooth  # (N, *d)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_y.sum()  # NaN (0/0) when every target is ignored, as in PyTorch


def probability_target_loss(logp, target, weight, reduction, label_smoothing):
    """loss = -sum_c w[c] * q[c] * log p[c], with q = (1 - eps) * target + eps / C.

    'mean' divides by the number of rows N * d1 * ... * dk (never by the weights)."""
    C = logp.shape[1]
    assert target.shape == logp.shape, \
        f"probability target must have the input's shape {tuple(logp.shape)}, got {tuple(target.shape)}"
    q = (1.0 - label_smoothing) * target + label_smoothing / C  # (N, C, *d)
    w = broadcast_over_classes(class_weights(logp, weight), logp)  # (1, C, *1)
    loss = -(w * q * logp).sum(dim=1)  # (N, *d)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / loss.numel()
