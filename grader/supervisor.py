"""The trusted side of the sandbox: start the fork server (grader.worker.zygote), spawn, talk to and
kill confined workers, capture their output. Nothing of the worker side is imported here."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import weakref
from dataclasses import asdict, dataclass, field

from grader import clock, limits
from grader.limits import DEFAULTS, MiB


@dataclass
class WorkerConfig:
    """Everything a worker needs to set itself up (sent to the fork server as JSON)."""

    submission: str  # its path, for messages and tracebacks (the worker reads the grader's copy)
    workdir: str
    source: bytes | None = None  # the submission's bytes, read once by the grader (None: unreadable)
    hidden_paths: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    forbidden_ops: list[str] = field(default_factory=list)  # traced requests report the operators they ran
    seed: int = 0
    device: str = "cpu"
    threads: int = limits.THREADS
    memory_bytes: int = DEFAULTS.memory_mb * MiB
    file_bytes: int = DEFAULTS.file_mb * MiB
    preload: list[str] = field(default_factory=list)
    support: str = ""  # the exercise's support.py (trusted helpers run in the worker), if any
    isolate: bool = False  # namespaces, read-only file system, hidden paths, user nobody (needs root)
    loopback: bool = False  # with isolate: bring up the loopback interface of its network namespace


# What the fork server's environment holds (it starts from an empty one): nothing of the grader's
# other variables (tokens, keys) exists in any worker's process image.
PASSED_VARIABLES = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "LD_LIBRARY_PATH")


def worker_environment() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSED_VARIABLES if k in os.environ}


def _hand_over_source(config: WorkerConfig) -> dict:
    """The config as the fork server gets it: the submission's bytes as a file in the worker's
    own folder (written here, by the grader), not the path of the original. Bytes, not text: the
    worker decodes them as Python would (coding declaration, BOM)."""
    fields = asdict(config)
    source = fields.pop("source")
    if source is not None and config.workdir:
        fields["source_file"] = os.path.join(config.workdir, "submission.py")
        with open(fields["source_file"], "wb") as f:
            f.write(source)
    return fields


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the candidate): the grader cannot run."""


