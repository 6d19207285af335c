"""Fork server: preloads torch once, then forks confined worker processes on request.

Runs as its own process (`python -m grader.worker.zygote`), started by `grader.supervisor`. It never
imports candidate code itself; each forked child confines itself and then serves one session
(`grader.worker.serve.serve`). Protocol on the inherited SOCK_SEQPACKET socket:
  request  {"spawn": {...worker config...}} + two fds (control socket end, output pipe end)
  reply    {"spawned": pid} | {"spawn_failed": message}
  event    {"exited": pid, "status": waitpid status, "oom": killed for going over its memory cgroup's cap}
  request  {"channel": true} + one fd: another socket to serve the same way (a lane of the grader,
           grader.lanes): it gets {"ready": pid}, its own replies and the exits of the workers it
           spawned; its EOF kills those workers. Only the first socket may open channels.
EOF on the socket, SIGTERM, or the grader's death (PDEATHSIG, as SIGTERM) means the grader is gone:
every live worker group is killed, their memory cgroups and the run's folder are removed. Each
worker in turn dies with the fork server (its own PDEATHSIG).
"""
from __future__ import annotations

import functools
import importlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import sys
import threading

from grader.worker import confine, memcap, tripwires
from grader.limits import MAX_CONTROL_MESSAGE

_spawned = itertools.count()
# The warm-up waits for the third worker: a run's first worker, and its second lane's
# (grader.lanes), are forked at once and serve all of its tests; warming up then would only take
# CPU from them (~1.5 s of it). Forks after those (validate's runs, a batch's submissions, the
# exercises of a folder) are where warm workers pay.
WARM_UP_AFTER = 3
_forks = 0
_owners: dict[int, socket.socket] = {}  # worker pid -> the lane's socket that spawned it (absent: the first socket)
_unspawned: set[socket.socket] = set()  # lanes' sockets that have not spawned a worker yet


def main(argv: list[str]) -> None:
    """Entry point: `python -m grader.worker.zygote FD [--user-namespace] [MODULE ...]` (FD: the socket,
    MODULEs to preload; --user-namespace: confine workers without root, see grader.worker.confine)."""
    sock = socket.socket(fileno=int(argv[0]))
    signal.signal(signal.SIGTERM, _stop)
    confine.die_with_parent(signal.SIGTERM)
    if argv[1:2] == ["--user-namespace"]:
        argv = argv[1:]
        confine.enter_user_namespace()
    children: dict[int, tuple[int, str | None]] = {}  # pid -> the grader's pid for it, its memory cgroup
    try:
        for name in argv[1:]:
            importlib.import_module(name)
        import grader.worker.remote_ops  # noqa: F401  (preloaded so that children start in milliseconds)
        import grader.worker.serve  # noqa: F401
        tripwires.prepare()  # where every object is bound, inherited by each worker (its guards install in ~1 ms)
        if not _stopping:
            sock.send(json.dumps({"ready": os.getpid()}).encode())
            _serve(sock, children)
    except OSError:
        pass  # the grader is gone
    finally:
        _end_all(children, run_folder=os.getcwd())
        os._exit(0)


_stopping: list[int] = []  # the signals asking us to stop (the wakeup fd ends the wait at once)


def _stop(signum, _frame) -> None:
    _stopping.append(signum)


def _warm_up() -> None:
    """Run a tiny forward, backward and optimizer step once, so that the ~900 modules torch
    imports lazily on first use (torch._dynamo, on building an optimizer: about 1.2 s) are loaded
    before forking, not in every worker; then index their bindings too. Done after the first
    spawns (`_WarmUp`, `WARM_UP_AFTER`): a run's first workers need not wait for modules most
    exercises never use; they load them themselves if they do. Tensors this small run on the
    calling thread only, so no thread pool exists at fork."""
    import torch

    model = torch.nn.Linear(4, 3)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 4)), torch.tensor([0, 2]))
    loss.backward()
    torch.optim.Adam(model.parameters()).step()
    tripwires.prepare()


