"""Reference: one training epoch and one evaluation pass over a DataLoader.

Checked by the exercise's suite (`grade validate`) against a textbook loop run on the trusted
side from the same initial weights, data order and dropout seed: identical parameters, BatchNorm
buffers, per-step gradients and returned metrics.
"""
import torch
from torch import nn


def train_epoch(model: nn.Module, loader, loss_fn, optimizer: torch.optim.Optimizer, device) -> float:
    """One pass over `loader`, one optimizer step per batch. Returns the mean loss per sample."""
    model.train()  # dropout on, BatchNorm normalizes with batch stats (evaluate() may have left eval mode)
    total_loss, seen = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)  # (B, D), (B,): the loader yields CPU tensors
        loss = loss_fn(model(x), y)  # scalar: the mean over the batch's B samples
        optimizer.zero_grad(set_to_none=True)  # .grad accumulates across backward() calls
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)  # .item(): a float, not a tensor holding the graph alive
        seen += len(y)  # the last batch may be smaller: weight every batch by its size
    assert seen > 0, "train_epoch: the loader yielded no batch"
    return total_loss / seen


@torch.no_grad()  # no graph: less memory, and nothing can leak into .grad
def evaluate(model: nn.Module, loader, loss_fn, device) -> tuple[float, float]:
    """Mean loss per sample and accuracy (fraction in [0, 1]) over `loader`, in eval mode."""
    model.eval()  # dropout off, BatchNorm uses (and does not update) its running stats
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)  # (B, D), (B,)
        logits = model(x)  # (B, C)
        total_loss += loss_fn(logits, y).item() * len(y)
        correct += (logits.argmax(dim=-1) == y).sum().item()
        seen += len(y)
    assert seen > 0, "evaluate: the loader yielded no batch"
    return total_loss / seen, correct / seen
