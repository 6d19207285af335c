"""Trusted helpers for 34_pooling, run in the worker through `candidate.lib.support`: a tracer of
the aten ops a call (and its backward pass) runs."""
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class _OpRecorder(TorchDispatchMode):
    """Records the name of every aten op that reaches the dispatcher (after autograd and after
    composite ops are decomposed, so F.max_pool2d, nn.MaxPool2d, torch.max_pool2d and the
    adaptive pools all show up as aten.*pool* ops)."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func))
        return func(*args, **(kwargs or {}))


def aten_ops(fn, args: list, kwargs: dict | None = None) -> list[str]:
    """Sorted names of the aten ops that fn(*args, **kwargs) and its backward pass run."""
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a
              for a in args]
    recorder = _OpRecorder()
    with recorder:
        out = fn(*leaves, **(kwargs or {}))
        out = out[0] if isinstance(out, (tuple, list)) else out
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.sum().backward()
    return sorted(recorder.ops)
