"""Running an exercise's tests (pytest, in this trusted process) and collecting TestResults."""
from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from grader import clock, credit, lanes, text
from grader.compare import Mismatch
from grader.discovery import Exercise, is_hidden
from grader.proxy import CandidateError, MissingName
from grader.pytest_plugin import ARTIFACTS_KEY, CANDIDATE_KEY
from grader.results import ExerciseResult, RunResult, TestResult
from grader.session import ExerciseRun, ReferenceProblem, RunContext

PHASE_KEY = pytest.StashKey[dict]()
# pytest's plugins a grading run does without: it reads results from its own hooks, not from a
# terminal, a log or a cache (without the terminal, hypothesis no longer tries to import its
# optional patch writer, which is not installed, once per failing test: ~35 ms each).
UNUSED_PLUGINS = ("terminal", "logging", "cacheprovider", "anyio", "junitxml", "doctest", "pastebin", "stepwise",
                  "setuponly", "setupplan", "faulthandler", "unraisableexception", "threadexception")
K_IDENT = re.compile(r"[\w:+\-.\[\]\\/]+")  # what pytest -k takes as one name (a parametrised one too)
NOT_SUBMITTED = "not submitted"


def grade_exercise(exercise: Exercise, ctx: RunContext, submission: Path | None = None,
                   stop_at_first_failure: bool = False, progress=None, own_files: bool = False, *,
                   seed: int | None = None, categories: tuple[str, ...] = (),
                   folder: Path | None = None, shrink: bool | None = None, cheap_first: bool = False) -> ExerciseResult:
    """Run every test of `exercise` (only those of `categories`, if given) against `submission`
    (default: what the settings say, looked up in `folder` if given) on `seed` (default: the
    settings'). `progress` (see grader.console.Progress) hears of each test as it starts. A
    submission that is a link, a reference or an exercise's test is refused (status error),
    unless `own_files` (`grade validate` grades the references themselves). Failing examples are
    shrunk as a candidate's are when `shrink` (default: unless `stop_at_first_failure`); without,
    only the verdicts count. `cheap_first` (a verdict only, with `stop_at_first_failure`): one-case
    tests run first, then drawn cases, then training (pytest_plugin.cost_rank). `ctx` is not changed."""
    found = Path(submission) if submission else ctx.find_submission(exercise, folder)
    run = ctx.run_for(exercise, found or ctx.submission_for(exercise, folder), seed, categories)
    limits = ctx.limits_for(exercise)
    result = ExerciseResult(id=exercise.id, title=exercise.title, title_zh=exercise.title_zh,
                            difficulty=exercise.difficulty, submission=str(found or run.submission),
                            not_applicable=dict(exercise.not_applicable), limits=limits.to_dict())
    start = clock.monotonic()
    try:
        ctx.reference_for(exercise)
        problem = None if own_files or found is None else ctx.submission_problem(exercise, found)
        if problem:
            raise ReferenceProblem(problem)
    except ReferenceProblem as e:
        result.status, result.error = "error", str(e)
        return text.clean_all(result)
    collector = ResultCollector(run, ctx, progress)
    if found is None:  # a --submission folder without this exercise: collect its tests, run none
        collector.stop_reason = NOT_SUBMITTED
    else:
        result.static_findings = [f.to_dict() for f in ctx.static_findings(run)]
    shrink = not stop_at_first_failure if shrink is None else shrink
    code = _run_pytest(run, ctx, collector, stop_at_first_failure, collect_only=found is None, shrink=shrink,
                       cheap_first=cheap_first)
    result.tests = collector.results
    credit.apply(result)
    if collector.collection_errors or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        result.status = "error"
        result.error = "the exercise's tests could not run: " + ("\n".join(collector.collection_errors) or str(code))
    elif code == pytest.ExitCode.INTERRUPTED and collector.stop_reason is None:  # not our own stop: Ctrl-C
        result.status, result.error = "error", "grading was interrupted"
    elif code == pytest.ExitCode.NO_TESTS_COLLECTED and not ctx.settings.select:  # with -k: none selected here
        result.status, result.error = "error", "no tests were collected"
    else:
        result.tests += collector.not_run()
    result.duration = clock.monotonic() - start
    result.finish()
    if found is None and not result.error:
        result.status = NOT_SUBMITTED.replace(" ", "_")
    return text.clean_all(result)


