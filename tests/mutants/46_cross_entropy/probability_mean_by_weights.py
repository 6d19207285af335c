"""With probability targets, 'mean' divides by the targets' summed weight (as for indices), not the position count."""
import torch


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    C = input.shape[1]
    m = input.amax(dim=1, keepdim=True).detach()
    logp = (input - m) - (input - m).exp().sum(dim=1, keepdim=True).log()  # (N, C, *d)
    w = torch.ones(C, dtype=input.dtype, device=input.device) if weight is None else weight
    w_b = w.view(1, C, *[1] * (input.dim() - 2))
    if target.is_floating_point():
        q = (1 - label_smoothing) * target + label_smoothing / C
        loss = -(w_b * q * logp).sum(dim=1)
        if reduction == "none":
            return loss
        if reduction == "sum":
            return loss.sum()
        return loss.sum() / (w_b * target).sum()
    keep = target != ignore_index
    y = torch.where(keep, target, torch.zeros_like(target))
    logp_y = logp.gather(1, y.unsqueeze(1)).squeeze(1)
    w_y = w[y] * keep
    smooth = -(w_b * logp).sum(dim=1) * keep
    loss = (1 - label_smoothing) * (-w_y * logp_y) + label_smoothing / C * smooth
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_y.sum()
