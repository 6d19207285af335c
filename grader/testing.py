"""Former home of the exercise tests' helpers, now in `grader.kit`: kept importable (with the old
signatures of the gradient helpers) until every exercise has moved onto the kit."""
from __future__ import annotations

import torch

from grader.compare import assert_close
from grader.kit import (TRAIN_TIMEOUT_FACTOR, assert_grads_close, exercise_support, fit_and_check, generator,
                        seeded)
from grader.kit import check_finite_differences as _check_finite_differences

__all__ = ["TRAIN_TIMEOUT_FACTOR", "assert_grads_close", "assert_gradients_match", "check_finite_differences",
           "exercise_support", "fit_and_check", "generator", "seeded"]


def assert_gradients_match(got: dict, reference: torch.nn.Module, x: torch.Tensor, kwargs: dict,
                           grad_output: torch.Tensor) -> None:
    """Old form of `kit.check_gradients`: `got` (the candidate's lib.grads result for module(x))
    must match the reference module's gradients w.r.t. x and every parameter, by name."""
    x_ref = x.clone().requires_grad_()
    reference.zero_grad(set_to_none=True)
    reference(x_ref, **kwargs).backward(grad_output)
    assert_close(got["input_grads"][0], x_ref.grad, "gradient w.r.t. x")
    assert_grads_close(got["param_grads"], reference)


def check_finite_differences(candidate, module, state_dict: dict, x: torch.Tensor, kwargs: dict,
                             grad_output: torch.Tensor, g: torch.Generator) -> None:
    """Old form of `kit.check_finite_differences` for module(x, **kwargs) at `state_dict`."""
    _check_finite_differences(candidate, module, {"x": x}, kwargs, g=g, grad_output=grad_output,
                              state_dict=state_dict)
