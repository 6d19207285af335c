"""A forked worker (worker side): it confines itself, imports the candidate, serves calls.

Nothing here decides pass or fail. The worker answers requests from the trusted grader
(`grader.proxy`) with values encoded by `grader.wire`; anything that is not plain data comes
back as a handle (`wire.Ref`) to an object kept in the worker's table.
"""
from __future__ import annotations

import importlib
import importlib.util
import linecache
import os
import random
import resource
import shutil
import signal
import socket
import sys
import traceback
import types

import torch

from grader import channel, source as sources, wire
from grader.limits import DEFAULTS, MiB, THREADS
from grader.worker import confine, memcap, remote_ops

CTL_FD = 3
MAX_MESSAGE = DEFAULTS.message_mb * MiB  # what the grader may send in one request
MAX_TEXT = 4000


def start(config: dict, ctl_fd: int, out_fd: int) -> None:
    """Confine this freshly forked process as `config` says, then serve until EOF."""
    _redirect_fds(ctl_fd, out_fd)
    isolated = bool(config.get("isolate")) and confine.available()
    try:
        memcap.join(config.get("cgroup"))
        source = _read_source(config.get("source_file", ""))  # the copy the grader made, before it is hidden
        _set_limits(config)
        for name in config.get("preload", []):
            importlib.import_module(name)
        if config.get("support"):
            load_module_from(config["support"], remote_ops.SUPPORT_MODULE)
        workdir = config["workdir"]
        if isolated:
            hidden = config.get("hidden_paths", [])
            workdir = confine.isolate(allowed_paths(hidden), hidden, int(config.get("file_bytes") or DEFAULTS.file_mb * MiB),
                                      bool(config.get("loopback")), build_in=workdir,
                                      gpu=str(config.get("device", "cpu")).startswith("cuda"))
            confine.drop_privileges()
    except (confine.ConfinementError, OSError) as e:
        print(f"grader sandbox: could not confine the worker: {e}", file=sys.stderr, flush=True)
        os._exit(71)
    confine.die_with_parent(signal.SIGKILL)  # the fork server's death is ours, and our namespace's
    _scrub_environment(config, workdir)
    if config.get("forbidden"):
        from grader.worker import tripwires

        tripwires.install(config["forbidden"])
    _seed(int(config.get("seed", 0)))
    torch.set_num_threads(max(1, int(config.get("threads", THREADS))))
    serve(socket.socket(fileno=CTL_FD), RequestHandler(config, source, workdir))


def _read_source(path: str) -> str | sources.SourceError | None:
    """The submission's text, decoded as Python decodes source; a file that is not source: the error."""
    if not path:
        return None
    try:
        return sources.read_source(path)
    except sources.SourceError as e:
        return e  # the import request reports it
    finally:  # the folder is the candidate's: it starts empty, as each later test finds it (`reset`)
        try:
            os.unlink(path)
        except OSError:
            pass


def allowed_paths(hidden: list[str]) -> list[str]:
    """What the worker's file system holds besides the system's libraries: the interpreter, the
    folders imports come from (none that holds or lies in a hidden path, e.g. the project root)
    and the harness's own package (not the project around it)."""
    import grader

    hidden = [os.path.realpath(h) for h in hidden]
    folders = [p for p in sys.path if p and os.path.isdir(p)] + [sys.prefix, sys.base_prefix, sys.exec_prefix]
    folders = [p for p in folders if not _covers(p, hidden) and not _inside(p, hidden)]
    return folders + [os.path.dirname(grader.__file__)]


def _inside(entry: str, hidden: list[str]) -> bool:
    real = os.path.realpath(entry)
    return any(real == h or real.startswith(h.rstrip(os.sep) + os.sep) for h in hidden)


def _redirect_fds(ctl_fd: int, out_fd: int) -> None:
    os.dup2(ctl_fd, CTL_FD)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.closerange(CTL_FD + 1, 1 << 16)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")


