"""Reference: CTC loss by the forward (alpha) algorithm in log space, and greedy (best-path) decoding.

Same conventions as torch.nn.functional.ctc_loss with padded targets: log_probs (T, N, C),
targets (N, S), input_lengths (N,), target_lengths (N,), blank, reduction, zero_infinity.
The suite checks values and gradients against F.ctc_loss in float64 (`grade validate`).
"""
import torch

REDUCTIONS = ("none", "mean", "sum")


def log_add(*terms: torch.Tensor) -> torch.Tensor:
    """log(sum(exp(terms))), elementwise, where every term may be -inf (log 0).

    Where all terms are -inf the answer is -inf; those entries are computed on zeros instead so
    that the backward pass never sees exp(-inf - (-inf)) = NaN (a gradient that is exactly 0 times
    NaN is still NaN, and it would flow into log_probs)."""
    x = torch.stack(terms)  # (k, N, L)
    m = x.amax(dim=0)  # (N, L)
    dead = m == float("-inf")  # (N, L): no path reaches this state
    x = torch.where(dead, torch.zeros_like(x), x)  # (k, N, L) finite where dead
    m = torch.where(dead, torch.zeros_like(m), m).detach()  # the shift cancels out: no gradient through it
    out = (x - m).exp().sum(dim=0).log() + m  # (N, L)
    return torch.where(dead, torch.full_like(out, float("-inf")), out)  # (N, L)


def extend_with_blanks(targets: torch.Tensor, blank: int) -> torch.Tensor:
    """(N, S) labels -> (N, 2S + 1): blank, l1, blank, l2, ..., lS, blank."""
    N, S = targets.shape
    ext = torch.full((N, 2 * S + 1), blank, dtype=torch.long, device=targets.device)  # (N, L)
    ext[:, 1::2] = targets  # labels at the odd positions
    return ext


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> torch.Tensor:
    """-log p(target | input) summed over every alignment, per sample; then the reduction."""
    assert reduction in REDUCTIONS, f"reduction must be one of {REDUCTIONS}, got {reduction!r}"
    T, N, C = log_probs.shape
    assert targets.dim() == 2 and targets.shape[0] == N, f"targets must be (N, S), got {tuple(targets.shape)}"
    neg_inf = torch.tensor(float("-inf"), dtype=log_probs.dtype, device=log_probs.device)
    ext = extend_with_blanks(targets.long(), blank)  # (N, L), L = 2S + 1
    L = ext.shape[1]
    s = torch.arange(L, device=log_probs.device)  # (L,)
    # A state may be skipped (s-2 -> s) only when s is a label that differs from the label two
    # back: between two equal labels the blank is compulsory, or they would merge into one.
    ext_prev2 = torch.cat([ext.new_full((N, 2), blank), ext[:, :-2]], dim=1)  # (N, L): ext[s - 2]
    can_skip = (s % 2 == 1) & (s >= 2) & (ext != ext_prev2)  # (N, L)
    # emissions: log_probs of each state's symbol, (T, N, L)
    emit = log_probs.gather(2, ext.unsqueeze(0).expand(T, N, L))  # (T, N, L)
    # t = 0: a path starts on the leading blank or on the first label
    alpha = torch.where(s < 2, emit[0], neg_inf)  # (N, L)
    for t in range(1, T):
        stay = alpha  # (N, L)
        step = torch.cat([alpha.new_full((N, 1), float("-inf")), alpha[:, :-1]], dim=1)  # (N, L): alpha[s - 1]
        skip = torch.cat([alpha.new_full((N, 2), float("-inf")), alpha[:, :-2]], dim=1)  # (N, L): alpha[s - 2]
        skip = torch.where(can_skip, skip, neg_inf)  # (N, L)
        new = log_add(stay, step, skip) + emit[t]  # (N, L)
        # samples whose input ended keep their last alpha (frames past input_lengths are padding)
        alpha = torch.where((t < input_lengths).unsqueeze(1), new, alpha)  # (N, L)
    # a path ends on the last label or on the trailing blank: states 2S_n - 1 and 2S_n
    last = (2 * target_lengths).long().unsqueeze(1)  # (N, 1)
    end_blank = alpha.gather(1, last).squeeze(1)  # (N,)
    end_label = alpha.gather(1, (last - 1).clamp(min=0)).squeeze(1)  # (N,)
    end_label = torch.where(target_lengths > 0, end_label, neg_inf)  # (N,): no label when S_n = 0
    loss = -log_add(end_blank.unsqueeze(1), end_label.unsqueeze(1)).squeeze(1)  # (N,)
    if zero_infinity:  # infeasible targets (too long for their input): loss 0 and gradient 0
        loss = torch.where(torch.isinf(loss), torch.zeros_like(loss), loss)  # (N,)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # F.ctc_loss's mean: each loss divided by its target length (at least 1), then the batch mean
    return (loss / target_lengths.clamp(min=1).to(loss.dtype)).mean()


def greedy_decode(log_probs: torch.Tensor, input_lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: the most likely symbol per frame, repeats collapsed, then blanks removed."""
    best = log_probs.argmax(dim=2).T  # (N, T)
    decoded = []
    for n in range(best.shape[0]):
        path = best[n, : int(input_lengths[n])].tolist()  # the frames of this sample only
        labels, previous = [], None
        for symbol in path:
            if symbol != previous and symbol != blank:  # a new run of a non-blank symbol
                labels.append(symbol)
            previous = symbol
        decoded.append(labels)
    return decoded
