"""Trusted-side proxies that make the candidate's objects in a worker feel like local ones.

`Candidate` stands for the submission's module: attribute access, calls and method calls are
forwarded to a worker; tensors and plain data come back by value, anything else as a
`RemoteObject`. Failures of the candidate (exceptions, crashes, timeouts, malformed replies)
raise `CandidateError`, which the grader reports as the candidate's error, never its own.
(`__tracebackhide__` keeps these frames out of pytest's tracebacks: a learner sees the test's
line and their own code's traceback.)
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from grader import channel, clock, constraints, wire
from grader.limits import HANDOVER_S, MiB, Limits
from grader.supervisor import Parked, Worker, WorkerConfig, WorkerPool

# Methods of torch.nn.Module that tests call on a candidate's module: one request each (see _Attribute).
MODULE_METHODS = frozenset({"to", "load_state_dict", "state_dict", "train", "eval", "double", "float", "forward",
                            "zero_grad", "requires_grad_"})
MAX_RESET_REPLY = 1 * MiB  # a reset's reply holds the module's public names; a sync's, its marker
TRACED_LIB = {"grads", "make", "aten_ops", "load"}  # worker-side helpers that run the candidate's code briefly


class CandidateError(Exception):
    """The candidate's code failed. kind: exception | import | forbidden | timeout | crash | protocol."""

    def __init__(self, kind: str, message: str, remote_type: str = "", remote_traceback: str = "",
                 remote_message: str = ""):
        super().__init__(message)
        self.kind, self.message = kind, message
        self.remote_type, self.remote_traceback, self.remote_message = remote_type, remote_traceback, remote_message
        self.at_import = False  # raised while the module was being imported: no test of it can pass

    def __str__(self) -> str:
        """The message, then the candidate's own traceback (what a learner running pytest needs)."""
        if not self.remote_traceback:
            return self.message
        return f"{self.message}\n\nyour code's traceback:\n{self.remote_traceback.rstrip()}"


class MissingName(CandidateError, AttributeError):
    """The submission does not define a name a test asked for; `defined`: the names it does define."""

    defined: tuple[str, ...] = ()


def _local_only(name: str) -> bool:
    """Names that tools (copy, pickle, hypothesis, pytest) probe for: answered here, not remotely."""
    return name.startswith("_") or name.startswith("hypothesis_internal") or name.startswith("pytest")


