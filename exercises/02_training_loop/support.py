"""Trusted helpers for the 02_training_loop suite: the model, data loaders, loss and optimizer
that `train_epoch` and `evaluate` are called with, built from a plain config dict.

The same file runs in the worker (through `candidate.lib.support`) and on the trusted side
(through `grader.kit.exercise_support`), so both sides start from identical objects:
same initial weights, same data, same shuffling order.

Instrumentation (read back by the tests; every verdict is made on the trusted side):
- the loaders yield `HostTensor` batches, a plain tensor subclass whose `.to(device)` returns an
  ordinary tensor: a batch that reaches the model or the loss still a HostTensor was never moved;
- the model's first layer, `Probe`, records per forward call whether the module was in training
  mode, whether autograd was on, how many rows it saw and whether the batch was moved;
- the loss records whether its logits and targets were moved;
- the optimizer records the gradient of every parameter each time `step()` is called.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.training import recording



class HostTensor(torch.Tensor):
    """A batch as the loader yields it, before `.to(device)`. Moving it gives a plain tensor; every
    other operation keeps the subclass, so an unmoved batch stays recognisable downstream."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if moves(func, args, kwargs):
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return out.as_subclass(torch.Tensor) if isinstance(out, torch.Tensor) else out
        return super().__torch_function__(func, types, args, kwargs)


def moves(func, args, kwargs) -> bool:
    """True for a call that names a target device: x.to(device, ...), x.cuda(), f(..., device=...)."""
    if func is torch.Tensor.cuda or kwargs.get("device") is not None:
        return True
    if func is torch.Tensor.to:
        device, *_ = torch._C._nn._parse_to(*args[1:], **kwargs)
        return device is not None
    return False


def on_host(t) -> bool:
    return isinstance(t, HostTensor)


def host_collate(samples):
    """Stack (x, y) samples into a batch, marked as not yet moved to the device."""
    xs, ys = zip(*samples)
    return torch.stack(xs).as_subclass(HostTensor), torch.stack(ys).as_subclass(HostTensor)


class Probe(nn.Module):
    """Identity layer that records how each forward call was made."""

    def __init__(self):
        super().__init__()
        self.log: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append({"training": self.training, "grad_enabled": torch.is_grad_enabled(),
                         "rows": int(x.shape[0]), "moved": not on_host(x)})
        return x.as_subclass(torch.Tensor) if on_host(x) else x


class ProbedCrossEntropy(nn.Module):
    """nn.CrossEntropyLoss (mean over the batch) that records whether its inputs were moved."""

    def __init__(self):
        super().__init__()
        self.log: list[dict] = []

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.log.append({"logits_moved": not on_host(logits), "target_moved": not on_host(target),
                         "rows": int(target.shape[0])})
        plain = [t.as_subclass(torch.Tensor) if on_host(t) else t for t in (logits, target)]
        return nn.functional.cross_entropy(*plain)


OPTIMIZERS = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
    "adam": (torch.optim.Adam, {}),
}


def teacher_data(n: int, d_in: int, classes: int, g: torch.Generator, teacher: torch.Tensor):
    """Gaussian inputs labelled by a random linear teacher (learnable, not trivially separable)."""
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)  # (n, D)
    y = (x @ teacher).argmax(-1)  # (n,)
    return x, y


def make_setup(cfg: dict, device: str = "cpu") -> dict:
    """Everything one training run needs, from `cfg`: seed, n, n_val, batch_size, d_in, hidden,
    classes, dropout, optimizer ("sgd" | "adam"), lr, shuffle. The model lives on `device`; the
    loaders yield float64 inputs (B, D) and int64 labels (B,) on the CPU."""
    g = torch.Generator().manual_seed(cfg["seed"])
    teacher = torch.randn(cfg["d_in"], cfg["classes"], generator=g, dtype=torch.float64)
    x, y = teacher_data(cfg["n"], cfg["d_in"], cfg["classes"], g, teacher)
    x_val, y_val = teacher_data(cfg.get("n_val", cfg["n"]), cfg["d_in"], cfg["classes"], g, teacher)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        model = nn.Sequential(
            Probe(),
            nn.Linear(cfg["d_in"], cfg["hidden"]),
            nn.BatchNorm1d(cfg["hidden"]),
            nn.ReLU(),
            nn.Dropout(cfg["dropout"]),
            nn.Linear(cfg["hidden"], cfg["classes"]),
        ).to(torch.float64)
    model.to(device)
    opt_class, opt_kwargs = OPTIMIZERS[cfg["optimizer"]]
    optimizer = recording(opt_class)(model.named_parameters(), lr=cfg["lr"], **opt_kwargs)
    loader_seed = int(torch.randint(2**62, (), generator=g))
    train_loader = DataLoader(TensorDataset(x, y), batch_size=cfg["batch_size"], shuffle=cfg["shuffle"],
                              collate_fn=host_collate, generator=torch.Generator().manual_seed(loader_seed))
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=cfg["batch_size"], shuffle=False,
                            collate_fn=host_collate, generator=torch.Generator().manual_seed(loader_seed + 1))
    return {"model": model, "train_loader": train_loader, "val_loader": val_loader,
            "loss_fn": ProbedCrossEntropy(), "optimizer": optimizer}


def reseed(seed: int) -> None:
    """Seed the global RNG (dropout draws from it) right before a run."""
    torch.manual_seed(seed)


def logs(setup: dict, clear: bool = True) -> dict:
    """What the probes recorded since the last call: forward calls, loss calls, optimizer steps."""
    probe, loss_fn, optimizer = setup["model"][0], setup["loss_fn"], setup["optimizer"]
    out = {"forward": list(probe.log), "loss": list(loss_fn.log), "steps": list(optimizer.grad_log)}
    if clear:
        probe.log.clear()
        loss_fn.log.clear()
        optimizer.grad_log.clear()
    return out


def state(setup: dict) -> dict:
    """The model's state_dict (parameters and BatchNorm buffers), cloned to the CPU."""
    return {k: v.detach().cpu().clone() for k, v in setup["model"].state_dict().items()}
