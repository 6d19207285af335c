"""Weights: random state dicts shaped like a module, and the candidate and reference loaded with them."""
from __future__ import annotations

import fnmatch
import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from grader.compare import Mismatch, assert_close, assert_equal, assert_shape, assert_tensor
from grader.kit.cases import f64, seeded
from grader.proxy import RemoteObject, load_remote

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message

NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, *([nn.RMSNorm] if hasattr(nn, "RMSNorm") else []))


def random_state_dict(module: nn.Module | dict, g: torch.Generator, *, dtype=f64, bias_std: float = 0.5,
                      gain_std: float = 0.3, scales: dict[str, float] | None = None) -> dict:
    """Random values for every floating entry of `module`'s state_dict (a trusted module, e.g. the
    reference's; or a dict {name: shape}), chosen so that every entry matters and nothing saturates:
    matrices ~ N(0, 1/fan_in) (fan_in: the product of all dims but the first; embeddings N(0, 1)),
    vectors ~ N(0, bias_std^2), the weights of a norm layer ~ 1 + N(0, gain_std^2). Buffers (running
    statistics, fixed tables) and integer or bool entries keep the module's values.
    scales: {glob over names: factor} multiplies the matching entries (what a mutant needs to show).

    >>> sd = random_state_dict(reference.SelfAttention(8, 2), g, scales={"[qk]_proj.weight": 40.0})
    >>> sorted(sd)[:2]
    ['k_proj.bias', 'k_proj.weight']
    """
    kinds = _kinds(module) if isinstance(module, nn.Module) else {}
    shapes = module.state_dict() if isinstance(module, nn.Module) else module
    sd = {}
    for name, value in shapes.items():
        kind = kinds.get(name, "")
        if isinstance(value, torch.Tensor) and (not value.is_floating_point() or kind == "buffer"):
            sd[name] = value.to(dtype, copy=True) if value.is_floating_point() else value.clone()
            continue
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else tuple(value)
        z = torch.randn(shape, generator=g, dtype=dtype)
        if kind == "norm" and name.endswith("weight"):
            sd[name] = 1.0 + gain_std * z
        elif kind == "embedding":
            sd[name] = z
        elif len(shape) >= 2:
            sd[name] = z / math.sqrt(math.prod(shape[1:]))
        else:
            sd[name] = bias_std * z
        for pattern, factor in (scales or {}).items():
            if fnmatch.fnmatchcase(name, pattern):
                sd[name] = sd[name] * factor
    return sd


def _kinds(module: nn.Module) -> dict[str, str]:
    """{state_dict name: "norm" | "embedding" | "buffer" | ""} from the layer that owns the entry."""
    kinds = {}
    for prefix, layer in module.named_modules():
        kind = "norm" if isinstance(layer, NORMS) else "embedding" if isinstance(layer, nn.Embedding) else ""
        for name, _ in layer.named_parameters(recurse=False):
            kinds[f"{prefix}.{name}" if prefix else name] = kind
        for name, _ in layer.named_buffers(recurse=False):
            kinds[f"{prefix}.{name}" if prefix else name] = "buffer"
    return kinds


class Twins(NamedTuple):
    """The candidate's module (remote) and the reference's (here), holding the same state dict."""

    cand: object
    ref: nn.Module
    state_dict: dict


def twins(make: Callable, candidate, reference, g: torch.Generator, *, dtype=f64, **weights) -> Twins:
    """Build the same module from the candidate and from the reference with `make(lib)`, convert
    both to `dtype` and load both with one `random_state_dict` of the reference's module
    (`weights`: its keyword arguments, e.g. scales={...}).

    >>> cand, ref, sd = twins(lambda lib: lib.SelfAttention(8, 2, bias=False), candidate, reference, g)
    >>> assert_close(cand(x), ref(x), "output vs reference")
    """
    with seeded(0):
        ref = make(reference).to(dtype)
    sd = random_state_dict(ref, g, dtype=dtype, **weights)
    ref.load_state_dict(sd)
    cand = load(make(candidate), sd, dtype)
    return Twins(cand, ref, sd)


def same_init(model, make_reference: Callable, seed: int):
    """`make_reference()` run here under `seeded(seed)`, and the remote `model` (the same
    architecture built on the candidate's code) loaded with its initial weights, for training
    both from the same start. Returns (model, reference model).

    >>> model, ref_model = same_init(candidate.Linear(5, 3), lambda: reference.Linear(5, 3), s)
    """
    with seeded(seed):
        ref = make_reference()
    return load(model, {k: v.clone() for k, v in ref.state_dict().items()}), ref


def load(module, state_dict: dict, dtype=None):
    """`module` (remote or here) converted to `dtype` (when given) and loaded with `state_dict`;
    returns the module.

    >>> model = load(candidate.Linear(4, 3), {"weight": w, "bias": b}, torch.float64)
    """
    if isinstance(module, RemoteObject):  # both steps in one request to the worker
        return load_remote(module, state_dict, dtype)
    if dtype is not None:
        module = module.to(dtype)
    module.load_state_dict(state_dict)
    return module


