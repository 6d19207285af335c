"""Helpers the suite runs both in the worker (`candidate.lib.support`) and here (trusted side).

`fit_ctc` calls the CTC loss it is given (the candidate's `ctc_loss` in the worker, F.ctc_loss
here) and returns only tensors and numbers.
"""
import torch

C, D = 4, 4  # symbols (blank 0 and the labels 1, 2, 3) and features per frame


def spoken(n: int, seed: int):
    """n utterances of 1 to 4 labels: each label is 1 to 3 frames of its own feature pattern, with
    0 to 2 silent frames (the blank's pattern) between labels, at least 1 between two equal labels.

    Returns x (T, n, D) float64 (frames past a sample's length are noise), input_lengths (n,),
    targets (n, 4) padded with 0, target_lengths (n,)."""
    g = torch.Generator().manual_seed(seed)
    centers = 2.0 * torch.eye(C, D, dtype=torch.float64)  # (C, D): one pattern per symbol
    frames, labels = [], []
    for _ in range(n):
        k = int(torch.randint(1, 5, (), generator=g))
        seq = (torch.randint(1, C, (k,), generator=g)).tolist()
        path = [0] * int(torch.randint(0, 2, (), generator=g))  # leading silence
        for i, label in enumerate(seq):
            if i > 0:
                path += [0] * int(torch.randint(1 if label == seq[i - 1] else 0, 3, (), generator=g))
            path += [label] * int(torch.randint(1, 4, (), generator=g))
        frames.append(path)
        labels.append(seq)
    T = max(len(p) for p in frames)
    sym = torch.tensor([p + [0] * (T - len(p)) for p in frames]).T  # (T, n)
    x = centers[sym] + 0.5 * torch.randn(T, n, D, generator=g, dtype=torch.float64)  # (T, n, D)
    input_lengths = torch.tensor([len(p) for p in frames])  # (n,)
    pad = torch.arange(T)[:, None] >= input_lengths[None]  # (T, n)
    x = torch.where(pad[..., None], 3 * torch.randn(x.shape, generator=g, dtype=torch.float64), x)  # junk frames
    targets = torch.tensor([s + [0] * (4 - len(s)) for s in labels])  # (n, 4)
    return x, input_lengths, targets, torch.tensor([len(s) for s in labels])


def frame_log_probs(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A per-frame linear classifier: (T, n, D) -> log-probabilities (T, n, C)."""
    return torch.log_softmax(x @ W + b, dim=-1)


def fit_ctc(loss_fn, x, input_lengths, targets, target_lengths, *, steps: int, lr: float) -> dict:
    """Full-batch gradient descent on the per-frame classifier with the CTC loss `loss_fn`
    (reduction 'mean'), in float64, from W = 0 and b = 0. Returns {"W": (D, C), "b": (C,), "losses"}."""
    W = torch.zeros(D, C, dtype=torch.float64, device=x.device, requires_grad=True)
    b = torch.zeros(C, dtype=torch.float64, device=x.device, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = loss_fn(frame_log_probs(x, W, b), targets, input_lengths, target_lengths, blank=0, reduction="mean")
        W.grad, b.grad = None, None
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        losses.append(float(loss.detach()))
    return {"W": W.detach(), "b": b.detach(), "losses": losses}


def on_logits(loss_fn):
    """loss_fn composed with a log-softmax over the last dim: a function of unnormalized logits
    (T, N, C) with loss_fn's other arguments. Its gradient w.r.t. the logits is what training sees,
    and it is the same for both conventions of the gradient w.r.t. log_probs (autograd's, and
    F.ctc_loss's, which differs by exp(log_probs) times a constant per frame)."""
    return lambda logits, *args, **kwargs: loss_fn(torch.log_softmax(logits, dim=-1), *args, **kwargs)
