"""Alternative: one sample at a time, the extended label sequence as a Python list, the recursion as a
NaN-safe log-sum-exp over a torch.stack of the three predecessors of every state (no batch masking, no
in-place writes); zero_infinity by a Python test; greedy decoding with torch.unique_consecutive."""
import torch


def _safe_logsumexp(x):
    # x (k, L): logsumexp over dim 0 whose gradient stays finite where every entry is -inf
    m = x.max(dim=0).values
    ok = torch.isfinite(m)
    m0 = torch.where(ok, m, torch.zeros_like(m)).detach()
    s = torch.exp(torch.where(ok, x - m0, torch.zeros_like(x))).sum(dim=0)
    return torch.where(ok, torch.log(torch.where(ok, s, torch.ones_like(s))) + m0, torch.full_like(m, -float("inf")))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    T, N, C = log_probs.shape
    losses = []
    for n in range(N):
        labels = [int(v) for v in targets[n, : int(target_lengths[n])]]
        ext = [blank]
        for lab in labels:
            ext += [lab, blank]
        L = len(ext)
        skip_ok = torch.tensor([i >= 2 and ext[i] != blank and ext[i] != ext[i - 2] for i in range(L)])
        lp = log_probs[: int(input_lengths[n]), n][:, ext]  # (T_n, L)
        ninf = torch.full((1,), -float("inf"), dtype=log_probs.dtype)
        alpha = torch.cat([lp[0, : min(2, L)], ninf.expand(L - min(2, L))])
        for t in range(1, lp.shape[0]):
            prev1 = torch.cat([ninf, alpha[:-1]])
            prev2 = torch.where(skip_ok, torch.cat([ninf, ninf, alpha[:-2]])[:L], ninf)
            alpha = _safe_logsumexp(torch.stack([alpha, prev1, prev2])) + lp[t]
        ends = alpha[-2:] if L > 1 else alpha[-1:]
        loss = -_safe_logsumexp(ends.unsqueeze(1)).squeeze(0)
        if zero_infinity and torch.isinf(loss):
            loss = (log_probs * 0).sum()  # zero, still attached to the graph
        losses.append(loss)
    out = torch.stack(losses)
    if reduction == "none":
        return out
    if reduction == "sum":
        return out.sum()
    return (out / target_lengths.clamp(min=1).to(out.dtype)).mean()


def greedy_decode(log_probs, input_lengths, blank=0):
    result = []
    for n in range(log_probs.shape[1]):
        best = log_probs[: int(input_lengths[n]), n].argmax(dim=-1)
        merged = torch.unique_consecutive(best)
        result.append([int(v) for v in merged if int(v) != blank])
    return result
