"""Gradient checks of functions of several tensors (and of modules): against an oracle or the
reference through autograd here, and against finite differences of the candidate's own forward."""
from __future__ import annotations

import torch
from torch import nn

from grader import outputs
from grader.compare import Mismatch, assert_close, assert_tensor
from grader.gradcheck import check_directional_derivatives
from grader.kit.cases import f64

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message


def require_gradients(grads: dict, names=None) -> dict:
    """Every gradient named (default: all of `grads`) must have reached its tensor; returns `grads`.
    The one home of the "no gradient reached" message.

    >>> require_gradients({"x": got["input_grads"][0], **got["param_grads"]})
    """
    missing = [n for n in (grads if names is None else names) if grads.get(n) is None]
    if missing:
        raise Mismatch(f"no gradient reached {', '.join(missing)} (detached, computed under no_grad, outside "
                       "torch, or not used in forward?)")
    return grads


def assert_grads_close(got: dict, module: nn.Module, suffix: str = "") -> None:
    """Parameter gradients returned by the candidate must match `module`'s .grad, by name.

    >>> assert_grads_close(candidate.lib.grads(cand, [x])["param_grads"], ref)  # after ref's backward
    """
    for name, param in module.named_parameters():
        require_gradients(got, [name])
        expected = param.grad if param.grad is not None else torch.zeros_like(param)
        assert_close(got[name], expected, f"gradient w.r.t. {name}{suffix}")


def check_gradients(candidate, fn, oracle, args: dict, kwargs: dict | None = None, *, grad_output=None,
                    g: torch.Generator | None = None, where=None, against: str = "") -> dict:
    """The candidate's output and gradients of `fn(*args.values(), **kwargs)` (fn: remote function or
    module; an output that is a tuple of tensors, e.g. (output, (h_n, c_n)), is compared joined,
    as `grader.outputs.flat` joins it) must match autograd through `oracle` (a trusted function with the same signature, or the
    reference module, whose parameter gradients are then compared by name too), for every floating
    tensor in `args` (named by its key). grad_output: the output's gradient (default: N(0, 1) drawn
    from `g`); where: bool mask of the output elements compared (the gradient should be 0 elsewhere);
    against: the oracle's name in messages ("gradient w.r.t. weight vs F.conv2d").
    Returns the candidate's `lib.grads` result.

    >>> check_gradients(candidate, candidate.conv2d, F.conv2d, {"x": x, "weight": w, "bias": b},
    ...                 {"stride": 2}, g=g, against="F.conv2d")
    >>> check_gradients(candidate, cand, ref, {"x": x}, {"causal": True}, grad_output=grad_out)  # modules
    """
    kwargs = kwargs or {}
    leaves = {n: v.detach().clone().requires_grad_() for n, v in args.items() if _differentiable(v)}
    if isinstance(oracle, nn.Module):
        oracle.zero_grad(set_to_none=True)
    expected = outputs.flat(oracle(*(leaves.get(n, v) for n, v in args.items()), **kwargs))
    if grad_output is None:
        grad_output = torch.randn(expected.shape, generator=g, dtype=expected.dtype)
    outputs.backward(expected, grad_output)
    got = candidate.lib.grads(fn, list(args.values()), kwargs, grad_output)
    vs = f" vs {against}" if against else ""
    assert_close(got["output"], expected.detach(), f"output{vs}", where=where)
    for i, name in enumerate(args):
        if name in leaves:
            require_gradients({name: got["input_grads"][i]})
            want = leaves[name].grad if leaves[name].grad is not None else torch.zeros_like(leaves[name])
            assert_close(got["input_grads"][i], want, f"gradient w.r.t. {name}{vs}")
    if isinstance(oracle, nn.Module):
        assert_grads_close(got["param_grads"], oracle, vs)
    return got


def check_finite_differences(candidate, fn, args: dict, kwargs: dict | None = None, *, g: torch.Generator,
                             grad_output=None, state_dict: dict | None = None, hold=(), **options) -> None:
    """The candidate's gradients of `fn(*args.values(), **kwargs)` must agree with central differences
    of its own forward along random directions (`grader.gradcheck`), w.r.t. every floating tensor
    in `args` and, when `fn` is a remote module, every entry of `state_dict` (float64 weights loaded
    into it to differentiate at), except the entries named in `hold` (buffers, e.g. a fixed table:
    loaded as they are, not differentiated); the module's entries not in `state_dict` keep their
    values. grad_output defaults to N(0, 1) of the output's shape; options: directions, eps, rtol,
    atol of `check_directional_derivatives`.

    >>> check_finite_differences(candidate, candidate.conv2d, {"x": x, "weight": w, "bias": b}, {"groups": 2}, g=g)
    >>> check_finite_differences(candidate, cand, {"x": x}, {"causal": True}, g=g, state_dict=sd)
    >>> check_finite_differences(candidate, model, {"src": src}, g=g, state_dict=sd, hold=["pe"])  # pe: a buffer
    """
    kwargs, state_dict = kwargs or {}, state_dict or {}
    base = fn.state_dict() if state_dict else {}  # the entries not in state_dict (e.g. buffers) keep their values
    held = {k: state_dict[k] for k in hold}
    wrt = {k: v for k, v in state_dict.items() if k not in held}
    if state_dict:
        fn.load_state_dict({**base, **state_dict})
    if grad_output is None:
        out = assert_tensor(outputs.flat(fn(*args.values(), **kwargs)), "output")
        grad_output = torch.randn(out.shape, generator=g, dtype=f64)
    got = candidate.lib.grads(fn, list(args.values()), kwargs, grad_output)
    inputs = {n: v for n, v in args.items() if _differentiable(v)}
    analytic = {n: got["input_grads"][i] for i, n in enumerate(args) if n in inputs}
    analytic.update({k: got["param_grads"].get(k) for k in wrt})
    require_gradients(analytic)

    def forward(point):
        if state_dict:
            fn.load_state_dict({**base, **held, **{k: point[k] for k in wrt}})
        return outputs.flat(fn(*(point.get(n, v) if n in inputs else v for n, v in args.items()), **kwargs))

    check_directional_derivatives(forward, {**inputs, **wrt}, analytic, grad_output, g, **options)


def _differentiable(v) -> bool:
    return isinstance(v, torch.Tensor) and v.is_floating_point()