def _run_pytest(run: ExerciseRun, ctx: RunContext, collector: "ResultCollector",
                stop_at_first_failure: bool, collect_only: bool = False, shrink: bool = True,
                cheap_first: bool = False) -> int:
    exercise = run.exercise
    args = [str(f) for f in exercise.test_files] + (["--collect-only"] if collect_only else []) + [
        "--import-mode=importlib", "-o", "addopts=", f"--rootdir={exercise.path}",
        f"--hypothesis-seed={run.seed}", "-W", "ignore::DeprecationWarning",
    ] + [arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}")]
    if ctx.settings.select:
        args += ["-k", ctx.settings.select]
    if stop_at_first_failure:
        args += ["-x"]
    if not shrink:  # only the verdicts matter: failing examples are not shrunk
        args += ["--hypothesis-profile=grader-verdict"]
    if cheap_first:
        args += ["--cheap-first"]
    plugins = [collector]
    if not (stop_at_first_failure or collect_only) and lanes.wanted(ctx):
        plugins.append(lanes.Lanes(collector, ctx, run))
    _freeze_heap()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), _fresh_modules(exercise.path):
        code = pytest.main(args, plugins=plugins)
    return code


_heap_freezes = 0


def _freeze_heap() -> None:
    """Before a process's first two runs only: move what is loaded by then (torch, pytest,
    hypothesis, and what the first run loaded lazily: ~200,000 objects) out of the garbage
    collector's sight. pytest collects garbage at the end of every run (0.2-0.3 s with all that
    in view; validate runs pytest ~20 times per exercise); it then scans only what the run
    itself made. Before, not after, the second: a process that grades once collects once
    (~0.15 s)."""
    global _heap_freezes
    if _heap_freezes < 2:
        gc.collect()
        gc.freeze()
        _heap_freezes += 1


@functools.lru_cache(maxsize=None)
def _real_path(file: str) -> Path:
    """A loaded module's file, symlinks resolved (cached: a loaded module's file does not move)."""
    return Path(file).resolve()


@contextlib.contextmanager
def _fresh_modules(folder: Path):
    """pytest's importlib mode reuses sys.modules entries by name (e.g. 'test_model'): forget
    modules loaded from `folder` before and after a run, so every run imports its own files."""
    names = {p.name for p in folder.rglob("*.py")}  # only a module with one of these names can be from there

    def forget():
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or "/"
            if os.path.basename(file) in names and _real_path(file).is_relative_to(folder):
                del sys.modules[name]
    forget()
    try:
        yield
    finally:
        forget()


