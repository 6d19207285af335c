"""An exercise's own `support.py` (trusted helpers the worker loads too), imported on the trusted side."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message


def exercise_support(test_file: str):
    """The `support.py` beside a test file, imported here (the same helpers the worker runs through
    `candidate.lib.support`).

    >>> support = exercise_support(__file__)
    >>> model = support.tiny_cnn(reference.conv2d, seed)
    """
    path = Path(test_file).resolve().parent / "support.py"
    name = f"grader_support_{path.parent.name}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
