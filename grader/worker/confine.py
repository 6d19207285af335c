"""Kernel-level confinement of a worker (Linux): PID, mount, IPC, network and user namespaces,
an allowlisted read-only file system with scratch tmpfs, and an unprivileged user.

Runs inside the freshly forked worker, before any candidate code. As root, all of it. Without
root, where the kernel allows unprivileged user namespaces, the fork server first enters a user
namespace of its own (`enter_user_namespace`), in which it is root: the same namespaces and file
system hold, but the worker stays the grader's user (without capabilities), not user nobody.
Otherwise `available()` is False and the worker keeps only its rlimits and path scrubbing.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
import sys

from grader.limits import MAX_TASKS

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, ST_RELATIME = 1024, 2048, 1 << 21, 4096
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, IFF_RUNNING = 0x8913, 0x8914, 0x1, 0x40

NOBODY = 65534                 # uid and gid of nobody/nogroup on Debian
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # the only writable places the worker gets (fresh tmpfs)
WORKDIR = "/tmp/work"

_libc = ctypes.CDLL(None, use_errno=True)


class ConfinementError(OSError):
    """A confinement step failed: the worker must not go on unconfined."""


def available() -> bool:
    """True when this process can confine workers (Linux, effective uid 0, maybe in a user namespace)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def user_namespaces_available() -> bool:
    """True when this (unprivileged) process may create a user namespace and mount in it."""
    if not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:
        ok = _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 and _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0
        os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0


_entered: list[bool] = []  # set by enter_user_namespace; forked workers inherit it


def in_user_namespace() -> bool:
    """True in the fork server (and its workers) after `enter_user_namespace`: only our own
    user exists there (root in a container's user namespace does not count: it has nobody)."""
    return bool(_entered)


def enter_user_namespace() -> None:
    """Become root of a new user namespace (mapped to our own user) and PID 1 of a new PID
    namespace, so that `PidNamespaces` and `isolate` work without root. Forks: the calling
    process stays behind only to wait for the new one and exit with its status."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID), "unshare(NEWUSER|NEWPID)")
    for name, line in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(line)
    _entered.append(True)
    pid = os.fork()
    if pid != 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        status = os.waitpid(pid, 0)[1]
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    die_with_parent(signal.SIGTERM)


def host_pid(pid: int) -> int:
    """The pid by which processes outside our PID namespace (the grader) know our child `pid`."""
    if not in_user_namespace():
        return pid
    me = os.readlink("/proc/self")  # the host's /proc: our pid as the grader sees it
    with open(f"/proc/{me}/task/{me}/children") as f:
        for child in f.read().split():
            with open(f"/proc/{child}/status") as status:
                ids = next((line.split()[1:] for line in status if line.startswith("NSpid:")), [])
            if len(ids) > 1 and int(ids[1]) == pid:
                return int(child)
    raise ConfinementError(3, f"cannot find child {pid} in /proc")


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
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys/devices/system/cpu")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
       "/etc/nsswitch.conf", "/etc/localtime", "/etc/hosts", "/etc/alternatives")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidia1",
       "/dev/nvidia2", "/dev/nvidia3", "/dev/nvidia4", "/dev/nvidia5", "/dev/nvidia6", "/dev/nvidia7", "/sys")
MNT_DETACH = 2


def isolate(allowed: list[str], hidden: list[str], scratch_bytes: int, loopback: bool, build_in: str,
            gpu: bool = False) -> str:
    """Private mount, IPC and network namespaces and a new root file system that holds only what
    is allowed: the system's libraries, the `allowed` folders (interpreter, site-packages, the
    harness), a few device nodes, a private /proc and fresh scratch tmpfs; read-only except the
    scratch. Nothing else of the machine (the project, its .git, home folders, other checkouts)
    exists in it; each `hidden` path that an allowed folder holds is covered as well. The new
    root is assembled on a tmpfs mounted on `build_in` (an empty folder). Returns the working folder."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare(NEWNS|NEWIPC|NEWNET)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", build_in, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for target in SCRATCH:  # first: an allowed folder may lie under /tmp (a virtual environment)
        os.makedirs(build_in + target, mode=0o755, exist_ok=True)
        _mount("tmpfs", build_in + target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_bytes},mode=1777")
    _bring_all([*SYSTEM, *ETC, *allowed, *(GPU if gpu else ())], build_in)
    for path in DEVICES + (GPU[:-1] if gpu else ()):
        _bring(path, build_in + path, read_only=False)
    os.makedirs(build_in + "/proc", exist_ok=True)
    _mount("proc", build_in + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _pivot_root(build_in)
    for path in hidden:
        _hide(path)
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.mkdir(WORKDIR, 0o700)
    if not in_user_namespace():
        os.chown(WORKDIR, NOBODY, NOBODY)
    if loopback:
        _loopback_up()
    return WORKDIR


def _bring_all(paths: list[str], root: str) -> None:
    """Bind each existing path read-only at the same place under `root`; a path reached through
    symbolic links is bound where it really lies, and the links are recreated as links."""
    paths = [p for p in map(os.path.abspath, paths) if os.path.exists(p)]
    reals = sorted({os.path.realpath(p) for p in paths})
    for real in [r for r in reals if not any(_contains(o, r) and o != r for o in reals)]:
        _bring(real, root + real, read_only=True)
    for path in paths:
        if os.path.islink(path) and not os.path.lexists(root + path):
            try:
                os.makedirs(os.path.dirname(root + path), mode=0o755, exist_ok=True)
                os.symlink(os.readlink(path), root + path)
            except OSError:
                continue  # its folder lies inside a read-only bound folder: reachable by its real path


def _bring(source: str, target: str, read_only: bool) -> None:
    """Bind `source` (a folder, a file or a device) at `target` of the new root."""
    if not os.path.exists(source):
        return
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        open(target, "a").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_RDONLY | MS_NOSUID | MS_NODEV if read_only else MS_NOSUID | MS_NOEXEC
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags | _locked_flags(source))


