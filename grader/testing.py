"""Helpers for writing exercise tests: seeded randomness and gradient checks.

Exercise tests import from here and from grader.compare; both run only in the trusted process.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import torch

from grader.compare import Mismatch, assert_close
from grader.gradcheck import check_directional_derivatives


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed` (use one per test or per hypothesis example)."""
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block with torch's global RNG seeded, restoring the previous state afterwards
    (for code such as module constructors that cannot take a generator)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def assert_grads_close(got: dict, module: torch.nn.Module) -> None:
    """Parameter gradients returned by the candidate must match `module`'s .grad, by name."""
    for name, param in module.named_parameters():
        if got.get(name) is None:
            raise Mismatch(f"gradient w.r.t. {name}: no gradient reached this parameter "
                           "(detached, computed under no_grad, or not used in forward?)")
        assert_close(got[name], param.grad, f"gradient w.r.t. {name}")


def assert_gradients_match(got: dict, reference: torch.nn.Module, x: torch.Tensor, kwargs: dict,
                           grad_output: torch.Tensor) -> None:
    """The candidate's `candidate.lib.grads(module, [x], kwargs, grad_output)` result must match
    the reference module's gradients for the same call (w.r.t. x and every parameter, by name)."""
    x_ref = x.clone().requires_grad_()
    reference.zero_grad(set_to_none=True)
    reference(x_ref, **kwargs).backward(grad_output)
    assert_close(got["input_grads"][0], x_ref.grad, "gradient w.r.t. x")
    assert_grads_close(got["param_grads"], reference)


def check_finite_differences(candidate, module, state_dict: dict, x: torch.Tensor, kwargs: dict,
                             grad_output: torch.Tensor, g: torch.Generator) -> None:
    """Finite-difference check of a remote module's gradients w.r.t. x and its parameters.

    candidate: the `candidate` fixture; module: a remote module of it; state_dict: float64
    weights to differentiate at (loaded into `module`); the rest: the call and its output grad."""
    def forward(point):
        module.load_state_dict({k: point[k] for k in state_dict})
        return module(point["x"], **kwargs)

    module.load_state_dict(state_dict)
    got = candidate.lib.grads(module, [x], kwargs, grad_output)
    analytic = {"x": got["input_grads"][0], **got["param_grads"]}
    missing = [k for k in ["x", *state_dict] if analytic.get(k) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")
    check_directional_derivatives(forward, {"x": x, **state_dict}, analytic, grad_output, g)


def exercise_support(test_file: str):
    """The `support.py` beside a test file, imported on the trusted side (the same helpers the
    worker runs through `candidate.lib.support`)."""
    path = Path(test_file).resolve().parent / "support.py"
    name = f"grader_support_{path.parent.name}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
