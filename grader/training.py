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


class Adam:
    """torch.optim.Adam's update with its defaults (betas 0.9 and 0.999, eps 1e-8, no weight decay,
    no amsgrad), as torch runs it on the CPU (one parameter at a time), without torch.optim:
    building a torch optimizer imports torch._dynamo (~900 modules, ~1.2 s), which the grading
    process needs for nothing else. Both sides of `fit` use this one, so their runs compare."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.state: dict[int, dict] = {}  # per parameter: its step count and both moments

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:  # as torch: a parameter's steps count from its first gradient
                continue
            state = self.state.setdefault(i, {"step": 0, "m": torch.zeros_like(p, memory_format=torch.preserve_format),
                                              "v": torch.zeros_like(p, memory_format=torch.preserve_format)})
            state["step"] += 1
            t, m, v, grad = state["step"], state["m"], state["v"], p.grad
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1 ** t)
            denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)


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
    optimizer = Adam(model.parameters(), lr=lr)
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
