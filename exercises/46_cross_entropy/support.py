"""Helpers the suite runs both in the worker (`candidate.lib.support`) and here (trusted side).

They call the loss function they are given (the candidate's `cross_entropy` in the worker,
F.cross_entropy or the reference here) and return only tensors and numbers.
"""
import torch


def per_position_data(n: int, length: int, centers: torch.Tensor, class_probs: torch.Tensor, spread: float,
                      seed: int):
    """Sequences of n x length points; each point is drawn around the center of its own class.

    centers: (C, D); class_probs: (C,) how often each class occurs (imbalanced on purpose).
    Returns x (n, length, D) float64 and labels (n, length) int64."""
    g = torch.Generator().manual_seed(seed)
    C, D = centers.shape
    labels = torch.multinomial(class_probs, n * length, replacement=True, generator=g).view(n, length)
    x = centers[labels] + spread * torch.randn(n, length, D, generator=g, dtype=torch.float64)
    return x, labels


def fit_tagger(loss_fn, x: torch.Tensor, targets: torch.Tensor, num_classes: int, *, steps: int, lr: float,
               weight: torch.Tensor | None = None, ignore_index: int = -100, label_smoothing: float = 0.0) -> dict:
    """Full-batch gradient descent on a per-position linear classifier, in float64.

    logits = x @ W + b is (N, L, C); the loss sees it as (N, C, L), the layout of
    F.cross_entropy for a class dim followed by extra dims. W and b start at zero.
    Returns {"W": (D, C), "b": (C,), "losses": [float per step]}."""
    D = x.shape[-1]
    W = torch.zeros(D, num_classes, dtype=torch.float64, device=x.device, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, device=x.device, requires_grad=True)
    losses = []
    for _ in range(steps):
        logits = (x @ W + b).permute(0, 2, 1)  # (N, C, L)
        loss = loss_fn(logits, targets, weight=weight, ignore_index=ignore_index, reduction="mean",
                       label_smoothing=label_smoothing)
        W.grad, b.grad = None, None
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
        losses.append(float(loss.detach()))
    return {"W": W.detach(), "b": b.detach(), "losses": losses}
