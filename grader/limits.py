"""Every limit's default, in one place (shared by both sides): what a worker may use, how big a
message, a frame or a submission may be, and the ranges an operator may set.

Shared by both sides (see grader/worker/__init__.py). Pure data, no imports of the grader: the
trusted side, the fork server and the worker read it alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one worker may use. timeout: seconds per call; test_budget, submission_budget: seconds
    all calls of one test, of all the tests of one submission may take together (so that a
    candidate staying just under the per-call limit still ends); memory_mb: its memory cap
    (RLIMIT_DATA and its memory cgroup); output_bytes: what is kept of its stdout/stderr;
    file_mb: the largest file it may write (RLIMIT_FSIZE), also the size of each of its scratch
    tmpfs; message_mb: the largest message either side reads from the other."""

    timeout: float = 10.0
    test_budget: float = 180.0
    submission_budget: float = 1800.0
    memory_mb: int = 4096
    output_bytes: int = 64 * 1024
    file_mb: int = 64
    message_mb: int = 1024

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULTS = Limits()

# A training call (`candidate.lib.fit`) may take this many times the per-call limit.
TRAIN_TIMEOUT_FACTOR = 6

# What the operator may ask for (`grade --timeout/--memory`, pytest's --grade-timeout/--grade-memory).
TIMEOUT_MIN, TIMEOUT_MAX = 0.5, 3600.0  # seconds per call; below 0.5 s a correct solution may time out
MEMORY_MIN_MB, MEMORY_MAX_MB = 1024, 1 << 20  # a worker holds torch: below 1 GiB correct solutions fail

# A submission is source code: the grader reads at most this much of it (and hands over a copy);
# a larger file is refused as "not a Python source file" on both sides.
MAX_SOURCE_BYTES = 4 * MiB

# torch threads in a worker (exercise tensors are tiny: more threads only add overhead).
THREADS = 1

# A candidate handed in as an archive (grader.archives): its members, and their bytes unpacked, all together.
MAX_ARCHIVE_MEMBERS = 500
MAX_ARCHIVE_BYTES = 32 * MiB

# Processes + threads a confined worker's user may run (RLIMIT_NPROC): fork bombs and thread floods stop here.
MAX_TASKS = 256

# One wire frame (grader.wire): its JSON header, the containers in it (counted before it is decoded),
# one dimension of a tensor, nesting depth.
MAX_HEADER = 4 * MiB
MAX_CONTAINERS = 100_000
MAX_DIM = 1 << 48
MAX_DEPTH = 64

# The fork server's control messages (a spawn request: a worker's config, without the source).
MAX_CONTROL_MESSAGE = 1 * MiB

# Seconds the grader waits for the fork server: to import torch and say it is ready, to answer a spawn
# request, to exit once told to stop.
FORK_SERVER_START_S = 120.0
SPAWN_REPLY_S = 30.0
FORK_SERVER_EXIT_S = 5.0
# Seconds a kept worker has to mark the end of a test's output, and to reset itself for the next
# test (a healthy one takes milliseconds; one that does not answer in time is killed, not waited for).
HANDOVER_S = 2.0
