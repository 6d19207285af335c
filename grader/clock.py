"""The one place the grader reads time, so tests can fake it.

Shared by both sides (see grader/worker/__init__.py): grader.channel's deadlines use it in the worker too.
"""
import datetime
import time


def monotonic() -> float:
    """Seconds on a clock that never goes back; use for durations and deadlines."""
    return time.monotonic()


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string, for timestamps in results."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def sleep(seconds: float) -> None:
    """Wait; tests may replace this to run without waiting."""
    time.sleep(seconds)