class ResultCollector:
    """pytest hooks that turn each test's phases into one TestResult; also hands the shared
    context and this run to grader.pytest_plugin (attributes `grader_run_context`, `grader_run`).

    Once a test shows that no test of this submission can pass (it does not import, or defines
    none of the interface), the run stops: the remaining tests are recorded as not run."""

    def __init__(self, run: ExerciseRun, ctx: RunContext, progress=None):
        self.exercise, self.ctx, self.run, self.progress = run.exercise, ctx, run, progress
        self.grader_run_context, self.grader_run = ctx, run
        self.results: list[TestResult] = []
        self.collection_errors: list[str] = []
        self.items: list[pytest.Item] = []
        self.stop_reason: str | None = None
        self.position = lambda: len(self.results) + 1  # the test about to run, as progress shows it (grader.lanes: both lanes')

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # Python's own traceback text (the terminal plugin's --tb=native, which is not loaded):
        # pytest's default parses every source file of a failure's traceback (~10 ms a failure,
        # paid by every failing test); the grader's messages come from the exceptions themselves.
        config.option.tbstyle = "native"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext[-3000:]}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)
        if self.progress is not None:
            self.progress.collected(len(self.items), self.stop_reason or "")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        if self.progress is not None:
            self.progress.test(self.position(), item.name)
        item.stash[PHASE_KEY] = {"start": clock.monotonic(), "outcomes": []}
        yield
        self.results.append(self._result_for(item))
        reason = _unusable(item.stash[PHASE_KEY], self.exercise)
        if reason and self.stop_reason is None:
            self.stop_reason = f"not run: {reason} (see {item.name})"
            item.session.shouldstop = self.stop_reason

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        if report.failed or report.skipped:
            item.stash[PHASE_KEY]["outcomes"].append((call.when, report, call.excinfo))

    def not_run(self) -> list[TestResult]:
        """A result for every collected test that did not run, saying why."""
        ran = {r.nodeid for r in self.results}
        return [self._base_result(item, "not_run", 0.0, self.stop_reason or "not run")
                for item in self.items if item.nodeid not in ran]

    def _base_result(self, item: pytest.Item, status: str, duration: float, message: str = "") -> TestResult:
        marker = item.get_closest_marker("category")
        category = marker.args[0] if marker else "uncategorized"
        points_marker = item.get_closest_marker("points")
        points = float(points_marker.args[0]) if points_marker else self.exercise.points_for(category)
        return TestResult(name=item.name, nodeid=item.nodeid, category=category, status=status, points=points,
                          duration=duration, message=message, reproduce=self._reproduce(item),
                          hidden=is_hidden(Path(str(item.path))))

    def _result_for(self, item: pytest.Item) -> TestResult:
        phases = item.stash[PHASE_KEY]
        result = self._base_result(item, "pass", clock.monotonic() - phases["start"])
        proxies = item.stash.get(CANDIDATE_KEY, [])
        if phases["outcomes"]:
            _apply_outcome(result, *phases["outcomes"][0], proxies)
        result.earned = result.points if result.status == "pass" else 0.0
        result.output = "\n".join(p.output for p in proxies if p.output)
        result.artifacts = item.stash.get(ARTIFACTS_KEY, {})
        return result

    def _reproduce(self, item: pytest.Item) -> str:
        s = self.ctx.settings
        parts = ["grade", str(self.exercise.path), "--submission", str(self.run.submission), "--seed", str(self.run.seed)]
        if s.solutions:
            parts += ["--solutions", str(s.solutions)]
        parts += ["-k", item.name if K_IDENT.fullmatch(item.name) else item.name.split("[")[0]]
        return shlex.join(parts)


def _unusable(phases: dict, exercise: Exercise) -> str | None:
    """Why no test of this submission can pass, if its first failure shows that: the module does
    not import (exception, crash or time-out while importing), or it defines none of the names the
    exercise's interface requires. Then one test says so and the rest are not run."""
    failures = [excinfo for _, report, excinfo in phases["outcomes"] if report.failed and excinfo]
    exc = _leaf_exception(failures[0].value) if failures else None
    if isinstance(exc, CandidateError) and exc.at_import:
        return exc.message
    if isinstance(exc, MissingName) and exercise.names and not set(exercise.names) & set(exc.defined):
        return f"your module defines none of {', '.join(exercise.names)}"
    return None


def _apply_outcome(result: TestResult, when: str, report, excinfo, proxies=()) -> None:
    """Status, message and details of a test from its first failed (or skipped) phase."""
    if report.skipped:
        result.status, result.message = "skip", _skip_reason(report)
        return
    exc = _leaf_exception(excinfo.value) if excinfo else None
    result.falsifying_example = _falsifying_example(excinfo.value if excinfo else None)
    if isinstance(exc, CandidateError):
        result.status, result.origin = "error", "candidate"
        result.message, result.details = exc.message, exc.remote_traceback
    elif isinstance(exc, AssertionError):
        result.status, result.message = "fail", str(exc) or "assertion failed"
        result.diagnostics = exc.diagnostics if isinstance(exc, Mismatch) else None
    elif lacking := _returned_without(exc, proxies):
        result.status, result.origin, result.message = "error", "candidate", lacking
        result.details = report.longreprtext[-4000:]
    else:
        result.status, result.origin = "error", "setup" if when == "setup" else "test"
        kind = type(exc).__name__ if exc else "error"
        result.message = f"the test itself raised {kind}: {exc} (a grader bug, or an unexpected result)"
        result.details = report.longreprtext[-4000:]


