"""Work spread over processes, each with its own RunContext (and fork server) kept across its items."""
from __future__ import annotations

import atexit
import multiprocessing
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
    spawn = multiprocessing.get_context("spawn")  # never fork a process that holds torch and threads
    pool = ProcessPoolExecutor(min(jobs, len(items)), mp_context=spawn, initializer=_start_job, initargs=(settings,))
    try:
        futures = [pool.submit(_in_job, work, item) for item in items]
        yield from (future.result() for future in futures)
    finally:  # also when the caller stops early: what has not started never will
        pool.shutdown(cancel_futures=True)


_job_context: RunContext | None = None


def _start_job(settings: Settings) -> None:
    """In a worker process: its RunContext, closed when the process ends."""
    global _job_context
    _job_context = RunContext(settings)
    atexit.register(_job_context.close)


def _in_job(work: Callable, item):
    return work(item, _job_context)
