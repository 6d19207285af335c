"""Lanes: one run's tests shared by this process and a fork of it, which take them from one queue.

The grader's own side of a test (hypotheses drawn, references and oracles computed, verdicts) is
most of a run's time, and one process keeps one core busy. After the run's first test (which shows
whether the submission can run at all), the grader forks: each lane takes the next test from a
shared queue, the longest kinds first, with workers of its own from the same fork server (a channel
of its own: `WorkerPool.open_channel`). The fork sends its results back by value (JSON) and exits;
this process merges them in collection order, then runs the constraints test over both lanes'
traces. A test's verdict does not depend on its lane: each test seeds its own draws and inputs.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import struct
import termios
import traceback

import pytest

from grader import harness_tests
from grader.pytest_plugin import cost_rank
from grader.results import TestResult
from grader.session import ExerciseRun, RunContext
from grader.supervisor import WorkerPool, describe_status

MIN_TESTS = 4  # fewer tests than this: one lane (a fork costs ~50 ms)
NOTHING = {"results": [], "stop_reason": None, "violations": []}  # what a lane that ran no test sends
_INDEX = struct.Struct("<I")


def wanted(ctx: RunContext) -> bool:
    """Whether a full run (not a verdict: `-x` runs stay in one lane) may use two lanes: asked for
    (`Settings.lanes`), two CPUs this process may use, and tensors on the CPU (a fork cannot use
    the CUDA its parent started)."""
    return ctx.settings.lanes > 1 and len(os.sched_getaffinity(0)) > 1 and ctx.device.type == "cpu"


class Claims:
    """The queue: test indices in a pipe, read 4 bytes at a time by both lanes (a pipe read is
    atomic: each index goes to one lane, whole)."""

    def __init__(self, order: list[int]):
        read, write = os.pipe()
        os.write(write, b"".join(_INDEX.pack(i) for i in order))  # 64 KiB of pipe: 16,384 tests
        os.close(write)
        self._read, self.total = read, len(order)

    def take(self) -> int | None:
        data = os.read(self._read, _INDEX.size)
        return _INDEX.unpack(data)[0] if len(data) == _INDEX.size else None

    def taken(self) -> int:
        """How many tests the lanes have taken so far."""
        left = struct.unpack("i", fcntl.ioctl(self._read, termios.FIONREAD, b"\0" * 4))[0]
        return self.total - left // _INDEX.size

    def drain(self) -> None:
        """No lane takes another test."""
        while os.read(self._read, 1 << 12):
            pass

    def close(self) -> None:
        os.close(self._read)


class Lanes:
    """pytest plugin of one run (see the module's docstring); `collector` is the run's ResultCollector."""

    def __init__(self, collector, ctx: RunContext, run: ExerciseRun):
        self.collector, self.ctx, self.run = collector, ctx, run

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session):
        last = [i for i in session.items if isinstance(i, harness_tests.ConstraintsItem)]
        work = [i for i in session.items if not isinstance(i, harness_tests.ConstraintsItem)]
        if session.config.option.collectonly or session.testsfailed or len(work) < MIN_TESTS:
            return None  # pytest's own loop (which stops a run whose collection failed)
        self._share(session, work, last[0] if last else None)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        for n, item in enumerate(last):
            item.ihook.pytest_runtest_protocol(item=item, nextitem=last[n + 1] if n + 1 < len(last) else None)
        return True

    def _share(self, session: pytest.Session, work: list[pytest.Item], last: pytest.Item | None) -> None:
        """Run `work` in two lanes, this process and a fork; their results end up in the collector.
        The fork starts first (its channel then delays the fork server's warm-up, which would hold
        up the fork's first worker by seconds) but waits for the first test: only if that one finds
        the submission runnable do both lanes take the rest, the longest kinds first."""
        tests = work[1:]
        claims = Claims(sorted(range(len(tests)), key=lambda i: -cost_rank(tests[i])))  # stable: file order within a kind
        fork = self._start_fork(session, tests, claims)  # None: this lane takes every test
        own_count = self.collector.position
        try:
            work[0].ihook.pytest_runtest_protocol(item=work[0], nextitem=work[1])
            # the tests begun in both lanes: work[0], and those taken but the one each lane looks ahead to
            self.collector.position = claims.taken
            runnable = not session.shouldstop
            if fork is not None:
                fork.release(runnable)
            if runnable:
                _lane(session, tests, claims, last)
            self._merge(session, fork.results() if fork is not None else NOTHING)  # and sort: claims went longest first
        finally:
            self.collector.position = own_count  # counts the results, both lanes' now
            claims.close()
            if fork is not None:
                fork.end()

    def _start_fork(self, session, tests, claims: Claims) -> "_Fork | None":
        """The second lane, forked now and waiting for the word; None where it cannot start."""
        channel = self.ctx.worker_pool().open_channel()
        (go_read, go_write), (results_read, results_write) = os.pipe(), os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:  # no memory or no process left for a fork: one lane
            for fd in (go_read, go_write, results_read, results_write):
                os.close(fd)
            channel.close()
            return None
        if pid == 0:
            os.close(go_write)
            os.close(results_read)
            self._fork_lane(session, tests, claims, channel, (go_read, results_write), parent)
        os.close(go_read)
        os.close(results_write)
        channel.close()
        return _Fork(pid, go_write, results_read)

    def _fork_lane(self, session, tests, claims: Claims, channel, fds: tuple[int, int], parent: int) -> None:
        """In the fork: wait for the word, run the lane, write its results, exit (never returns)."""
        go_read, results_write = fds
        try:
            from grader.worker.confine import die_with_parent

            die_with_parent(signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(0)
            pool = self.ctx.pool
            pool.forget()  # the parent's: its socket and listener stay the parent's
            self.run.parked.forget()
            self.ctx.pool = WorkerPool.attached(channel, pool.tmp, pool.output_bytes)
            self.collector.results, self.collector.progress = [], None
            if os.read(go_read, 2) == b"go":
                _lane(session, tests, claims, None)
            self.run.parked.close()
            payload = {"results": [dataclasses.asdict(r) for r in self.collector.results],
                       "stop_reason": self.collector.stop_reason, "violations": self.run.trace_log.violations}
        except BaseException:
            payload = {"error": traceback.format_exc()[-4000:]}
        try:
            with open(results_write, "w", encoding="utf-8") as f:
                json.dump(payload, f)
            self.ctx.close()
        finally:
            os._exit(0)

    def _merge(self, session: pytest.Session, payload: dict) -> None:
        order = {item.nodeid: n for n, item in enumerate(session.items)}
        collector = self.collector
        collector.results += [TestResult(**r) for r in payload["results"]]
        collector.results.sort(key=lambda r: order.get(r.nodeid, len(order)))
        self.run.trace_log.violations += payload["violations"]
        if payload["stop_reason"] and collector.stop_reason is None:
            collector.stop_reason = session.shouldstop = payload["stop_reason"]


def _lane(session: pytest.Session, tests: list[pytest.Item], claims: Claims, last: pytest.Item | None) -> None:
    """Take tests until none is left; each is told the next it will run, for pytest's fixture
    teardown (`last` after the final one: None tears everything down)."""
    taken = claims.take()
    while taken is not None:
        following = claims.take()
        item = tests[taken]
        item.ihook.pytest_runtest_protocol(item=item, nextitem=tests[following] if following is not None else last)
        if session.shouldstop:  # this lane found that the submission cannot run: the other takes no more
            claims.drain()
            return
        taken = following


class _Fork:
    """The parent's handle on the second lane: the word to start, its results, its end."""

    def __init__(self, pid: int, go_write: int, results_read: int):
        self.pid, self._go, self._results, self._reaped = pid, go_write, results_read, False

    def release(self, go: bool) -> None:
        """Start taking tests (`go`), or end with no results."""
        if go:
            os.write(self._go, b"go")
        os.close(self._go)
        self._go = -1

    def results(self) -> dict:
        """The fork's payload, once it has exited; a fork that failed is the grader's failure."""
        with open(self._results, encoding="utf-8", closefd=False) as f:
            text = f.read()
        status = os.waitpid(self.pid, 0)[1]
        self._reaped = True
        try:
            payload = json.loads(text)
        except ValueError:
            raise RuntimeError(f"the grader's second lane {describe_status(status)} without its results") from None
        if "error" in payload:
            raise RuntimeError(f"the grader's second lane failed:\n{payload['error']}")
        return payload

    def end(self) -> None:
        """Close what is left; a fork still running (this lane raised) is killed, not left to finish."""
        for fd in (self._go, self._results):
            if fd >= 0:
                os.close(fd)
        if not self._reaped:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
