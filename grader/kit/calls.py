"""Checks of how the candidate's code treats its caller: inputs left unchanged, errors raised as asked."""
from __future__ import annotations

import torch

from grader.compare import Mismatch, assert_unchanged
from grader.proxy import CandidateError

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message


def assert_inputs_unchanged(fn, args: dict, kwargs: dict | None = None, what: str = "the call"):
    """Call the remote `fn(*args.values(), **kwargs)` and require every tensor argument, positional
    (named by its key in `args`) or keyword, to equal bit for bit what was passed: no in-place
    change. Returns the call's result.

    >>> assert_inputs_unchanged(m, {"x": x}, {"key_padding_mask": kpm}, "forward")
    """
    kwargs = kwargs or {}
    result, args_after, kwargs_after = fn.call_checked(*args.values(), **kwargs)
    after = {**dict(zip(args, args_after)), **{k: kwargs_after.get(k) for k in kwargs}}
    for name, before in {**args, **kwargs}.items():
        if isinstance(before, torch.Tensor):
            assert_unchanged(after[name], before, f"{name} after {what} (modified in place)")
    return result


def expect_raises(call, exception: str = "ValueError", what: str = "the call") -> CandidateError:
    """`call()` must raise `exception` (its type name) in the candidate's code; returning normally or
    raising another type fails the test. A crash or time-out stays the candidate's error as it is.
    Returns the CandidateError (its `remote_message` is the candidate's message).

    >>> expect_raises(lambda: candidate.Dropout(1.5), "ValueError", "Dropout(p=1.5)")
    """
    try:
        result = call()
    except CandidateError as e:
        if e.kind != "exception":
            raise
        if e.remote_type != exception:
            raise Mismatch(f"{what}: expected {exception}, got {e.remote_type}: {e.remote_message}") from None
        return e
    shown = type(result).__name__ if not isinstance(result, (int, float, str, bool)) else repr(result)
    raise Mismatch(f"{what}: expected {exception}, but the call returned normally ({shown})")
