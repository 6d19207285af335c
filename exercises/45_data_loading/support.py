"""Trusted helpers for the 45_data_loading suite: iterate your samplers and loaders in the worker
and hand back plain lists and tensors, plus a tiny model trained through your loader.

The tests run them in the worker (`candidate.lib.support("name", ...)`) on your objects, and the
same file here on the reference. Every verdict is made by the tests from the returned values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _reseed(global_seeds, epoch: int) -> None:
    """Set the GLOBAL RNG to an arbitrary seed before an epoch: a sampler or loader that draws
    from it (instead of its own seeded generator) then stops being reproducible."""
    if global_seeds is not None:
        torch.manual_seed(int(global_seeds[epoch]))


def sampler_epochs(sampler, epochs: int, global_seeds=None) -> dict:
    """len(sampler) and `epochs` full passes over it, each a list of batches of int indices."""
    passes = []
    for epoch in range(epochs):
        _reseed(global_seeds, epoch)
        passes.append([[int(i) for i in batch] for batch in sampler])
    return {"len": len(sampler), "epochs": passes}


def loader_epochs(loader, epochs: int, global_seeds=None) -> list:
    """`epochs` full passes over a DataLoader, each a list of its batches as lists of tensors."""
    passes = []
    for epoch in range(epochs):
        _reseed(global_seeds, epoch)
        passes.append([list(batch) if isinstance(batch, (tuple, list)) else [batch] for batch in loader])
    return passes


def dataset_items(dataset) -> dict:
    """len(dataset), every item as [sequence, label], and dataset.lengths as ints."""
    n = len(dataset)
    items = []
    for i in range(n):
        seq, label = dataset[i]
        items.append([seq, int(label)])
    lengths = getattr(dataset, "lengths", None)
    return {"len": n, "items": items, "lengths": None if lengths is None else [int(v) for v in lengths]}


# -- a tiny model trained through the loader ----------------------------------------------------
class MaskedMeanClassifier(nn.Module):
    """tokens (B, L) with true lengths (B,) -> embeddings -> mean over the real positions only
    -> logits (B, C)."""

    def __init__(self, vocab_size: int, dim: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        B, L = tokens.shape
        real = torch.arange(L, device=tokens.device)[None, :] < lengths[:, None]  # (B, L)
        e = self.embed(tokens) * real[..., None]  # (B, L, dim), padding zeroed
        return self.head(e.sum(1) / lengths[:, None].clamp(min=1))  # (B, C)


def train_through_loader(loader, vocab_size: int, epochs: int, lr: float, init: dict) -> dict:
    """Adam on cross-entropy over `epochs` passes of `loader`'s (padded, lengths, labels).
    Returns {"losses": [...], "state": final state_dict}."""
    model = MaskedMeanClassifier(vocab_size, 8, 2)
    model.load_state_dict(init)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for padded, lengths, labels in loader:
            loss = F.cross_entropy(model(padded, lengths), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    return {"losses": losses, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