def _serve(sock: socket.socket, children: dict[int, tuple[int, str | None]]) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    channels: list[socket.socket] = []  # the lanes' sockets (see the module's docstring)
    while not _stopping:
        if _forks >= WARM_UP_AFTER and not _unspawned:  # nor is a new lane's first worker held up by it
            _warming.start_once()
        readable, _, _ = select.select([sock, *channels, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap(sock, children)
        for channel in [c for c in channels if c in readable and not _stopping]:
            try:
                served = _handle_request(channel, children, (wake_r, wake_w, sock.fileno(), *_fds(channels)))
            except OSError:  # the lane went away while we answered it; the fork server goes on
                served = False
            if not served:
                _close_channel(channel, channels)
        if sock in readable and not _stopping and not _handle_request(sock, children, (wake_r, wake_w, *_fds(channels)),
                                                                      channels):
            break


def _fds(channels: list[socket.socket]) -> list[int]:
    return [c.fileno() for c in channels]


def _close_channel(channel: socket.socket, channels: list[socket.socket]) -> None:
    """A lane ended (or died): kill the workers it spawned (reaped and reported as usual, to no one)."""
    channels.remove(channel)
    _unspawned.discard(channel)
    for pid, owner in list(_owners.items()):
        if owner is channel:
            _kill_group(pid)
    channel.close()


class _WarmUp:
    """`_warm_up` on a thread of its own, started after `WARM_UP_AFTER` forks: while it loads, this
    process still answers the grader (an EOF or SIGTERM ends it, workers and cgroups removed, at
    once, not seconds later). Nothing forks while it runs (`wait`): a fork copies one thread only."""

    def __init__(self):
        self._thread: threading.Thread | None = None

    def start_once(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="warm-up", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    @staticmethod
    def _run() -> None:
        try:
            _warm_up()
        except Exception:  # best effort: a worker that needs these modules loads them itself
            pass


_warming = _WarmUp()


def _end_all(children: dict[int, tuple[int, str | None]], run_folder: str) -> None:
    """Kill every worker group, wait for each, remove their cgroups and the run's folder."""
    for pid in children:
        _kill_group(pid)
    for pid, (_, cgroup) in children.items():
        _wait(pid)
        _cgroups().remove(cgroup)
    if os.path.basename(run_folder).startswith("grader-run-"):
        shutil.rmtree(run_folder, ignore_errors=True)


def _wait(pid: int) -> int | None:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _handle_request(sock: socket.socket, children: dict[int, tuple[int, str | None]], own_fds: tuple[int, ...],
                    channels: list[socket.socket] | None = None) -> bool:
    """Fork one worker for a spawn request, or (`channels` given: from the first socket) adopt a
    lane's socket; False when the other end has gone away."""
    try:
        msg, fds, _, _ = socket.recv_fds(sock, MAX_CONTROL_MESSAGE, 4)
    except ConnectionError:
        return False
    if not msg:
        return False
    request = json.loads(msg)
    if "channel" in request and channels is not None and len(fds) == 1:
        channel = socket.socket(fileno=fds[0])
        try:
            channel.send(json.dumps({"ready": os.getpid()}).encode())
        except OSError:  # its other end is gone already
            channel.close()
            return True
        channels.append(channel)
        _unspawned.add(channel)
        return True
    if "spawn" not in request:
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"spawn_failed": "not a request this socket may make"}).encode())
        return True
    config = request["spawn"]
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"spawn_failed": "expected 2 file descriptors"}).encode())
        return True
    sys.stdout.flush()
    sys.stderr.flush()
    isolate = config.get("isolate") and confine.available()
    _warming.wait()
    config["cgroup"] = _cgroups().create(f"grader-{os.getpid()}-{next(_spawned)}",
                                         int(config.get("memory_bytes") or 0)) if config.get("memory_bytes") else None
    try:
        if isolate:
            _pid_namespaces().before_fork()  # the worker will be PID 1 of a namespace of its own
        pid = os.fork()
    except OSError as e:
        for fd in fds:
            os.close(fd)
        _cgroups().remove(config["cgroup"])
        sock.send(json.dumps({"spawn_failed": str(e)}).encode())
        return True
    if pid == 0:
        _child(config, fds, closing=sorted({sock.fileno(), *own_fds}))
    global _forks
    _forks += 1
    if isolate:
        _pid_namespaces().after_fork()
    for fd in fds:
        os.close(fd)
    children[pid] = (confine.host_pid(pid), config["cgroup"])
    if channels is None:  # spawned for a lane: its exit is reported to that lane
        _owners[pid] = sock
        _unspawned.discard(sock)
    sock.send(json.dumps({"spawned": children[pid][0]}).encode())
    return True


@functools.cache
def _cgroups() -> memcap.Cgroups:
    return memcap.Cgroups()


@functools.cache
def _pid_namespaces() -> confine.PidNamespaces:
    return confine.PidNamespaces()


def _child(config: dict, fds: list[int], closing: list[int]) -> None:
    """In the forked child: drop the zygote's state, confine, serve; never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in closing:
            os.close(fd)
        from grader.worker import serve
        serve.start(config, ctl_fd=fds[0], out_fd=fds[1])
    finally:
        os._exit(70)


def _reap(sock: socket.socket, children: dict[int, tuple[int, str | None]]) -> None:
    """Report every exited worker; its group is killed before the reap, while its pid is still taken."""
    while children:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        _kill_group(info.si_pid)  # whatever it forked dies with it
        status = _wait(info.si_pid)
        known_as, cgroup = children.pop(info.si_pid, (info.si_pid, None))
        oom = _cgroups().remove(cgroup)
        owner = _owners.pop(info.si_pid, sock)
        try:
            owner.send(json.dumps({"exited": known_as, "status": status, "oom": oom}).encode())
        except OSError:
            if owner is sock:
                return


def _kill_group(pid: int) -> None:
    """Kill worker `pid`'s group, and the worker itself: a worker forked a moment ago may not have
    made its group yet (`os.setsid` in `_child`), and a group that does not exist kills nothing.
    Only unreaped children are named here, so `pid` cannot be another process's."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
