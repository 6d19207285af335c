"""A small deterministic training loop, run on the candidate's model in the worker and on the
reference model in the grader with the same data, seed and initial weights.

Shared by both sides (see grader/worker/__init__.py): `candidate.lib.fit` runs it in the worker.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _cross_entropy(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), targets.reshape(-1))  # classes last


LOSSES = {"cross_entropy": _cross_entropy, "mse": F.mse_loss}


def fit(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, steps: int,
        lr: float, batch_size: int, seed: int, forward_kwargs: dict | None = None,
        loss: str = "cross_entropy") -> dict:
    """Train `model` with Adam on `loss`: "cross_entropy" over the last dimension of its output
    (targets: class indices matching the output minus its last dim), or "mse" (targets: the
    output's shape, e.g. a forecast).

    inputs: (N, ...) model inputs; each step draws `batch_size` rows with a generator seeded by
    `seed`. Returns {"losses": [float per step]}.
    """
    criterion = LOSSES[loss]
    model.train()
    device = next(model.parameters()).device
    inputs, targets = inputs.to(device), targets.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(inputs), (batch_size,), generator=generator).to(device)
        value = criterion(model(inputs[rows], **(forward_kwargs or {})), targets[rows])
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
    model.eval()
    return {"losses": losses}


def recording(optimizer_class):
    """A subclass of `optimizer_class`, built from named parameters, that logs at each step() every
    parameter's gradient (a clone, or None) as {name: gradient} in `grad_log`: what an exercise's
    training code handed the optimizer at each step, read back and judged on the trusted side.

    >>> opt = recording(torch.optim.SGD)(model.named_parameters(), lr=0.1)
    >>> ...; opt.grad_log[0]["weight"]  # the gradient the first step() saw
    """

    class Recording(optimizer_class):
        def __init__(self, named_params, **kwargs):
            named_params = list(named_params)
            super().__init__([p for _, p in named_params], **kwargs)
            self.names, self.grad_log = [n for n, _ in named_params], []

        def step(self, closure=None):
            params = self.param_groups[0]["params"]
            self.grad_log.append({n: None if p.grad is None else p.grad.detach().clone()
                                  for n, p in zip(self.names, params)})
            return super().step(closure)

    Recording.__name__ = f"Recording{optimizer_class.__name__}"
    return Recording