def _locked_flags(path: str) -> int:
    """The mount flags of `path` that a remount in a user namespace must keep (or it is refused)."""
    f_flag = os.statvfs(path).f_flag
    kept = f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    return kept | (MS_RELATIME if f_flag & ST_RELATIME else 0)


def _pivot_root(new_root: str) -> None:
    """Make `new_root` the root of this mount namespace and drop the old one entirely."""
    os.chdir(new_root)
    _check(_syscall("pivot_root", b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")


def _hide(path: str) -> None:
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
    else:
        _bind(os.devnull, path)


def _bind(source: str, target: str) -> None:
    """A read-only bind mount that keeps the mounts below `source` (what is hidden stays hidden);
    a fresh bind mount is writable until remounted."""
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP | IFF_RUNNING))


# -- user ------------------------------------------------------------------------------------
CLONE_NEWUSER = 0x10000000
KEYCTL_JOIN_SESSION_KEYRING = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYSCALLS = {"x86_64": {"pivot_root": 155, "keyctl": 250, "capset": 126},
             "aarch64": {"pivot_root": 41, "keyctl": 219, "capset": 91}}


PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int) -> None:
    """Have the kernel send `signum` to this process when its parent dies (cleared by any change
    of credentials: call it after the last one)."""
    _libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def _syscall(name: str, *args) -> int:
    return _libc.syscall(_SYSCALLS[os.uname().machine][name], *args)


def drop_privileges(uid: int = NOBODY, gid: int = NOBODY, max_tasks: int = MAX_TASKS) -> None:
    """Become `uid`/`gid` for good, with no way back (no setuid binaries, no capabilities), in a
    user namespace and with a session keyring of its own: the kernel keys it adds (to its
    user, user-session, persistent or session keyring) are seen by no other worker and are
    gone with it."""
    resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
    if in_user_namespace():  # only our own user exists here: stay it, without capabilities
        own_keys()
        return
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() != uid or os.getegid() != gid:
        raise ConfinementError(1, "could not drop privileges")
    own_keys()


def own_keys() -> None:
    """A user namespace (the kernel keeps user and persistent keyrings per user namespace) and
    an anonymous session keyring of this process's own, then no capabilities and no way to gain any."""
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    if _syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        _check(-1, "keyctl(JOIN_SESSION_KEYRING)")
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    _check(_syscall("capset", header, bytes(24)), "capset(none)")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
