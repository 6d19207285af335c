"""Trusted helpers for the 32_batchnorm suite: the same functions build models around the
candidate's BatchNorm in the worker (through `candidate.lib.support`) and around the reference
in the grader. They return modules (handles) or plain data, never a verdict."""
from torch import nn


def classifier(norm_in: nn.Module, norm_hidden: nn.Module, hidden: int) -> nn.Sequential:
    """(N, 2) -> norm_in -> Linear(2, hidden) -> norm_hidden -> ReLU -> Linear(hidden, 2) logits.

    state_dict keys: 0.* (norm_in), 1.* (first Linear), 2.* (norm_hidden), 4.* (last Linear)."""
    return nn.Sequential(norm_in, nn.Linear(2, hidden), norm_hidden, nn.ReLU(), nn.Linear(hidden, 2))


def autograd_history(module: nn.Module) -> dict:
    """{buffer name: description of its autograd history, or None when it has none}."""
    return {name: (None if buf is None or (not buf.requires_grad and buf.grad_fn is None)
                   else f"requires_grad={buf.requires_grad}, grad_fn={type(buf.grad_fn).__name__}")
            for name, buf in module.named_buffers()}
