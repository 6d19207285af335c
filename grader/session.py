"""A grading run's settings and shared resources (the worker pool, the loaded references), and
what varies from one run of an exercise's tests to the next (`ExerciseRun`)."""
from __future__ import annotations

import functools
import importlib.util
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from grader import clock, constraints
from grader.discovery import Exercise
from grader.limits import DEFAULTS, MAX_SOURCE_BYTES, MiB, Limits
from grader.supervisor import Parked, WorkerConfig, WorkerPool
from grader.worker import confine, memcap  # only to ask what this machine allows

if TYPE_CHECKING:  # torch and the proxy load only when grading starts: `grade --help` stays fast
    import torch

    from grader.proxy import Candidate


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
    isolation: bool | None = None  # None: isolate workers whenever we can (running as root)
    # Refuse a submission that breaks the static policy before running any of its code. Off only
    # in the harness's own containment tests, which must run hostile code to prove the walls hold.
    screen: bool = True
    # Name the known mistake a failing submission looks like (grader.diagnosis); never a verdict.
    diagnose: bool = True
    # Processes that share one run's tests (grader.lanes): `grade` asks for 2; `validate` and
    # `batch` keep 1 and run several runs at once instead (-j).
    lanes: int = 1


@dataclass(frozen=True)
class ExerciseRun:
    """One run of an exercise's tests: what varies from run to run (the submission, the seed, the
    categories it is narrowed to) and what the run has seen (its operation traces; when it began,
    which starts the submission's time budget). Made by `RunContext.run_for`."""

    exercise: Exercise
    submission: Path  # absolute, not resolved: a link is refused, not followed
    seed: int
    categories: tuple[str, ...] = ()  # only tests of these categories (validate's value-free variants)
    trace_log: constraints.TraceLog = field(default_factory=constraints.TraceLog, compare=False)
    started: float = field(default_factory=clock.monotonic, compare=False)
    parked: Parked = field(default_factory=Parked, compare=False)  # the worker kept between its tests