class Candidate:
    """The submission's module, living in a worker started on first use: the one the run's
    previous test left healthy (`parked`), reset, or else a fresh one."""

    def __init__(self, pool: WorkerPool, config: WorkerConfig, limits: Limits,
                 trace_log: constraints.TraceLog | None = None, submission_deadline: float | None = None,
                 parked: Parked | None = None):
        self._pool, self._config, self._limits, self._parked = pool, config, limits, parked
        self._trace_log = trace_log if trace_log is not None else constraints.TraceLog()
        self._budgets = [(clock.monotonic() + limits.test_budget, f"the test's time budget of {limits.test_budget:g} s"),
                         (submission_deadline or float("inf"),
                          f"the submission's time budget of {limits.submission_budget:g} s (every test's calls together)")]
        self._worker: Worker | None = None
        self._callables: set[str] = set()
        self._generation = 0
        self._poisoned: CandidateError | None = None
        self.incidents: list[CandidateError] = []
        self.outputs: list[str] = []
        self.returned_keys: dict[frozenset, str] = {}  # key sets of dicts the candidate's calls returned
        self.lib = _Lib(self)
        self._in_flight: _InFlight | None = None  # a request sent whose reply is still to be taken

    # -- attribute access on the module ---------------------------------------------------
    def __getattr__(self, name: str):
        __tracebackhide__ = True
        if _local_only(name):
            raise AttributeError(name)
        self._ensure_worker()
        if name not in self._names:
            missing = MissingName("exception", f"your module does not define {name!r} (it defines: "
                                  f"{', '.join(self._names) or 'nothing public'})")
            missing.defined = tuple(self._names)
            raise missing
        if name in self._callables:
            return _Attribute(self, wire.Ref(0), name, name)
        return self._request({"op": "getattr", "target": wire.Ref(0), "name": name}, label=name)

    # -- worker lifecycle ------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        __tracebackhide__ = True
        if self._poisoned is not None:
            raise self._poisoned
        if self._worker is not None:
            return
        for deadline, budget in self._budgets:
            if clock.monotonic() >= deadline:
                self._fail(CandidateError("timeout", f"{budget} is spent: your code was not run again"), poison=True)
        reply = self._reset_parked_worker()
        if reply is None:
            self._worker = self._pool.spawn(self._config_for_new_worker())
        self._generation += 1
        try:
            if reply is None:
                reply = self._exchange({"op": "import"}, "importing your module", factor=1.0)
            self._names = self._imported_names(reply)
        except CandidateError as e:
            if e.kind == "exception":
                e = CandidateError("import", f"your module failed to import: {e.remote_type}: {e.remote_message}",
                                   e.remote_type, e.remote_traceback, e.remote_message)
            e.at_import = True
            self._poison(e)
            raise e from None

    def _reset_parked_worker(self) -> dict | None:
        """The import reply of the parked worker, reset for this test (it imports the module anew);
        None, having killed it, when there is none or the reset does not answer as it should: a
        fresh worker's import is then the one that counts."""
        self._worker = self._parked.take() if self._parked is not None else None
        if self._worker is None:
            return None
        reply = _handover(self._worker, {"op": "reset"})
        if type(reply) is dict and reply.keys() == {"ok"} and type(reply["ok"]) is dict:
            return reply["ok"]
        self._worker.kill()
        self._worker = None
        return None

    def _imported_names(self, reply) -> list[str]:
        """The module's public names (and which of them are classes or functions: `_callables`)."""
        __tracebackhide__ = True
        names = reply.get("names") if type(reply) is dict else None
        callables = reply.get("callables", []) if type(reply) is dict else None
        if not all(type(found) is list and all(type(n) is str for n in found) for found in (names, callables)):
            self._fail(CandidateError("protocol", "importing your module sent back an unexpected reply"), poison=True)
        self._callables = set(callables) & set(names)
        return names

    def _config_for_new_worker(self) -> WorkerConfig:
        config = WorkerConfig(**vars(self._config))
        config.workdir = self._pool.new_workdir()
        return config

    def _retire_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self.outputs.append(self._worker.output.text())
            self._worker = None

    def _poison(self, error: CandidateError) -> None:
        """Later calls in this test fail at once with `error` (no repeated timeouts)."""
        self._poisoned = error
        self._retire_worker()

    def close(self) -> None:
        """End this test's use of the worker: park it for the run's next test when the test left
        it healthy (no crash, timeout, forbidden operation or malformed reply; no thread or child
        process of its own still running; its output under the cap), else kill it. Its captured
        output stays in `outputs`."""
        worker = self._worker
        if (worker is None or self._parked is None or self._poisoned is not None or self.incidents
                or self._in_flight is not None):  # (an untaken reply would answer the next request)
            self._retire_worker()
            return
        marker = constraints.new_nonce()
        reply = _handover(worker, {"op": "sync", "marker": marker})
        text = worker.output.take_until(marker.encode(), wait=1.0) if reply == {"ok": marker} else None
        if text is not None:
            self.outputs.append(text)
        if text is None or not worker.alone():
            self._retire_worker()  # adds what is left of its output (all of it when no marker came)
            return
        self._worker = None
        self._parked.put(worker)

    @property
    def output(self) -> str:
        """Everything the candidate's code printed in this test (capped per worker)."""
        return "\n".join(o for o in self.outputs if o)

    # -- requests ----------------------------------------------------------------------------
    def _request(self, request: dict, label: str, factor: float = 1.0):
        __tracebackhide__ = True
        self._ensure_worker()
        return self._wrap(self._exchange(request, label, factor), label)

    def _exchange(self, request: dict, label: str, factor: float):
        """Send one request, wait for its reply within the time limit; failures become CandidateError."""
        __tracebackhide__ = True
        return self._await_reply(self._send(request, label, factor))

    def _send(self, request: dict, label: str, factor: float) -> "_InFlight":
        """Send one request; `_await_reply` takes its reply, and nothing else is sent before it."""
        __tracebackhide__ = True
        if self._in_flight is not None:
            raise RuntimeError(f"{label}: the reply to {self._in_flight.label} has not been taken (grader bug)")
        deadline, why = min([(clock.monotonic() + self._limits.timeout * factor,
                              f"did not finish within the {self._limits.timeout * factor:g} s time limit"),
                             *((d, f"ran past {budget}") for d, budget in self._budgets)])
        flight = _InFlight(label, deadline, why, self._trace_nonce(request))
        try:
            channel.send(self._worker.sock, request)
        except (channel.ChannelClosed, BrokenPipeError, ConnectionResetError):
            self._crashed(label)
        self._in_flight = flight
        return flight

    def _await_reply(self, flight: "_InFlight"):
        """The reply to `flight`, within its deadline (counted from when it was sent), judged and unwrapped."""
        __tracebackhide__ = True
        self._in_flight = None
        try:
            reply = channel.receive(self._worker.sock, self._limits.message_mb * MiB, flight.deadline)
        except TimeoutError:
            self._fail(CandidateError("timeout", f"{flight.label} {flight.why} (worker killed)"), poison=True)
        except (channel.ChannelClosed, BrokenPipeError, ConnectionResetError):
            self._crashed(flight.label)
        except wire.WireError as e:
            self._fail(CandidateError("protocol", f"{flight.label} sent back malformed data ({e})"), poison=True)
        if flight.nonce:
            self._judge_trace(reply, flight.nonce, flight.label)
        return self._unwrap(reply, flight.label)

    def _crashed(self, label: str):
        __tracebackhide__ = True
        how = self._worker.exit_description()
        self._fail(CandidateError("crash", f"the worker process {how} during {label}"), poison=False)

    def _trace_nonce(self, request: dict) -> str | None:
        """Traced requests carry a fresh nonce: calls that run the candidate's code, when the
        exercise forbids operators."""
        op = request.get("op")
        if not self._config.forbidden_ops or not (op in ("call", "getattr") or request.get("name") in TRACED_LIB):
            return None
        request["trace"] = constraints.new_nonce()
        return request["trace"]

    def _judge_trace(self, reply, nonce: str, label: str) -> None:
        __tracebackhide__ = True
        trace = reply.get("trace") if type(reply) is dict else None
        problem = constraints.judge_trace(trace, nonce, tuple(self._config.forbidden_ops), label)
        if problem:
            self._trace_log.violations.append(problem)
            self._fail(CandidateError("forbidden", problem), poison=True)

    def _fail(self, error: CandidateError, poison: bool):
        __tracebackhide__ = True
        self.incidents.append(error)
        if poison:
            self._poison(error)
        else:
            self._retire_worker()
        raise error

    def _unwrap(self, reply, label: str):
        __tracebackhide__ = True
        outcome = reply.keys() - {"trace"} if type(reply) is dict else ()
        if len(outcome) != 1 or not ({"ok", "error"} & outcome):
            self._fail(CandidateError("protocol", f"{label} sent back an unexpected reply"), poison=True)
        if "ok" in reply:
            return reply["ok"]
        err = reply["error"] if type(reply["error"]) is dict else {}
        rtype, message = str(err.get("type", "Exception"))[:200], str(err.get("message", ""))[:4000]
        kind = "forbidden" if rtype == "ForbiddenAPIError" else "exception"
        raise CandidateError(kind, f"{label} raised {rtype}: {message}", rtype, str(err.get("traceback", ""))[-4000:],
                             message)

    def _wrap(self, value, label: str):
        """Replace handles in a decoded value by RemoteObjects."""
        if isinstance(value, wire.Ref):
            return RemoteObject(self, value, self._generation, label)
        if type(value) is list:
            return [self._wrap(v, label) for v in value]
        if type(value) is tuple:
            return tuple(self._wrap(v, label) for v in value)
        if type(value) is dict:
            return {k: self._wrap(v, label) for k, v in value.items()}
        return value

    def _pack(self, value):
        """Arguments on their way to the worker: RemoteObjects become handles, tensors detach."""
        if isinstance(value, RemoteObject):
            if value._generation != self._generation:
                raise CandidateError("crash", f"{value._label} belonged to a worker that has since died")
            return value._ref
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        if isinstance(value, (list, tuple)):
            packed = [self._pack(v) for v in value]
            return packed if isinstance(value, list) else tuple(packed)
        if isinstance(value, dict):
            return {k: self._pack(v) for k, v in value.items()}
        return value

    def _call(self, target: wire.Ref, args, kwargs, label: str, factor: float = 1.0, return_args: bool = False,
              method: str | None = None):
        __tracebackhide__ = True
        self._ensure_worker()
        request = {"op": "call", "target": target, "args": self._pack(list(args)),
                   "kwargs": self._pack(dict(kwargs)), "return_args": return_args}
        if method is not None:  # target.method(...), looked up by the worker in the same request
            request["method"] = method
        reply = self._exchange(request, label, factor)
        returned = reply.get("result") if return_args and type(reply) is dict else reply
        if type(returned) is dict and len(self.returned_keys) < 1000:
            self.returned_keys.setdefault(frozenset(returned), label)
        return self._wrap(reply, label)