def _set_limits(config: dict) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if config.get("memory_bytes"):
        cap = int(config["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    if config.get("file_bytes"):
        cap = int(config["file_bytes"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))


def _scrub_environment(config: dict, workdir: str) -> None:
    """Own working directory and environment; nothing hidden (e.g. references) on sys.path."""
    os.chdir(workdir)
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    os.environ.clear()
    os.environ.update(keep, HOME=workdir, TMPDIR=workdir, PYTHONDONTWRITEBYTECODE="1")
    hidden = [os.path.realpath(p) for p in config.get("hidden_paths", [])]
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and not _covers(p, hidden)]
    sys.dont_write_bytecode = True


def _covers(entry: str, hidden: list[str]) -> bool:
    """True when the sys.path entry is a hidden path or a folder that contains one."""
    real = os.path.realpath(entry)
    return any(h == real or h.startswith(real.rstrip(os.sep) + os.sep) for h in hidden)


def _empty_folder(folder: str) -> None:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


class RequestHandler:
    """The worker's object table and the operations the grader may ask for."""

    def __init__(self, config: dict, source: str | sources.SourceError | None = None, workdir: str | None = None):
        self.config, self.source, self.workdir = config, source, workdir
        self.device = torch.device(config.get("device", "cpu"))
        self.objects: dict[int, object] = {}
        self.next_id = 1
        self.trace = None

    def handle(self, request: dict):
        """The request's value; with a trace nonce, also the operators it ran (`self.trace`)."""
        self.trace = None
        if not (request.get("trace") and self.config.get("forbidden_ops")):
            return self._handle(request)
        from grader.worker import optrace

        with optrace.Trace(str(request["trace"])) as self.trace:  # names filled in on leaving
            return self._handle(request)

    def _handle(self, request: dict):
        op = request.get("op")
        if op == "import":
            return self.import_submission()
        if op == "getattr":
            return self.export(getattr(self.resolve(request["target"]), request["name"]))
        if op == "call":
            return self.call(request)
        if op == "lib":
            return self.call_function(remote_ops.lookup(request["name"]), request)
        if op == "sync":
            return self.sync(str(request["marker"]))
        if op == "reset":
            return self.reset()
        raise ValueError(f"unknown request {op!r}")

    def import_submission(self) -> dict:
        if isinstance(self.source, sources.SourceError):
            raise self.source
        module = load_module_from(self.config["submission"], "solution", self.source)
        self.objects[0] = module
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        return {"names": names, "callables": [n for n in names if isinstance(vars(module)[n], (type, types.FunctionType))]}

    def sync(self, marker: str) -> str:
        """Mark the end of a test's output (the grader keeps this worker for the next test)."""
        _flush_output()
        os.write(1, marker.encode())
        return marker

    def reset(self) -> dict:
        """Start the next test as a fresh worker would: no objects, an empty working folder, the
        run's seed, torch's global modes at their defaults, the module imported anew."""
        self.objects.clear()
        if self.workdir:
            os.chdir(self.workdir)
            _empty_folder(self.workdir)
        _seed(int(self.config.get("seed", 0)))
        torch.set_grad_enabled(True)
        torch.set_default_dtype(torch.float32)
        torch.set_num_threads(max(1, int(self.config.get("threads", THREADS))))
        return self.import_submission()

    def call(self, request: dict):
        """Call the target, or with "method", its attribute of that name (one request, not two)."""
        target = self.resolve(request["target"])
        if "method" in request:
            target = getattr(target, str(request["method"]))
        return self.call_function(target, request)

    def call_function(self, fn, request: dict):
        args = [self.unpack(a) for a in request.get("args", [])]
        kwargs = {k: self.unpack(v) for k, v in request.get("kwargs", {}).items()}
        result = fn(*args, **kwargs)
        if isinstance(result, torch.nn.Module):
            result.to(self.device)
        if request.get("return_args"):
            return {"result": self.export(result), "args": self.export(args), "kwargs": self.export(kwargs)}
        return self.export(result)

    def resolve(self, ref):
        if not isinstance(ref, wire.Ref) or ref.id not in self.objects:
            raise LookupError(f"unknown object handle {ref!r}")
        return self.objects[ref.id]

    def unpack(self, value):
        """Turn decoded arguments into live objects: handles resolved, tensors on our device."""
        if isinstance(value, wire.Ref):
            return self.resolve(value)
        if isinstance(value, torch.Tensor):
            return value.to(self.device)
        if isinstance(value, list):
            return [self.unpack(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.unpack(v) for v in value)
        if isinstance(value, dict):
            return {k: self.unpack(v) for k, v in value.items()}
        return value

    def export(self, value, depth: int = 0):
        """Plain data by value (tensors as plain detached tensors); anything else as a handle."""
        if depth > wire.MAX_DEPTH:
            raise ValueError("result nested too deeply")
        if value is None or type(value) in (bool, int, float, str, torch.dtype):
            return value
        if isinstance(value, torch.Tensor):
            return torch.Tensor.as_subclass(value.detach(), torch.Tensor)
        if isinstance(value, torch.device):
            return str(value)
        for base in (dict, list, tuple):  # subclasses (OrderedDict state_dicts, namedtuples) as their base
            if isinstance(value, base) and type(value) is not base:
                value = base(value)
        if type(value) is list:
            return [self.export(v, depth + 1) for v in value]
        if type(value) is tuple:
            return tuple(self.export(v, depth + 1) for v in value)
        if type(value) is dict and all(type(k) in (str, int) for k in value):
            return {k: self.export(v, depth + 1) for k, v in value.items()}
        return self.keep(value)

    def keep(self, obj) -> wire.Ref:
        ref = wire.Ref(self.next_id)
        self.objects[ref.id] = obj
        self.next_id += 1
        return ref


def serve(ctl: socket.socket, handler: RequestHandler) -> None:
    """Answer requests until the grader closes the socket."""
    while True:
        try:
            request = channel.receive(ctl, MAX_MESSAGE)
        except (channel.ChannelClosed, wire.WireError):
            break
        try:
            reply = {"ok": handler.handle(request)}
        except BaseException as e:  # the candidate's failure is data for the grader
            reply = {"error": describe_exception(e, handler.config.get("submission"))}
        if getattr(handler, "trace", None) is not None:
            reply["trace"] = {"names": handler.trace.names}
        try:
            data = wire.encode(reply)
        except Exception as e:
            data = wire.encode({"error": describe_exception(e)})
        _flush_output()
        ctl.sendall(data)
    _flush_output()
    os._exit(0)


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def describe_exception(e: BaseException, submission: str | None = None) -> dict:
    """Type, message and traceback (only the submission's frames, when it has any) as short text."""
    try:
        message = str(e)
    except Exception:
        message = "<exception message could not be printed>"
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if f.filename == submission]
    try:
        last = "".join(traceback.format_exception_only(type(e), e))
    except Exception:
        last = type(e).__name__
    text = "".join(traceback.format_list(mine or frames[-3:])) + last
    return {"type": type(e).__name__, "message": message[:MAX_TEXT], "traceback": text[-MAX_TEXT:]}


def load_module_from(path: str, name: str, source: str | None = None):
    """Import the file at `path` as module `name` (registered in sys.modules); with `source`,
    from that text (read before the file's folder was hidden), kept for tracebacks."""
    if source is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    linecache.cache[path] = (len(source), None, source.splitlines(keepends=True), path)
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(compile(source, path, "exec", dont_inherit=True), module.__dict__)
    return module
