"""Helpers for writing exercise tests: seeded randomness and gradient checks.

Exercise tests import from here and from grader.compare; both run only in the trusted process.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import math

import torch
import torch.nn.functional as F

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


TRAIN_TIMEOUT_FACTOR = 6  # a training call may take this many times the per-call limit


def fit_and_check(candidate, model, inputs: torch.Tensor, targets: torch.Tensor, **config) -> list[float]:
    """Train the remote `model` in the worker (`grader.training.fit`) and return the losses it
    reported, once this process has checked them: the trained model, run on the training data
    and scored here, must reach about the loss reported (code in the worker can be patched by
    the candidate; this check cannot)."""
    losses = candidate.lib.fit(model, inputs, targets, _timeout_factor=TRAIN_TIMEOUT_FACTOR, **config)["losses"]
    if type(losses) is not list or not losses or not all(type(v) is float and math.isfinite(v) for v in losses):
        raise Mismatch(f"training reported no usable losses (got {str(losses)[:200]})")
    logits = model(inputs)
    if type(logits) is not torch.Tensor or not torch.isfinite(logits).all():
        raise Mismatch("after training, the model's outputs on the training data are not finite")
    scored = float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1)))
    tail = losses[-max(1, len(losses) // 10):]
    reported = sum(tail) / len(tail)
    if scored > 2 * reported + 0.25:
        raise Mismatch(f"training reported a final loss of {reported:.4f}, but the trained model scores "
                       f"{scored:.4f} on the training data here: the reported losses are not this model's")
    return losses


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