def _handover(worker: Worker, request: dict):
    """A kept worker's reply to a handover request (sync, reset) within HANDOVER_S, or None."""
    try:
        channel.send(worker.sock, request)
        return channel.receive(worker.sock, MAX_RESET_REPLY, clock.monotonic() + HANDOVER_S)
    except (TimeoutError, OSError, channel.ChannelClosed, wire.WireError):
        return None


class RemoteObject:
    """An object in the worker (a class, a module instance, a bound method, ...)."""

    def __init__(self, candidate: Candidate, ref: wire.Ref, generation: int, label: str):
        self._candidate, self._ref, self._generation, self._label = candidate, ref, generation, label

    def _check_alive(self) -> None:
        __tracebackhide__ = True
        if self._generation != self._candidate._generation or self._candidate._worker is None:
            raise CandidateError("crash", f"{self._label} belonged to a worker that has since died")

    def __getattr__(self, name: str):
        __tracebackhide__ = True
        if _local_only(name):
            raise AttributeError(name)
        self._check_alive()
        label = f"{self._label}.{name}"
        if name in MODULE_METHODS:
            return _Attribute(self._candidate, self._ref, name, label)
        return self._candidate._request({"op": "getattr", "target": self._ref, "name": name}, label)

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        self._check_alive()
        return self._candidate._call(self._ref, args, kwargs, f"{self._label}(...)")

    def call_checked(self, *args, **kwargs):
        """Call, and also return the arguments as the worker holds them afterwards (to detect
        in-place changes): returns (result, args_after, kwargs_after)."""
        __tracebackhide__ = True
        self._check_alive()
        reply = self._candidate._call(self._ref, args, kwargs, f"{self._label}(...)", return_args=True)
        return reply["result"], reply["args"], reply["kwargs"]

    def __repr__(self) -> str:
        return f"<remote {self._label}>"


