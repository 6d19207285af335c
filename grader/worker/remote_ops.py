"""Operations the grader may run in the worker on the candidate's objects (worker side).

They return raw tensors and numbers; every verdict is made by the grader from them.
"""
from __future__ import annotations

import importlib
import sys

import torch

from grader import outputs, tasks, training

__all__ = ["grads", "fit", "load", "build", "make", "support", "aten_ops"]

SUPPORT_MODULE = "grader_exercise_support"
MAKE_ROOTS = ("torch.", "grader.tasks.", "grader.training.")


def lookup(name: str):
    """The operation called `name`; only the ones listed in __all__ exist."""
    if name not in __all__:
        raise LookupError(f"no remote operation {name!r}")
    return globals()[name]


def grads(fn, args: list, kwargs: dict | None = None, grad_output: torch.Tensor | None = None) -> dict:
    """Run fn(*args, **kwargs), backpropagate `grad_output` (ones if None) from its output (a
    tuple of tensors, e.g. (output, (h_n, c_n)), as `grader.outputs.flat` joins them).

    Returns {"output", "input_grads": [grad or None per arg], "param_grads": {name: grad or None}}.
    """
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a
              for a in args]
    params = dict(fn.named_parameters()) if isinstance(fn, torch.nn.Module) else {}
    for p in params.values():
        p.grad = None
    out = outputs.flat(fn(*leaves, **(kwargs or {})))  # a tuple's tensors as one vector
    seed = torch.ones_like(out) if grad_output is None else grad_output.to(out.device, out.dtype)
    outputs.backward(out, seed)
    return {
        "output": out.detach(),
        "input_grads": [a.grad if isinstance(a, torch.Tensor) else None for a in leaves],
        "param_grads": {name: p.grad for name, p in params.items()},
    }


def fit(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **config) -> dict:
    """`grader.training.fit` on the candidate's model."""
    return training.fit(model, inputs, targets, **config)


def load(module, state_dict: dict, dtype: torch.dtype | None = None):
    """`module.to(dtype)` (when given), then its `load_state_dict(state_dict)`: the module, as
    `grader.kit.load` does it here, in one request instead of two."""
    if dtype is not None:
        module = module.to(dtype)
    module.load_state_dict(state_dict)
    return module


def build(name: str, *args, **kwargs) -> torch.nn.Module:
    """Instantiate one of `grader.tasks.MODELS` (e.g. wrapping the candidate's module)."""
    return tasks.MODELS[name](*args, **kwargs)


def make(path: str, *args, **kwargs):
    """Call the public torch object at dotted `path` (e.g. "torch.nn.Linear", "torch.optim.SGD",
    "torch.utils.data.DataLoader") with the arguments: builds plain torch objects in the worker
    for the candidate's code to use (handles to candidate objects may be arguments)."""
    if not path.startswith(MAKE_ROOTS) or any(p.startswith("_") for p in path.split(".")):
        raise LookupError(f"make: {path!r} is not a public torch or grader.tasks object")
    module_name, _, attr = path.rpartition(".")
    target = None
    while module_name:
        try:
            target = importlib.import_module(module_name)
            break
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            attr = f"{head}.{attr}"
    for part in attr.split("."):
        target = getattr(target, part)
    return target(*args, **kwargs)


def support(name: str, *args, **kwargs):
    """Call function `name` of the exercise's own `support.py` (loaded in the worker at start)."""
    module = sys.modules.get(SUPPORT_MODULE)
    if module is None:
        raise LookupError("this exercise has no support.py")
    if name.startswith("_") or not callable(getattr(module, name, None)):
        raise LookupError(f"support.py has no function {name!r}")
    return getattr(module, name)(*args, **kwargs)


def aten_ops(fn, args: list, kwargs: dict | None = None) -> list[str]:
    """Sorted names of the aten ops that fn(*args, **kwargs) and its backward pass run, as the
    dispatcher sees them (after autograd, composites decomposed: F.conv2d, nn.Conv2d and
    torch.ops.aten.convolution all show up as aten.convolution). Lets a suite forbid an
    operation however it is reached."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(str(func))
            return func(*args, **(kwargs or {}))

    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a
              for a in args]
    recorder = Recorder()
    with recorder:
        out = fn(*leaves, **(kwargs or {}))
        out = out[0] if isinstance(out, (tuple, list)) else out
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.sum().backward()
    return sorted(recorder.ops)