class OutputCapture:
    """Drains a worker's stdout/stderr pipe on a thread, keeping the first `limit` bytes (of each
    test, when the worker is kept for the next: see `take_until`)."""

    def __init__(self, fd: int, limit: int):
        self.limit, self.kept, self.dropped = limit, bytearray(), 0
        self._arrived = threading.Condition()
        self._file = os.fdopen(fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while chunk := self._file.read(1 << 16):
            with self._arrived:
                room = self.limit - len(self.kept)
                self.kept += chunk[:max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)
                self._arrived.notify_all()
        self._file.close()
        with self._arrived:
            self._arrived.notify_all()

    def forget(self) -> None:
        """In a fork of this process (whose copy has no drain thread): close the pipe here only."""
        self._file.close()

    def text(self, wait: float = 0.5) -> str:
        """What the worker printed so far, with a note when output was cut."""
        self._thread.join(wait)
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[output truncated: {self.dropped} more bytes were dropped]"
        return text

    def take_until(self, marker: bytes, wait: float) -> str | None:
        """What was printed before `marker` (which the worker writes after its last reply), removed
        from what is kept, so that the next test starts with an empty capture and a whole cap.
        None when the marker did not arrive within `wait` seconds or output was cut."""
        deadline = clock.monotonic() + wait
        with self._arrived:
            while (at := self.kept.find(marker)) < 0:
                remaining = deadline - clock.monotonic()
                if remaining <= 0 or self.dropped or not self._thread.is_alive():
                    return None
                self._arrived.wait(remaining)
            if self.dropped:
                return None
            taken = bytes(self.kept[:at])
            del self.kept[:at + len(marker)]
        return taken.decode("utf-8", errors="replace")


class Worker:
    """One confined worker process: its control socket and its captured output."""

    def __init__(self, pool: "WorkerPool", pid: int, sock: socket.socket, output: OutputCapture):
        self.pool, self.pid, self.sock, self.output = pool, pid, sock, output
        self.killed = False

    def kill(self) -> None:
        """Kill the worker's whole process group (idempotent)."""
        if not self.killed:
            self.killed = True
            for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
                try:
                    target()
                    break
                except (ProcessLookupError, PermissionError):
                    continue
        self.sock.close()

    def exit_description(self, wait: float = 2.0) -> str:
        """How the worker ended, e.g. 'killed by signal SIGSEGV' (waits for the fork server's news)."""
        status = self.pool.exit_status(self.pid, wait)
        if self.pid in self.pool.over_memory:
            return f"{describe_status(status)}: it used more memory than its cap (all kinds counted)"
        return describe_status(status)

    def alone(self) -> bool:
        """Whether the worker runs one thread and no child process (read from /proc; False where
        it cannot be read): nothing of one test can go on running during the next."""
        try:
            threads = os.listdir(f"/proc/{self.pid}/task")
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return False
        return threads == [str(self.pid)] and not children


class Parked:
    """At most one healthy worker kept between the tests of one run (one submission on one seed):
    the next test resets it (`grader.proxy.Candidate`) instead of forking a fresh one, which
    costs ~40 ms. The run kills it when it ends (`close`)."""

    def __init__(self):
        self._worker: Worker | None = None

    def put(self, worker: Worker) -> None:
        self.close()
        self._worker = worker

    def take(self) -> Worker | None:
        worker, self._worker = self._worker, None
        return worker

    def close(self) -> None:
        worker = self.take()
        if worker is not None:
            worker.kill()

    def forget(self) -> None:
        """In a fork of the process that kept the worker: drop it here, alive (it is the other's)."""
        worker = self.take()
        if worker is not None:
            worker.sock.close()
            worker.output.forget()


def describe_status(status: int | None) -> str:
    if status is None:
        return "ended (exit status unknown)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"was killed by {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


class WorkerPool:
    """Owns the fork server: one per grading run; `spawn` gives a fresh worker in milliseconds."""

    def __init__(self, output_bytes: int = DEFAULTS.output_bytes, preload: tuple[str, ...] = ("torch",),
                 user_namespace: bool = False, tmp: str | None = None):
        self.output_bytes, self.preload = output_bytes, preload
        self.user_namespace = user_namespace  # confine workers without root (see grader.worker.confine)
        self.tmp = tmp or tempfile.mkdtemp(prefix="grader-run-")  # the run's folder (given: another pool's)
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._events = threading.Condition()
        self._replies: list[dict] = []
        self._exits: dict[int, int] = {}
        self.over_memory: set[int] = set()  # workers the kernel killed for going over their memory cgroup's cap
        self._alive = False
        self._closed = False
        self._attached = False  # spawns through a channel of another pool's fork server (`attached`)
        _pools.add(self)
        _end_on_signals()

    @classmethod
    def attached(cls, channel: socket.socket, tmp: str, output_bytes: int) -> "WorkerPool":
        """A pool that spawns through `channel`, a socket another pool's fork server adopted
        (`open_channel`), for a lane of the grader (grader.lanes): the fork server and the run's
        folder stay the other pool's; closing this one ends only the channel (and its workers)."""
        pool = cls(output_bytes=output_bytes, tmp=tmp)
        pool._sock, pool._alive, pool._attached = channel, True, True
        threading.Thread(target=pool._listen, args=(channel,), daemon=True).start()
        return pool

    def open_channel(self) -> socket.socket:
        """A socket of its own to this pool's fork server, for `attached` in a fork of this process."""
        with self._lock:
            self.start()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                socket.send_fds(self._sock, [json.dumps({"channel": True}).encode()], [theirs.fileno()])
            except OSError as e:
                ours.close()
                raise SandboxError(f"the worker fork server is gone: {e}") from None
            finally:
                theirs.close()
            return ours

    def forget(self) -> None:
        """In a fork of the process that owns this pool: drop it without touching what the owner
        still uses (the socket is closed here only; no shutdown, nothing killed or removed)."""
        _pools.discard(self)
        self._closed = True
        if self._sock is not None:
            self._sock.close()
        self._sock, self._proc = None, None

    def start(self) -> None:
        """Start the fork server in the background (it preloads torch); idempotent."""
        if self._proc is not None and self._alive:
            return
        if self._attached:
            if not self._alive:
                raise SandboxError("the worker fork server closed this lane's channel")
            return
        if self._closed:
            raise SandboxError("the grader is stopping: no more workers")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "grader.worker.zygote", str(theirs.fileno()),
             *(["--user-namespace"] if self.user_namespace else []), *self.preload],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            cwd=self.tmp, start_new_session=True, env=worker_environment(),
        )
        theirs.close()
        self._sock, self._alive, self._replies = ours, True, []
        threading.Thread(target=self._listen, args=(ours,), daemon=True).start()

    def _listen(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            with self._events:
                if not data:
                    self._alive = False
                    self._events.notify_all()
                    return
                event = json.loads(data)
                if "exited" in event:
                    self._exits[event["exited"]] = event["status"]
                    if event.get("oom"):
                        self.over_memory.add(event["exited"])
                else:
                    self._replies.append(event)
                self._events.notify_all()

    def _await(self, predicate, timeout: float):
        deadline = clock.monotonic() + timeout
        with self._events:
            while not predicate():
                remaining = deadline - clock.monotonic()
                if remaining <= 0 or not self._alive:
                    return predicate()
                self._events.wait(min(remaining, 0.5))
            return predicate()

    def spawn(self, config: WorkerConfig) -> Worker:
        """A new confined worker running `grader.worker.serve.start` with `config`."""
        with self._lock:
            self.start()
            if not self._await(lambda: any("ready" in r for r in self._replies), limits.FORK_SERVER_START_S):
                raise SandboxError("the worker fork server did not start (could not import torch?)")
            ctl_ours, ctl_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            out_r, out_w = os.pipe()
            message = {"spawn": _hand_over_source(config)}
            try:
                socket.send_fds(self._sock, [json.dumps(message).encode()], [ctl_theirs.fileno(), out_w])
            except OSError as e:
                raise SandboxError(f"the worker fork server is gone: {e}") from None
            finally:
                ctl_theirs.close()
                os.close(out_w)
            reply = self._next_reply(timeout=limits.SPAWN_REPLY_S)
            if "spawned" not in reply:
                ctl_ours.close()
                os.close(out_r)
                raise SandboxError(f"could not start a worker: {reply.get('spawn_failed', reply)}")
            return Worker(self, reply["spawned"], ctl_ours, OutputCapture(out_r, self.output_bytes))

    def _next_reply(self, timeout: float) -> dict:
        def has_reply():
            return any("ready" not in r for r in self._replies)
        if not self._await(has_reply, timeout):
            raise SandboxError("the worker fork server stopped answering")
        with self._events:
            reply = next(r for r in self._replies if "ready" not in r)
            self._replies.remove(reply)
            return reply

    def exit_status(self, pid: int, wait: float) -> int | None:
        """The waitpid status of worker `pid`, waiting up to `wait` seconds for it to be reaped."""
        self._await(lambda: pid in self._exits, wait)
        with self._events:
            return self._exits.get(pid)

    def new_workdir(self) -> str:
        """A fresh, empty working directory for one worker inside the run's temporary folder."""
        return tempfile.mkdtemp(prefix="w", dir=self.tmp)

    def close(self) -> None:
        """Stop the fork server (which kills any worker still alive) and remove the run's files."""
        self._closed = True
        if self._sock is not None:
            try:  # shutdown, not just close: it sends EOF even while the listener is in recv()
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._attached:
            return  # the fork server and the run's folder are the owning pool's
        if self._proc is not None:
            with self._events:
                ready = any("ready" in r for r in self._replies)
            if not ready:  # still importing torch, so no worker exists: do not wait for it (nor its traceback)
                self._proc.kill()
            try:
                self._proc.wait(timeout=limits.FORK_SERVER_EXIT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


_pools: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()


def _end_on_signals() -> None:
    """On SIGTERM or SIGINT the grader first closes its pools (every worker ends, every run
    folder is removed), then dies of that signal (no half-graded report: a KeyboardInterrupt
    inside pytest would end the run as if its tests were all there was). A handler someone else
    installed is called instead. Installed once, from the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if previous is not signal.SIG_IGN and not getattr(previous, "closes_pools", False):
            signal.signal(signum, _closing_pools_then(previous))


def _closing_pools_then(previous):
    def handler(signum, frame):
        for pool in list(_pools):
            pool.close()
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    handler.closes_pools = True
    return handler
