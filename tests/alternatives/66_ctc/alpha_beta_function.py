"""Alternative: a custom torch.autograd.Function. Forward: the alpha recursion per sample with torch.logaddexp
(no autograd graph); backward: the beta recursion and the state posteriors, returning the gradient the way
F.ctc_loss's own backward does (exp(log_probs) - posterior, Graves' gradient w.r.t. the pre-softmax activations),
which differs from autograd's -posterior by a constant per frame. Greedy decoding with plain Python."""
import math

import torch

NEG = -math.inf


def _ext(targets, length, blank):
    ext = [blank]
    for v in targets[:length].tolist():
        ext += [int(v), blank]
    return ext


def _shift(v, k):
    return torch.cat([torch.full((k,), NEG, dtype=v.dtype), v[:-k]]) if k < len(v) else torch.full_like(v, NEG)


def _lse(*vs):
    out = vs[0]
    for v in vs[1:]:
        out = torch.logaddexp(out, v)
    return out


class _CtcPerSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        T, N, C = log_probs.shape
        lp_all = log_probs.detach()
        losses = torch.zeros(N, dtype=log_probs.dtype)
        grads = torch.zeros_like(lp_all)
        for n in range(N):
            ext = _ext(targets[n], int(target_lengths[n]), blank)
            L, Tn = len(ext), int(input_lengths[n])
            lp = lp_all[:Tn, n][:, ext]  # (Tn, L)
            skip = torch.tensor([s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] for s in range(L)])
            alpha = torch.full((Tn, L), NEG, dtype=lp.dtype)
            alpha[0, : min(2, L)] = lp[0, : min(2, L)]
            for t in range(1, Tn):
                a = alpha[t - 1]
                alpha[t] = _lse(a, _shift(a, 1), torch.where(skip, _shift(a, 2), torch.full_like(a, NEG))) + lp[t]
            log_p = _lse(alpha[-1, -1], alpha[-1, -2]) if L > 1 else alpha[-1, -1]
            losses[n] = -log_p
            if math.isinf(float(log_p)):
                if zero_infinity:
                    losses[n] = 0.0
                continue  # no gradient (zero) for an infeasible target
            # beta[t, s]: log-probability of frames t..Tn-1 given state s at frame t (its emission included)
            beta = torch.full((Tn, L), NEG, dtype=lp.dtype)
            beta[-1, -1] = lp[-1, -1]
            if L > 1:
                beta[-1, -2] = lp[-1, -2]
            skip_from = torch.cat([skip[2:], torch.zeros(2, dtype=torch.bool)])[:L]  # s -> s + 2 allowed
            for t in range(Tn - 2, -1, -1):
                b = beta[t + 1]
                nxt1 = torch.cat([b[1:], torch.full((1,), NEG, dtype=b.dtype)])
                nxt2 = torch.cat([b[2:], torch.full((min(2, L),), NEG, dtype=b.dtype)])[:L]
                beta[t] = _lse(b, nxt1, torch.where(skip_from, nxt2, torch.full_like(b, NEG))) + lp[t]
            occupancy = torch.exp(alpha + beta - lp - log_p)  # (Tn, L): posterior of each state
            posterior = torch.zeros(Tn, C, dtype=lp.dtype).index_add_(1, torch.tensor(ext), occupancy)
            grads[:Tn, n] = torch.exp(lp_all[:Tn, n]) - posterior
        ctx.save_for_backward(grads)
        return losses

    @staticmethod
    def backward(ctx, grad_losses):
        (grads,) = ctx.saved_tensors
        return grads * grad_losses[None, :, None], None, None, None, None, None


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    losses = _CtcPerSample.apply(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return (losses / target_lengths.clamp(min=1).to(losses.dtype)).mean()


def greedy_decode(log_probs, input_lengths, blank=0):
    out = []
    for n in range(log_probs.shape[1]):
        labels, prev = [], None
        for c in log_probs[: int(input_lengths[n]), n].argmax(dim=-1).tolist():
            if c != prev and c != blank:
                labels.append(c)
            prev = c
        out.append(labels)
    return out
