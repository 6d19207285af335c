"""The static policy every submission is held to: which means of reaching code no interview
answer needs, and so are refused before a submission runs (README: "What a submission may use").

Data only; `grader.static_checks` applies it. An exercise extends the import allowlist with
`[constraints] allow_imports` (which may also lift a denied module, e.g. torch.distributed for
a data-parallel exercise) and adds its own forbidden APIs with `[constraints] forbidden`.
"""
from __future__ import annotations

# Top-level modules a submission may import (and their public submodules).
ALLOWED_IMPORTS = frozenset({
    "torch", "numpy", "einops", "math", "cmath", "random", "statistics", "numbers", "fractions", "decimal",
    "typing", "typing_extensions", "dataclasses", "collections", "abc", "enum", "itertools", "functools",
    "operator", "copy", "warnings", "contextlib", "string", "re", "heapq", "bisect", "time", "sys",
    "__future__", "argparse", "json", "pprint", "textwrap", "datetime",
})

# Parts of allowed packages that reach code behind the interpreter's back (the dispatcher, the
# compiler, other processes) or switch the grader's run-time trace off.
DENIED_MODULES = (
    "torch.ops", "torch.library", "torch.classes", "torch.jit", "torch.compile", "torch.compiler", "torch.fx",
    "torch.export", "torch.overrides", "torch.hub", "torch.package", "torch.onnx", "torch.multiprocessing",
    "torch.distributed", "torch.profiler", "torch.autograd.profiler", "torch.utils.cpp_extension",
    "torch.utils.dlpack", "torch.utils.bundled_inputs", "torch.testing._internal",
    "numpy.ctypeslib", "numpy.distutils", "numpy.f2py",
    "operator.attrgetter", "operator.methodcaller",
)

# Names inside denied or private parts that correct code copies from torch's own modules:
# harmless helpers, allowed by their full path.
ALLOWED_PATHS = frozenset({
    "torch.nn.init._calculate_fan_in_and_fan_out", "torch.nn.init._calculate_correct_fan",
    "torch.nn.modules.utils._single", "torch.nn.modules.utils._pair", "torch.nn.modules.utils._triple",
    "torch.nn.modules.utils._quadruple", "torch.nn.modules.utils._ntuple",
    "torch.jit.is_scripting", "torch.jit.is_tracing",
})

# What of `sys` a solution may touch (the rest reaches frames, modules and hooks).
SYS_ATTRIBUTES = frozenset({
    "maxsize", "float_info", "int_info", "version_info", "version", "platform", "byteorder", "stdout", "stderr",
    "exit", "getrecursionlimit", "setrecursionlimit",
})

# Built-in names that run text as code, or reach namespaces and frames by name.
DENIED_BUILTINS = frozenset({
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "__builtins__", "__loader__", "__spec__",
})

# Dunder attributes a solution may use (operator methods, construction, names); every other
# dunder (__dict__, __globals__, __subclasses__, __mro__, __getattribute__, __code__, ...) is refused.
ALLOWED_DUNDERS = frozenset({
    "__init__", "__new__", "__call__", "__name__", "__qualname__", "__class__", "__doc__", "__len__",
    "__repr__", "__str__", "__iter__", "__next__", "__enter__", "__exit__", "__getitem__", "__setitem__",
    "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__",
    "__neg__", "__pos__", "__abs__", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__",
    "__mul__", "__rmul__", "__imul__", "__matmul__", "__rmatmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__mod__", "__pow__", "__rpow__", "__and__", "__or__", "__xor__", "__invert__",
    "__post_init__", "__future__", "__setattr__", "__delattr__",
})

# Dunder names a solution may mention as bare names.
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__file__", "__doc__", "__class__", "__all__", "__slots__"})

# Introspection attributes without underscores: frames, tracebacks, generators, code objects.
DENIED_ATTRIBUTES = frozenset({
    "tb_frame", "tb_next", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "co_code", "co_consts", "co_names",
})

# Receivers on which a private attribute (`_name`) is the candidate's own business.
OWN_RECEIVERS = frozenset({"self", "cls"})
