"""Kernel-level confinement of a worker (Linux, as root): PID, mount, IPC and network namespaces,
a read-only file system with hidden paths and scratch tmpfs, and an unprivileged user.

Runs inside the freshly forked worker, before any candidate code. Without root none of this is
possible; `available()` says so and the worker keeps only its rlimits and path scrubbing.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import re
import resource
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, IFF_RUNNING = 0x8913, 0x8914, 0x1, 0x40

NOBODY = 65534                 # uid and gid of nobody/nogroup on Debian
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # the only writable places the worker gets (fresh tmpfs)
WORKDIR = "/tmp/work"
MAX_TASKS = 256                # processes + threads of user nobody (RLIMIT_NPROC)

_libc = ctypes.CDLL(None, use_errno=True)


class ConfinementError(OSError):
    """A confinement step failed: the worker must not go on unconfined."""


def available() -> bool:
    """True when this process can confine workers (Linux, effective uid 0)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise ConfinementError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


# -- processes -------------------------------------------------------------------------------
class PidNamespaces:
    """Puts each next child of the calling process (the fork server) into a fresh PID namespace,
    as its PID 1: when that child dies, the kernel kills everything left in its namespace, so
    nothing it forked (even with setsid or a double fork) outlives it. Usage:
    `ns.before_fork(); pid = os.fork(); (parent) ns.after_fork()`."""

    def __init__(self):
        self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def before_fork(self) -> None:
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")

    def after_fork(self) -> None:
        """Back to our own namespace for children, so that the next unshare may make a new one."""
        _check(_libc.setns(self._own, CLONE_NEWPID), "setns(own PID namespace)")


# -- file system and network -----------------------------------------------------------------
def isolate(hidden: list[str], keep: list[str], scratch_bytes: int, loopback: bool) -> str:
    """Private mount, IPC and network namespaces: every mount read-only, each `hidden` path
    covered by an empty unreadable tmpfs (unless it contains a `keep` path the worker needs),
    fresh scratch tmpfs, the `keep` folders still reachable (for user nobody too), a private
    /proc, loopback up only if asked. Returns the working folder."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare(NEWNS|NEWIPC|NEWNET)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for target in _mount_points():
        _remount_read_only(target)
    for path in hidden:
        _hide(path, keep)
    keep = sorted({os.path.realpath(p) for p in keep if os.path.isdir(p)})
    for target in SCRATCH:
        if os.path.isdir(target):
            _cover(target, keep, f"size={scratch_bytes},mode=1777", read_only=False)
    for folder in sorted({a for a in map(_closed_ancestor, keep) if a}, key=len):
        _cover(folder, keep, "size=64k,mode=0755", read_only=True)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.mkdir(WORKDIR, 0o700)
    os.chown(WORKDIR, NOBODY, NOBODY)
    if loopback:
        _loopback_up()
    return WORKDIR


def _cover(folder: str, keep: list[str], options: str, read_only: bool) -> None:
    """Mount a fresh tmpfs on `folder`, then bind back (read-only, with whatever is hidden
    inside them still hidden) the `keep` folders that lie inside it: e.g. a virtual environment
    under /tmp, or Python under /root (mode 0700, closed to nobody)."""
    inside = [k for k in keep if _contains(folder, k) and k != folder]
    inside = [k for k in inside if not any(_contains(o, k) and o != k for o in inside)]  # outermost only
    handles = [os.open(k, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for k in inside]  # reachable once covered
    try:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, options)
        for path, fd in zip(inside, handles):
            os.makedirs(path, mode=0o755, exist_ok=True)
            _bind(f"/proc/self/fd/{fd}", path)
    finally:
        for fd in handles:
            os.close(fd)
    if read_only:
        _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p) for p in points]  # \040 is a space


def _remount_read_only(target: str) -> None:
    try:
        keep = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        return  # a mount we cannot even stat is not one the worker can write to
    # Pseudo file systems (proc, sysfs, ...) may refuse; the unprivileged user cannot write them.
    _libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, None)


def _hide(path: str, keep: list[str]) -> None:
    real = os.path.realpath(path)
    if not os.path.exists(real) or any(_contains(real, k) for k in keep):
        return
    if os.path.isdir(real):
        _mount("tmpfs", real, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
    else:
        _bind(os.devnull, real)


def _bind(source: str, target: str) -> None:
    """A read-only bind mount that keeps the mounts below `source` (what is hidden stays hidden);
    a fresh bind mount is writable until remounted."""
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _closed_ancestor(path: str) -> str | None:
    """The outermost folder on the way to `path` that others may not enter, if any."""
    parts = path.strip(os.sep).split(os.sep)
    for i in range(1, len(parts) + 1):
        folder = os.sep + os.path.join(*parts[:i])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _contains(folder: str, path: str) -> bool:
    path = os.path.realpath(path)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP | IFF_RUNNING))


# -- user ------------------------------------------------------------------------------------
def drop_privileges(uid: int = NOBODY, gid: int = NOBODY, max_tasks: int = MAX_TASKS) -> None:
    """Become `uid`/`gid` for good, with no way back (no setuid binaries, no capabilities)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if os.geteuid() != uid or os.getegid() != gid:
        raise ConfinementError(1, "could not drop privileges")
