"""Alternative: classes moved to the last dim, class indices turned into one-hot rows (no gather), one formula for both target kinds."""
import torch
import torch.nn.functional as F


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    C = input.shape[1]
    z = input.movedim(1, -1)  # (N, *d, C)
    top = z.max(dim=-1, keepdim=True).values.detach()  # (N, *d, 1)
    logp = (z - top) - torch.exp(z - top).sum(dim=-1, keepdim=True).log()  # (N, *d, C)
    w = torch.ones(C, dtype=z.dtype, device=z.device) if weight is None else weight.to(z.dtype)  # (C,)
    if target.is_floating_point():
        q = target.movedim(1, -1)  # (N, *d, C)
        keep = None
    else:
        keep = (target != ignore_index).unsqueeze(-1).to(z.dtype)  # (N, *d, 1)
        q = F.one_hot(torch.where(target != ignore_index, target, 0), C).to(z.dtype) * keep  # (N, *d, C)
    smoothed = (1.0 - label_smoothing) * q + label_smoothing / C * (1.0 if keep is None else keep)
    loss = -(smoothed * w * logp).sum(dim=-1)  # (N, *d)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    total = loss.numel() if keep is None else (q * w).sum()  # rows, or the weight of the counted targets
    return loss.sum() / total
