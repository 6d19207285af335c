"""A grading run's settings and shared resources: the worker pool and the loaded references."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from grader import confine, constraints
from grader.discovery import Exercise
from grader.sandbox import MiB, Limits, WorkerConfig, WorkerPool

if TYPE_CHECKING:  # torch and the proxy load only when grading starts: `grade --help` stays fast
    import torch

    from grader.proxy import Candidate

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY_MB = 4096


class ReferenceProblem(RuntimeError):
    """The reference solution is missing or broken: the grader cannot grade (exit 2)."""


@dataclass
class Settings:
    """What the user asked for. None means: the exercise's own value, else the default."""

    seed: int = 0
    device: str = "auto"  # cpu | cuda | auto
    solutions: Path | None = None
    submission: Path | None = None
    timeout: float | None = None
    memory_mb: int | None = None
    select: str | None = None  # a pytest -k expression
    categories: tuple[str, ...] = ()  # only tests of these categories (validate's value-free variants)
    isolation: bool | None = None  # None: isolate workers whenever we can (running as root)
    # Refuse a submission that breaks the static policy before running any of its code. Off only
    # in the harness's own containment tests, which must run hostile code to prove the walls hold.
    screen: bool = True


class RunContext:
    """Shared by every test of a run; `close()` stops the worker pool."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool: WorkerPool | None = None
        self._references: dict[Path, ModuleType] = {}
        self._pinned: dict[str, Path] = {}
        self._trace_logs: dict[str, constraints.TraceLog] = {}
        self._findings: dict[tuple[str, Path], list] = {}

    def pin_submission(self, exercise: Exercise, path: Path) -> None:
        """Grade `path` for this exercise from now on, whatever the settings say; its run starts
        with an empty trace log."""
        self._pinned[exercise.id] = Path(path).resolve()
        self._trace_logs[exercise.id] = constraints.TraceLog()

    def trace_log(self, exercise: Exercise) -> constraints.TraceLog:
        """What the operation traces of this exercise's current run have shown."""
        return self._trace_logs.setdefault(exercise.id, constraints.TraceLog())

    def static_findings(self, exercise: Exercise) -> list:
        """Static findings for the submission being graded (computed once per file)."""
        path = Path(self.submission_for(exercise))
        key = (exercise.id, path)
        if key not in self._findings:
            self._findings[key] = constraints.scan_submission(exercise, path)
        return self._findings[key]

    # -- resolution ----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        import torch

        want = self.settings.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(want)

    def limits_for(self, exercise: Exercise) -> Limits:
        s = self.settings
        return Limits(
            timeout=float(s.timeout or exercise.timeout or DEFAULT_TIMEOUT),
            memory_mb=int(s.memory_mb or exercise.memory_mb or DEFAULT_MEMORY_MB),
        )

    @property
    def isolated(self) -> bool:
        """Whether workers get namespaces, a read-only file system and an unprivileged user."""
        want = self.settings.isolation
        if want and not confine.available():
            raise ReferenceProblem("--isolation needs Linux and root (run the grader in a container as root)")
        return confine.available() if want is None else want

    def hidden_paths(self, exercise: Exercise) -> list[str]:
        """What a worker must not read: every reference, every exercise's tests, the harness tests."""
        return [str(p) for p in (self.solutions_dir(exercise), exercise.path.parent, exercise.root / "tests")]

    def solutions_dir(self, exercise: Exercise) -> Path:
        return Path(self.settings.solutions or exercise.root / "solutions").resolve()

    def reference_path(self, exercise: Exercise) -> Path:
        return self.solutions_dir(exercise) / f"{exercise.id}.py"

    def submission_for(self, exercise: Exercise) -> Path:
        """--submission FILE, or in a folder <id>.py or <id>/solution.py; default the stub."""
        found = self.find_submission(exercise)
        return found or (Path(self.settings.submission) / f"{exercise.id}.py").resolve()

    def find_submission(self, exercise: Exercise) -> Path | None:
        """What `submission_for` grades, or None when a --submission folder holds nothing for `exercise`."""
        if exercise.id in self._pinned:
            return self._pinned[exercise.id]
        given = self.settings.submission
        if given is None:
            return exercise.stub
        given = Path(given)
        if given.is_dir():
            for candidate in (given / f"{exercise.id}.py", given / exercise.id / "solution.py", given / "solution.py"):
                if candidate.is_file():
                    return candidate.resolve()
            return None
        return given.resolve()

    # -- resources -----------------------------------------------------------------------
    def reference_for(self, exercise: Exercise) -> ModuleType:
        """The reference module, imported here in the trusted process (once per run)."""
        path = self.reference_path(exercise)
        if path not in self._references:
            self._references[path] = _import_reference(exercise.id, path)
        return self._references[path]

    def worker_pool(self) -> WorkerPool:
        if self.pool is None:
            self.pool = WorkerPool(output_bytes=Limits().output_bytes)
            self.pool.start()
        return self.pool

    def new_candidate(self, exercise: Exercise, submission: Path | None = None) -> Candidate:
        """A proxy for the submission; its worker starts on first use."""
        from grader.proxy import Candidate

        limits = self.limits_for(exercise)
        config = WorkerConfig(
            submission=str(submission or self.submission_for(exercise)), workdir="",
            memory_bytes=limits.memory_mb * MiB, file_bytes=limits.file_mb * MiB,
            hidden_paths=self.hidden_paths(exercise), isolate=self.isolated, loopback=exercise.loopback,
            forbidden=list(exercise.forbidden), forbidden_ops=list(exercise.forbidden_ops),
            seed=self.settings.seed, device=str(self.device),
            preload=list(exercise.preload),
            support=str(exercise.support) if exercise.support.is_file() else "",
        )
        return Candidate(self.worker_pool(), config, limits, self.trace_log(exercise))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _import_reference(exercise_id: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise ReferenceProblem(f"no reference solution for {exercise_id}: {path} does not exist")
    name = f"grader_reference_{exercise_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ReferenceProblem(f"the reference {path} failed to import: {type(e).__name__}: {e}") from e
    return module