class _Attribute(RemoteObject):
    """`owner.name` where it is a method every torch module has (MODULE_METHODS) or a class or
    function of the submission. Called, it costs one request: the worker looks it up and calls it
    (`m.load_state_dict(sd)` was two round trips). Any other use looks it up first, as reading
    any other attribute does."""

    def __init__(self, candidate: Candidate, owner: wire.Ref, name: str, label: str):
        self._candidate, self._owner, self._name, self._label = candidate, owner, name, label
        self._generation, self._found = candidate._generation, None

    @property
    def _ref(self) -> wire.Ref:
        __tracebackhide__ = True
        if self._found is None:
            self._check_alive()
            value = self._candidate._request({"op": "getattr", "target": self._owner, "name": self._name}, self._label)
            if not isinstance(value, RemoteObject):
                raise CandidateError("exception", f"{self._label} is a {type(value).__name__}, not a class, function or method")
            self._found = value._ref
        return self._found

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        self._check_alive()
        return self._candidate._call(self._owner, args, kwargs, f"{self._label}(...)", method=self._name)

    def call_checked(self, *args, **kwargs):
        __tracebackhide__ = True
        self._check_alive()
        reply = self._candidate._call(self._owner, args, kwargs, f"{self._label}(...)", return_args=True,
                                      method=self._name)
        return reply["result"], reply["args"], reply["kwargs"]


class _InFlight(NamedTuple):
    """A request sent to the worker: what it is called, when its reply is due (and why), its trace nonce."""

    label: str
    deadline: float
    why: str
    nonce: str | None


class _Lib:
    """`candidate.lib.NAME(...)` runs `grader.worker.remote_ops.NAME` in the worker;
    `candidate.lib.start("NAME", ...)` sends the same request and returns at once: its
    `.result()` waits for the reply, so this process can work meanwhile (e.g. train the
    reference while the worker trains the candidate's model). No other request to the
    candidate may be made before `.result()`.

    Pass `_timeout_factor=F` to allow F times the per-call limit (e.g. for training)."""

    def __init__(self, candidate: Candidate):
        self._candidate = candidate

    def __getattr__(self, name: str):
        __tracebackhide__ = True

        def call(*args, **kwargs):
            __tracebackhide__ = True
            return self.start(name, *args, **kwargs).result()
        return call

    def start(self, name: str, *args, _timeout_factor: float = 1.0, _label: str | None = None, **kwargs) -> "Pending":
        __tracebackhide__ = True
        c = self._candidate
        c._ensure_worker()
        request = {"op": "lib", "name": name, "args": c._pack(list(args)), "kwargs": c._pack(kwargs)}
        return Pending(c, c._send(request, _label or name, _timeout_factor))


class Pending:
    """A `candidate.lib.start(...)` request on its way: `.result()` is its value (or its CandidateError)."""

    def __init__(self, candidate: Candidate, flight: _InFlight):
        self._candidate, self._flight = candidate, flight

    def result(self):
        __tracebackhide__ = True
        if self._candidate._in_flight is not self._flight:
            raise RuntimeError(f"{self._flight.label}: its reply was already taken (grader bug)")
        return self._candidate._wrap(self._candidate._await_reply(self._flight), self._flight.label)


def load_remote(module: RemoteObject, state_dict: dict, dtype: torch.dtype | None = None) -> RemoteObject:
    """`module.to(dtype)` (when given), then its `load_state_dict(state_dict)`, in one request
    (`grader.worker.remote_ops.load`; two method calls are two)."""
    __tracebackhide__ = True
    return module._candidate.lib.load(module, state_dict, dtype, _label=f"{module._label}.load_state_dict(...)")
