"""Helpers the suite runs both in the worker (`candidate.lib.support`) and here (trusted side).

They call the loss function they are given (the candidate's `cross_entropy` in the worker,
F.cross_entropy or the reference here) and return only tensors and numbers.
"""
import math

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


def tagger_task(seed: int):
    """The data of one convergence run: x (96, 5, 2) and targets (96, 5) of 3 imbalanced classes with 20% of the
    positions unlabeled (-100), held-out x_test (256, 5, 2) and y_test, and the settings of `fit_tagger` (class
    weights against the imbalance, label smoothing)."""
    g = torch.Generator().manual_seed(seed)
    shares = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    angle = 2 * math.pi * (torch.arange(3, dtype=torch.float64) / 3 + torch.rand((), generator=g, dtype=torch.float64))
    centers = 2.5 * torch.stack([angle.cos(), angle.sin()], dim=1)  # (C, 2): evenly spread, randomly turned
    x, labels = per_position_data(96, 5, centers, shares, 0.6, seed)
    x_test, y_test = per_position_data(256, 5, centers, shares, 0.6, seed + 1)
    targets = labels.masked_fill(torch.rand(labels.shape, generator=g) < 0.2, -100)  # unlabeled positions
    return x, targets, x_test, y_test, dict(steps=60, lr=1.0, weight=1.0 / shares, label_smoothing=0.1)


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
