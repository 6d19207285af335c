"""Trusted helpers for the 40_lstm_language_model suite, the same file in the worker (through
`candidate.lib.support`) and here (through `grader.kit.exercise_support`):
- `make_optimizer`: the optimizer `train_epoch` is called with, recording every parameter's
  gradient each time `step()` runs (read back with `step_grads`; every verdict is made here);
- `Flat`: a model's logits and final (h, c) as one flat tensor, for the gradient checks;
- `periodic_corpus`: the tiny corpus of the convergence test."""
from __future__ import annotations

import torch
from torch import nn

from grader.training import recording

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def make_optimizer(model: nn.Module, kind: str, lr: float):
    """SGD (no momentum) or Adam over model's parameters, logging each step's gradients by name."""
    return recording(OPTIMIZERS[kind])(model.named_parameters(), lr=lr)


def step_grads(optimizer) -> list:
    """The gradients each step() saw, in order ({parameter name: gradient or None} per step)."""
    return list(optimizer.grad_log)


class Flat(nn.Module):
    """model(tokens, (h0, c0)) as one tensor: logits (L, B, V), h_n and c_n, flattened and joined."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
        logits, (h, c) = self.model(tokens, (h0, c0))
        return torch.cat([logits.reshape(-1), h.reshape(-1), c.reshape(-1)])


def flat(model: nn.Module) -> nn.Module:
    return Flat(model)


def periodic_corpus(n: int, period: int, vocab: int, g: torch.Generator) -> torch.Tensor:
    """(n,) int64: a random motif of `period` tokens repeated, starting at a random phase."""
    motif = torch.randint(vocab, (period,), generator=g)
    phase = int(torch.randint(period, (), generator=g))
    return motif[(torch.arange(n) + phase) % period]