class RunContext:
    """What every run of a grading process shares: the settings, the worker pool, the loaded
    references, static findings per file. Never changed by a run; `close()` stops the worker pool."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool: WorkerPool | None = None
        self._references: dict[Path, ModuleType] = {}
        self._findings: dict[tuple[str, Path], list] = {}

    def run_for(self, exercise: Exercise, submission: Path | None = None, seed: int | None = None,
                categories: tuple[str, ...] = ()) -> ExerciseRun:
        """A run of `exercise`'s tests on `submission` (default: what the settings say) and `seed`
        (default: the settings' seed), starting now."""
        path = Path(submission).absolute() if submission else self.submission_for(exercise)
        return ExerciseRun(exercise, path, self.settings.seed if seed is None else seed, tuple(categories))

    def static_findings(self, run: ExerciseRun) -> list:
        """Static findings for the run's submission (computed once per file)."""
        key = (run.exercise.id, run.submission)
        if key not in self._findings:
            self._findings[key] = constraints.scan_submission(run.exercise, run.submission)
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
        s, default = self.settings, DEFAULTS
        return Limits(
            timeout=float(s.timeout or exercise.timeout or default.timeout),
            memory_mb=int(s.memory_mb or exercise.memory_mb or default.memory_mb),
            test_budget=float(exercise.test_budget or default.test_budget),
            submission_budget=float(exercise.submission_budget or default.submission_budget),
        )

    @property
    def isolated(self) -> bool:
        """Whether workers get namespaces, an allowlisted read-only file system and an unprivileged
        user (as root), or the same namespaces and file system as the grader's user (unprivileged
        user namespaces, where the kernel allows them)."""
        want = self.settings.isolation
        possible = confine.available() or self._user_namespaces
        if want and not possible:
            raise ReferenceProblem("--isolation needs Linux and root, or unprivileged user namespaces")
        return possible if want is None else want

    @functools.cached_property
    def _user_namespaces(self) -> bool:
        return not confine.available() and confine.user_namespaces_available()

    def isolation_label(self) -> str:
        """Exactly which isolation holds for this run's workers (written to the JSON)."""
        memory = "memory cgroup" if memcap.Cgroups().available else "memory: RLIMIT_DATA only (no memory cgroup)"
        if self.isolated and self._user_namespaces:
            return ("unprivileged user namespaces (pid, mount, ipc, net, user), allowlisted read-only file "
                    f"system, the grader's own user without capabilities, {memory}")
        if self.isolated:
            return f"namespaces (pid, mount, ipc, net, user), allowlisted read-only file system, user nobody, {memory}"
        why = "--no-isolation" if self.settings.isolation is False else "not root, no unprivileged user namespaces"
        return f"none ({why}), {memory}"

    def hidden_paths(self, exercise: Exercise) -> list[str]:
        """What a worker must not read: every reference, every exercise's tests, the harness tests."""
        return [str(p) for p in (self.solutions_dir(exercise), exercise.path.parent, exercise.root / "tests")]

    def submission_problem(self, exercise: Exercise, path: Path) -> str | None:
        """Why `path` may not be graded for `exercise` (an operator's mistake: exit 2), or None."""
        return submission_problem(Path(path), self.solutions_dir(exercise), self.reference_path(exercise))

    def solutions_dir(self, exercise: Exercise) -> Path:
        return Path(self.settings.solutions or exercise.root / "solutions").resolve()

    def reference_path(self, exercise: Exercise) -> Path:
        return self.solutions_dir(exercise) / f"{exercise.id}.py"

    def submission_for(self, exercise: Exercise, folder: Path | None = None) -> Path:
        """--submission FILE, or in a folder (`folder`, else --submission) <id>.py or
        <id>/solution.py; default the stub."""
        found = self.find_submission(exercise, folder)
        return found or (Path(folder or self.settings.submission) / f"{exercise.id}.py").resolve()

    def find_submission(self, exercise: Exercise, folder: Path | None = None) -> Path | None:
        """What `submission_for` grades, or None when the submission folder holds nothing for `exercise`."""
        given = folder or self.settings.submission
        if given is None:
            return exercise.stub
        given = Path(given)
        if given.is_dir():
            for candidate in (given / f"{exercise.id}.py", given / exercise.id / "solution.py", given / "solution.py"):
                if candidate.is_file():
                    return candidate.absolute()
            return None
        return given.absolute()

    # -- resources -----------------------------------------------------------------------
    def reference_for(self, exercise: Exercise) -> ModuleType:
        """The reference module, imported here in the trusted process (once per run)."""
        path = self.reference_path(exercise)
        if path not in self._references:
            self._references[path] = _import_reference(exercise.id, path)
        return self._references[path]

    def worker_pool(self) -> WorkerPool:
        if self.pool is None:
            self.pool = WorkerPool(output_bytes=DEFAULTS.output_bytes,
                                   user_namespace=self.isolated and self._user_namespaces)
            self.pool.start()
        return self.pool

    def new_candidate(self, run: ExerciseRun, hand_on: bool = True) -> Candidate:
        """A proxy for the run's submission; its worker starts on first use (the run's parked
        one, reset, unless not `hand_on`: then a fresh worker, killed when the proxy closes)."""
        from grader.proxy import Candidate

        exercise, path = run.exercise, run.submission
        limits = self.limits_for(exercise)
        config = WorkerConfig(
            submission=str(path), workdir="", source=read_submission(path),
            memory_bytes=limits.memory_mb * MiB, file_bytes=limits.file_mb * MiB,
            hidden_paths=self.hidden_paths(exercise), isolate=self.isolated, loopback=exercise.loopback,
            forbidden=list(exercise.forbidden), forbidden_ops=list(exercise.forbidden_ops),
            seed=run.seed, device=str(self.device),
            preload=list(exercise.preload),
            support=str(exercise.support) if exercise.support.is_file() else "",
        )
        return Candidate(self.worker_pool(), config, limits, trace_log=run.trace_log,
                         submission_deadline=run.started + limits.submission_budget,
                         parked=run.parked if hand_on else None)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def submission_problem(path: Path, solutions: Path, reference: Path) -> str | None:
    """A submission must be a file of its own: not a symbolic link (it would be followed by the
    grader), nothing in the references, not the reference under another name (a hard link), and
    nothing of an exercise's folder but its stub (its tests, support code). None when it may be graded."""
    if path.is_symlink():
        return f"--submission {path} is a symbolic link: pass the file itself"
    real = path.resolve()
    if real.is_relative_to(solutions.resolve()):
        return f"--submission {path} lies in the reference solutions ({solutions}): a reference is not a submission"
    if (real.parent / "exercise.toml").is_file() and real.name != "solution.py":
        return f"--submission {path} is one of the exercise's own files (its tests or support code)"
    if real.is_file() and reference.is_file() and os.path.samefile(real, reference):
        return f"--submission {path} is the reference solution under another name"
    return None


def read_submission(path: Path) -> bytes | None:
    """The submission's bytes, read once here (never through a symbolic link); None when it is
    not a readable regular file (the worker reports that). Of a file over MAX_SOURCE_BYTES, one
    byte more than that: the worker refuses it as too large (grader.source), never reads the
    original itself."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(MAX_SOURCE_BYTES + 1)


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
