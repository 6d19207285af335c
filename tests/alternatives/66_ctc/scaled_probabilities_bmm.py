"""Alternative: the forward algorithm in probability space with per-frame rescaling (Rabiner's scaling: alpha
normalized to sum 1 at every frame, the log of the normalizers summed), the transitions as a (N, L, L) 0/1
matrix applied with torch.bmm; greedy decoding with a mask of 'differs from the previous frame'."""
import torch


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    T, N, C = log_probs.shape
    S = targets.shape[1]
    L = 2 * S + 1
    dt = log_probs.dtype
    ext = torch.full((N, L), blank, dtype=torch.long)
    ext[:, 1::2] = targets
    idx = torch.arange(L)
    valid = idx[None, :] < (2 * target_lengths[:, None] + 1)  # (N, L) states of this sample
    # trans[n, i, j] = 1 when state i may be followed by state j
    trans = (idx[:, None] == idx[None, :]) | (idx[:, None] + 1 == idx[None, :])
    trans = trans[None].expand(N, L, L).clone()
    ext_back2 = torch.cat([torch.full((N, 2), blank), ext[:, :-2]], dim=1)
    skip = (idx[None, :] >= 2) & (ext != blank) & (ext != ext_back2)  # (N, L) j reachable from j - 2
    two_back = (idx[:, None] + 2 == idx[None, :])[None] & skip[:, None, :]
    trans = (trans | two_back) & valid[:, :, None] & valid[:, None, :]
    trans = trans.to(dt)
    emit = torch.exp(log_probs.gather(2, ext[None].expand(T, N, L)))  # (T, N, L)
    alpha = emit[0] * (idx[None, :] < 2).to(dt) * valid.to(dt)
    norm = alpha.sum(dim=1)
    alpha = alpha / norm[:, None]
    log_scale = torch.log(norm)
    for t in range(1, T):
        a = torch.bmm(alpha.unsqueeze(1), trans).squeeze(1) * emit[t]
        c = a.sum(dim=1)
        running = t < input_lengths
        alpha = torch.where(running[:, None], a / torch.where(running, c, torch.ones_like(c))[:, None], alpha)
        log_scale = log_scale + torch.where(running, torch.log(torch.where(running, c, torch.ones_like(c))),
                                            torch.zeros_like(c))
    last = 2 * target_lengths
    end = alpha.gather(1, last[:, None]).squeeze(1) + torch.where(
        target_lengths > 0, alpha.gather(1, (last - 1).clamp(min=0)[:, None]).squeeze(1), torch.zeros_like(log_scale))
    feasible = end > 0
    safe_end = torch.where(feasible, end, torch.ones_like(end))
    loss = torch.where(feasible, -(log_scale + torch.log(safe_end)), torch.full_like(end, float("inf")))
    if zero_infinity:
        loss = torch.where(feasible, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return (loss / target_lengths.clamp(min=1).to(dt)).mean()


def greedy_decode(log_probs, input_lengths, blank=0):
    best = log_probs.argmax(dim=2)  # (T, N)
    new_run = torch.ones_like(best, dtype=torch.bool)
    new_run[1:] = best[1:] != best[:-1]
    keep = new_run & (best != blank) & (torch.arange(best.shape[0])[:, None] < input_lengths[None, :])
    return [best[keep[:, n], n].tolist() for n in range(best.shape[1])]
