"""Runtime guards, installed in the worker, that make forbidden APIs raise when called.

Best effort by nature (the candidate runs in the same process and could undo them); the
static scan in `grader.static_checks` is the other half of the constraint check.

Finding every binding of an object means scanning every attribute of every loaded module
(~90,000 with torch, ~0.3 s per name). `prepare()` does that scan once in the fork server and
keeps an index (object id -> where it is bound) that every forked worker inherits; `install`
then looks bindings up in it, and scans in full only the modules loaded after the index.
"""
from __future__ import annotations

import importlib
import sys


class ForbiddenAPIError(RuntimeError):
    """Raised when candidate code calls an API the exercise forbids."""


class _Index:
    """Where each object is bound: id(value) -> [(module, attribute)], for the modules loaded
    when it was built (`modules`: their ids). Entries are hints, checked before use."""

    def __init__(self):
        self.modules = {id(m) for m in list(sys.modules.values())}
        self.bindings: dict[int, list[tuple[object, str]]] = {}
        for module in list(sys.modules.values()):
            for attr, value in _namespace(module):
                self.bindings.setdefault(id(value), []).append((module, attr))


_index: _Index | None = None


def prepare() -> None:
    """Index every binding of the modules loaded now (call in the fork server, before forking)."""
    global _index
    _index = _Index()


def install(names: list[str]) -> list[str]:
    """Replace every reachable binding of each dotted name (e.g. 'torch.nn.MultiheadAttention')
    with a guard that raises ForbiddenAPIError. Returns the names that could be resolved."""
    installed = []
    for dotted in names:
        original = resolve(dotted)
        if original is None:
            continue
        guard = _guard_for(dotted, original)
        for module in _modules_to_scan():
            _rebind(module, original, guard)
        if _index is not None:
            _rebind_indexed(original, guard)
        installed.append(dotted)
    return installed


def _modules_to_scan() -> list:
    """Every loaded module without an index; with one, only those loaded after it was built."""
    modules = list(sys.modules.values())
    return modules if _index is None else [m for m in modules if id(m) not in _index.modules]


def _rebind_indexed(original, guard) -> None:
    """Rebind the indexed bindings that still hold `original`; record the guard's bindings in
    turn (a later name may resolve to this guard, as a full scan would find it)."""
    done, loaded = [], {id(m) for m in list(sys.modules.values())}
    for module, attr in _index.bindings.get(id(original), []):
        if id(module) in loaded and _namespace_get(module, attr) is original:
            try:
                setattr(module, attr, guard)
                done.append((module, attr))
            except (AttributeError, TypeError):
                pass
    _index.bindings[id(guard)] = done


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
        return type(original.__name__, (original,), {"__init__": __init__, "__module__": original.__module__,
                                                     "__grader_guard__": dotted})

    def guard(*args, **kwargs):
        raise ForbiddenAPIError(message)
    guard.__name__ = getattr(original, "__name__", "guard")
    guard.__grader_guard__ = dotted  # what it stands for (a later name may resolve to it)
    return guard


def _namespace(module) -> list[tuple[str, object]]:
    try:
        return list(vars(module).items())
    except TypeError:
        return []


def _namespace_get(module, attr: str):
    try:
        return vars(module).get(attr)
    except TypeError:
        return None


def _rebind(module, original, guard) -> None:
    for attr, value in _namespace(module):
        if value is original:
            try:
                setattr(module, attr, guard)
            except (AttributeError, TypeError):
                pass
