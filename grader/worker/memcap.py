"""A memory cgroup per worker (cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`): a cap
that counts every kind of memory (shared mappings, tmpfs files), unlike RLIMIT_DATA.

Used by the fork server (as root): `Cgroups.create(n, cap)` before it forks worker n, the worker
joins it with `join(path)` before it confines itself, and `Cgroups.remove(path)` after the worker
is reaped says whether the kernel had to kill it for going over the cap. Where the machine offers
no writable memory controller, `Cgroups.available` is False and only RLIMIT_DATA holds.
"""
from __future__ import annotations

import os

V2_ROOT, V1_ROOT = "/sys/fs/cgroup", "/sys/fs/cgroup/memory"


class Cgroups:
    """The memory cgroups of one fork server's workers, below the fork server's own."""

    def __init__(self):
        self.base, self.version = _own_memory_cgroup()
        self.available = self.base is not None

    def create(self, name: str, cap_bytes: int) -> str | None:
        """A new cgroup capped at `cap_bytes` (no swap either), or None when it cannot be made."""
        if not self.available:
            return None
        path = os.path.join(self.base, name)
        try:
            os.mkdir(path)
            limits = {2: [("memory.max", cap_bytes), ("memory.swap.max", 0)],
                      1: [("memory.limit_in_bytes", cap_bytes), ("memory.memsw.limit_in_bytes", cap_bytes)]}
            for index, (knob, value) in enumerate(limits[self.version]):
                _write(path, knob, value, required=index == 0)
        except OSError:
            self.remove(path)
            return None
        return path

    def remove(self, path: str | None) -> bool:
        """Remove a cgroup whose processes have all ended; True when one was killed for going over the cap."""
        if not path:
            return False
        events = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(path, events)) as f:
                counts = dict(line.split() for line in f if len(line.split()) == 2)
        except OSError:
            counts = {}
        try:
            os.rmdir(path)
        except OSError:
            pass
        return int(counts.get("oom_kill", 0)) > 0


def join(path: str | None) -> None:
    """Move the calling process into the cgroup at `path`."""
    if path:
        _write(path, "cgroup.procs", 0, required=True)


def _write(path: str, knob: str, value: int, required: bool) -> None:
    try:
        with open(os.path.join(path, knob), "w") as f:
            f.write(str(value))
    except OSError:
        if required:
            raise


def _own_memory_cgroup() -> tuple[str | None, int]:
    """Where this process's memory cgroup lies and which cgroup version it is, if it is writable."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None, 0
    for _, controllers, path in lines:
        if "memory" in controllers.split(","):
            return _writable(V1_ROOT + path, 1)
    v2 = [path for hierarchy, controllers, path in lines if hierarchy == "0" and controllers == ""]
    if v2 and _has_memory(V2_ROOT + v2[0]):
        return _writable(V2_ROOT + v2[0], 2)
    return None, 0


def _has_memory(folder: str) -> bool:
    try:
        with open(os.path.join(folder, "cgroup.subtree_control")) as f:
            return "memory" in f.read().split()
    except OSError:
        return False


def _writable(folder: str, version: int) -> tuple[str | None, int]:
    return (folder, version) if os.access(folder, os.W_OK) else (None, 0)
