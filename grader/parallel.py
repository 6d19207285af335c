"""Work spread over processes, each with its own RunContext (and fork server) kept across its items."""
from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from grader.session import RunContext, Settings


def each_in_context(work: Callable, items: list, settings: Settings, jobs: int = 1) -> Iterator:
    """`work(item, ctx)` for each item, yielded in the order given. With jobs > 1, that many
    processes work at once (work must be a module-level function, items picklable)."""
    if jobs <= 1 or len(items) <= 1:
        ctx = RunContext(settings)
        try:
            yield from (work(item, ctx) for item in items)
        finally:
            ctx.close()
        return
    submitted = Submitted(work, items, settings, jobs)
    try:
        yield from submitted
    finally:  # also when the caller stops early: what has not started never will
        submitted.close()


class Submitted:
    """`work(item, ctx)` for every item, handed at once to `jobs` processes (each with its own
    RunContext, kept across its items) that start working now; results are read in order. nice:
    the processes' (and their workers') scheduling priority, e.g. 10 to yield the CPU to other
    work running meanwhile."""

    def __init__(self, work: Callable, items: list, settings: Settings, jobs: int, nice: int = 0):
        spawn = multiprocessing.get_context("spawn")  # never fork a process that holds torch and threads
        self._pool = ProcessPoolExecutor(max(1, min(jobs, len(items))), mp_context=spawn, initializer=_start_job,
                                         initargs=(settings, nice))
        self._futures = [self._pool.submit(_in_job, work, item) for item in items]

    def __iter__(self) -> Iterator:
        return (future.result() for future in self._futures)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


_job_context: RunContext | None = None


def _start_job(settings: Settings, nice: int = 0) -> None:
    """In a worker process: its priority, and its RunContext, closed when the process ends."""
    global _job_context
    if nice:
        os.nice(nice)
    _job_context = RunContext(settings)
    atexit.register(_job_context.close)


def _in_job(work: Callable, item):
    return work(item, _job_context)