def _returned_without(exc: BaseException | None, proxies) -> str | None:
    """The candidate's fault, not the test's: a KeyError for a key that a dict returned by the
    candidate's code in this test lacks (e.g. a state_dict without the buffers the exercise asks for)."""
    if not isinstance(exc, KeyError) or len(exc.args) != 1:
        return None
    key = exc.args[0]
    for proxy in proxies:
        for keys, label in getattr(proxy, "returned_keys", {}).items():
            if key not in keys:
                shown = ", ".join(sorted(map(repr, keys))) or "none"
                return f"{label} returned a dict without the key {key!r} the test needs (its keys: {shown})"
    return None


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _leaf_exception(exc: BaseException) -> BaseException:
    """The exception that explains a failure: the first leaf of a group, the cause of a Flaky."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


FIXTURE_ARGS = re.compile(r"^\s*(candidate|reference|artifacts|static_findings|seed|device|exercise)=.*\n?", re.M)


def _falsifying_example(exc: BaseException | None) -> str:
    """Hypothesis' minimal example, without the fixture arguments (they say nothing useful,
    and the reference's would name where the hidden solutions live)."""
    notes = []
    while exc is not None:
        notes += [n for n in getattr(exc, "__notes__", []) if n.startswith(("Falsifying", "Failing test case"))]
        exc = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) and exc.exceptions else None
    return FIXTURE_ARGS.sub("", "\n".join(notes))


def run_grading(path: Path | list[Exercise], ctx: RunContext, command: str = "", progress=None,
                folder: Path | None = None) -> RunResult:
    """Grade every exercise found at `path` (or given as a list), with the submissions in `folder`
    (default: what the settings say); always returns a complete RunResult. With a -k selection,
    exercises none of whose tests it selects are left out."""
    from grader.discovery import discover

    exercises = list(path) if isinstance(path, list) else discover(path)
    run = RunResult(started_at=clock.now_iso(), settings=_settings_record(ctx, command, folder), environment=environment())
    start = clock.monotonic()
    for position, exercise in enumerate(exercises, 1):
        if progress is not None:
            progress.start(exercise.id, position, len(exercises))
        result = grade_exercise(exercise, ctx, progress=progress, folder=folder)
        if ctx.settings.diagnose:
            _diagnose(exercise, ctx, result)
        if not (ctx.settings.select and not result.tests and not result.error):
            run.exercises.append(result)
    if progress is not None:
        progress.finish()
    run.duration = clock.monotonic() - start
    return run


def _diagnose(exercise: Exercise, ctx: RunContext, result: ExerciseResult) -> None:
    """Name the likely known mistake of a failing result (grader.diagnosis); never a verdict."""
    from grader import diagnosis

    found = diagnosis.diagnose(exercise, ctx, result, ctx.settings.seed)
    result.likely_mistake = found.to_dict() if found else None


def _settings_record(ctx: RunContext, command: str, folder: Path | None = None) -> dict:
    s = ctx.settings
    submission = folder or s.submission
    return text.clean_all({
        "seed": s.seed, "device": str(ctx.device), "timeout": s.timeout, "memory_mb": s.memory_mb,
        "submission": str(submission) if submission else None,
        "solutions": str(s.solutions) if s.solutions else None, "select": s.select, "command": command,
        "isolation": ctx.isolation_label(),
    })


def environment() -> dict:
    """Versions a result depends on."""
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cuda_available": torch.cuda.is_available()}