def assert_state_close(got, expected: dict, what: str = "") -> None:
    """A state_dict (e.g. the candidate's, returned by value) must hold exactly the entries of
    `expected`, each close to it (shape, dtype, values); a failure names the entry and `what`.

    >>> assert_state_close(cand.state_dict(), ref.state_dict(), "after training step 2 vs the reference")
    """
    if not isinstance(got, dict) or set(got) != set(expected):
        found = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise Mismatch(f"state_dict {what}: expected the entries {sorted(expected)}, got {found}")
    for name, value in expected.items():
        assert_close(got[name], value, f"{name} {what}")


def assert_state_shapes(module, expected, what: str = "the module") -> None:
    """`module`'s state_dict (remote or here) must hold exactly the names and shapes of `expected`:
    a dict {name: shape}, or a trusted module whose state_dict gives them (e.g. torch's own layer).

    >>> assert_state_shapes(candidate.Linear(4, 3), {"weight": (3, 4), "bias": (3,)}, "Linear(4, 3)")
    """
    if isinstance(expected, nn.Module):
        expected = expected.state_dict()
    expected = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v) for k, v in expected.items()}
    got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = [(k, got[k], expected[k]) for k in sorted(set(got) & set(expected)) if got[k] != expected[k]]
        raise Mismatch(f"state_dict (name: shape) of {what} should be exactly {expected}: missing {missing}, "
                       f"unexpected {extra}, wrong shape (name, got, expected) {wrong}; got {got}")


def assert_trainable(candidate, module, args: list, expected, what: str = "the module") -> None:
    """A backward pass through the remote `module(*args)` must reach exactly the parameters of
    `expected` ({name: shape}, or a trusted module whose state_dict names them), with gradients of
    those shapes: they are registered nn.Parameters, used in forward.

    >>> assert_trainable(candidate, candidate.Linear(5, 3), [x], {"weight": (3, 5), "bias": (3,)}, "Linear(5, 3)")
    """
    if isinstance(expected, nn.Module):
        expected = {k: tuple(v.shape) for k, v in expected.named_parameters()}
    expected = {k: tuple(v) for k, v in expected.items()}
    got = candidate.lib.grads(module, list(args))["param_grads"]
    shapes = {k: None if v is None else tuple(v.shape) for k, v in got.items()}
    if shapes != expected:
        raise Mismatch(f"trainable parameters of {what} and their gradient shapes (None: no gradient) should be "
                       f"{expected}; got {shapes} (wrap the tensors in nn.Parameter so that they are registered, "
                       "and use them in forward)")


def assert_attributes(module, expected: dict, what: str = "the module") -> None:
    """Attributes of the (remote) `module` must equal `expected` ({name: value}; None: must be None).

    >>> assert_attributes(m, {"in_features": 4, "out_features": 3, "bias": None}, "Linear(4, 3, bias=False)")
    """
    got = {name: getattr(module, name) for name in expected}
    shown = {k: v if v is None or isinstance(v, (bool, int, float, str)) else type(v).__name__ for k, v in got.items()}
    if any(not _same(got[k], v) for k, v in expected.items()):
        raise Mismatch(f"attributes of {what} should be {expected}; got {shown}")


def assert_follows_global_seed(candidate, make: Callable, seed: int, names, what: str = "the module") -> None:
    """Like torch's own layers, a module built by `make()` (in the worker) must draw the random
    initial values of the state_dict entries `names` from the global RNG: the same
    `torch.manual_seed` gives the same values, and two modules built in a row differ.

    >>> assert_follows_global_seed(candidate, lambda: candidate.Linear(6, 4), seed, ["weight", "bias"], "Linear(6, 4)")
    """
    candidate.lib.make("torch.manual_seed", seed)
    first, second = make().state_dict(), make().state_dict()
    candidate.lib.make("torch.manual_seed", seed)
    again = make().state_dict()
    for name in names:
        value = assert_tensor(first.get(name), f"{name} of {what} in the state_dict")
        assert_equal(again.get(name), value, f"{name} of {what} built after the same torch.manual_seed (draw from "
                     "the global RNG, not from a private generator)")
        if torch.equal(value, assert_shape(second.get(name), value.shape, f"{name} of a second {what}")):
            raise Mismatch(f"{name}: two {what} built one after the other have identical values (a constant, or a "
                           "private generator with a fixed seed?); each must draw fresh random values from the "
                           "global RNG")


def _same(value, expected) -> bool:
    """`value` (from the worker) equals the plain `expected` (None: is None)."""
    if expected is None:
        return value is None
    return isinstance(value, (bool, int, float, str)) and value == expected
