"""Benchmark baseline only: the grader's pytest plugin with the sandbox taken out.

`python -m pytest exercises/NN -p no:grader -p bench.inprocess --submission solutions/NN.py`
runs the same tests with the same fixtures, except that `candidate` serves its requests from a
`grader.worker.serve.RequestHandler` in this very process: no fork server, no worker, no wire encoding, no
forbidden-API guards, no limits. The proxy in front of it is the real one (grader.proxy), so the
tests see exactly the same objects and the same failure handling. Never use it to grade anything:
the submission runs in the process that decides pass or fail.
"""
from __future__ import annotations

import sys

import pytest

from grader.worker import remote_ops, serve
from grader.proxy import Candidate, _InFlight
from grader.pytest_plugin import *  # noqa: F401,F403  (every hook and fixture but `candidate`)
from grader.pytest_plugin import CANDIDATE_KEY


class InProcessCandidate(Candidate):
    """A Candidate whose "worker" is a RequestHandler in this process; requests never leave it."""

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        config = vars(self._config)
        if config.get("support") and remote_ops.SUPPORT_MODULE not in sys.modules:
            serve.load_module_from(config["support"], remote_ops.SUPPORT_MODULE)
        serve._seed(int(config.get("seed", 0)))  # what a fresh worker does before serving
        self._worker = serve.RequestHandler(config)
        self._generation += 1
        self._names = self._imported_names(self._exchange({"op": "import"}, "importing your module", 1.0))

    def _send(self, request: dict, label: str, factor: float):
        """Handle the request at once; `_await_reply` hands over its value (or its error)."""
        try:
            reply = {"ok": self._worker.handle(request)}
        except Exception as e:  # the same message the worker would send back
            reply = {"error": serve.describe_exception(e, self._config.submission)}
        self._in_flight, self._reply = _InFlight(label, float("inf"), "", None), reply
        return self._in_flight

    def _await_reply(self, flight: _InFlight):
        self._in_flight = None
        return self._unwrap(self._reply, flight.label)

    def _retire_worker(self) -> None:
        self._worker = None

    @property
    def output(self) -> str:
        return ""


class _NoPool:
    """Stands in for the worker pool: nothing to start, nothing to close."""

    def close(self) -> None:
        pass


@pytest.fixture
def candidate(request: pytest.FixtureRequest, grading_run, run_context):  # noqa: F811
    """The submission's module, served in this process (see the module's docstring)."""
    if run_context.pool is None:
        run_context.pool = _NoPool()  # new_candidate must not start the fork server
    remote = run_context.new_candidate(grading_run)
    proxy = InProcessCandidate(None, remote._config, remote._limits)
    request.node.stash[CANDIDATE_KEY] = [proxy]
    yield proxy
    proxy.close()
