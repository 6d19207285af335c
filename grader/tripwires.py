"""Runtime guards, installed in the worker, that make forbidden APIs raise when called.

Best effort by nature (the candidate runs in the same process and could undo them); the
static scan in `grader.static_checks` is the other half of the constraint check.
"""
from __future__ import annotations

import importlib
import sys


class ForbiddenAPIError(RuntimeError):
    """Raised when candidate code calls an API the exercise forbids."""


def install(names: list[str]) -> list[str]:
    """Replace every reachable binding of each dotted name (e.g. 'torch.nn.MultiheadAttention')
    with a guard that raises ForbiddenAPIError. Returns the names that could be resolved."""
    installed = []
    for dotted in names:
        original = resolve(dotted)
        if original is None:
            continue
        guard = _guard_for(dotted, original)
        for module in list(sys.modules.values()):
            _rebind(module, original, guard)
        installed.append(dotted)
    return installed


def resolve(dotted: str):
    """The object a dotted name refers to, importing its module; None if it does not exist."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _guard_for(dotted: str, original):
    message = f"{dotted} is not allowed in this exercise: implement it yourself"
    if isinstance(original, type):
        def __init__(self, *args, **kwargs):
            raise ForbiddenAPIError(message)
        return type(original.__name__, (original,), {"__init__": __init__, "__module__": original.__module__})

    def guard(*args, **kwargs):
        raise ForbiddenAPIError(message)
    guard.__name__ = getattr(original, "__name__", "guard")
    return guard


def _rebind(module, original, guard) -> None:
    try:
        namespace = vars(module)
    except TypeError:
        return
    for attr, value in list(namespace.items()):
        if value is original:
            try:
                setattr(module, attr, guard)
            except (AttributeError, TypeError):
                pass
