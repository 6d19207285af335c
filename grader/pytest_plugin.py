"""pytest plugin: options, markers and fixtures that give exercise tests the candidate (in a
worker), the reference (in this process) and the run's settings.

Loaded automatically (entry point `pytest11`), so `pytest exercises/17_self_attention` works for
a learner; `grade` runs the same tests through it with its own RunContext and, for the exercise it
runs, its ExerciseRun (submission, seed, categories); plain pytest makes one per exercise from its options.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, settings

from grader import arguments, constraints, grading_torch, harness_tests
from grader.categories import check_category
from grader.discovery import is_hidden, load_exercise
from grader.proxy import CandidateError
from grader.session import ExerciseRun, RunContext, Settings

CONTEXT_KEY = pytest.StashKey[RunContext]()
OWNS_CONTEXT_KEY = pytest.StashKey[bool]()
RUNS_KEY = pytest.StashKey[dict]()  # exercise id -> its ExerciseRun in this pytest session
ONLY_KEY = pytest.StashKey[tuple]()  # the categories the given run is narrowed to
CANDIDATE_KEY = pytest.StashKey[list]()
ARTIFACTS_KEY = pytest.StashKey[dict]()

settings.register_profile(
    "grader", deadline=None, database=None, max_examples=25, print_blob=False,
    # no "explain" phase: it re-runs a failing test many times to annotate the example
    # One failure per test: a test stops generating at its first failing example and shrinks
    # that one (the grader reports a test's first failure only; looking for more distinct
    # failures cost a stub or a mutant ~10 more examples and their shrinking per failing test).
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Only the verdict matters (e.g. `grade validate` proving a mutant fails): no shrinking.
settings.register_profile("grader-verdict", settings.get_profile("grader"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "grading PyTorch exercises")
    group.addoption("--submission", default=None, help="candidate file to grade (default: the exercise's solution.py)")
    group.addoption("--solutions", default=None, help="folder of reference solutions (default: <project>/solutions)")
    group.addoption("--grade-seed", type=int, default=0, help="seed for inputs, models and hypothesis")
    group.addoption("--device", default="auto", choices=["cpu", "cuda", "auto"], help="where tensors live")
    group.addoption("--grade-timeout", type=float, default=None, help="seconds per call to the candidate")
    group.addoption("--grade-memory", type=int, default=None, help="worker memory cap in MiB")
    group.addoption("--cheap-first", action="store_true", default=False,
                    help="one-case tests first, then drawn cases, then training: a verdict sooner (the first "
                         "failure is then not the one grading reports)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "category(name): the category a test grades (see grader.categories)")
    config.addinivalue_line("markers", "points(n): points for this test instead of its category's")
    settings.load_profile("grader")
    freeze_hypothesis_constants()
    grading_torch.configure()
    given, run = _given_by_plugins(config)
    config.stash[CONTEXT_KEY] = given or RunContext(_settings_from_options(config))
    config.stash[OWNS_CONTEXT_KEY] = given is None
    config.stash[RUNS_KEY] = {run.exercise.id: run} if run is not None else {}
    config.stash[ONLY_KEY] = run.categories if run is not None else ()
    if getattr(config.option, "hypothesis_seed", None) is None and hasattr(config.option, "hypothesis_seed"):
        config.option.hypothesis_seed = config.stash[CONTEXT_KEY].settings.seed


def freeze_hypothesis_constants() -> None:
    """Make a seed's hypothesis examples independent of what the process loaded before.

    Hypothesis biases its draws with constants it harvests from every "local" module in
    sys.modules (references, support files, the grader), growing as a process imports more: the
    same seed then drew other examples in `grade validate` than in CI, which had graded other
    exercises first, and a mutant was caught in one and not the other. A verdict must depend on
    the submission and the seed only, so no harvested constants (hypothesis' own built-in ones stay).
    """
    try:
        providers = importlib.import_module("hypothesis.internal.conjecture.providers")
        empty = providers.Constants()
    except (ImportError, AttributeError):  # another hypothesis version: nothing to freeze
        return
    if hasattr(providers, "_get_local_constants"):
        providers._get_local_constants = lambda: empty
        providers.CONSTANTS_CACHE.cache.clear()


def _given_by_plugins(config: pytest.Config) -> tuple[RunContext | None, ExerciseRun | None]:
    """`grade` registers a plugin object carrying its RunContext and ExerciseRun; plain pytest has none."""
    for plugin in config.pluginmanager.get_plugins():
        ctx = getattr(plugin, "grader_run_context", None)
        if isinstance(ctx, RunContext):
            run = getattr(plugin, "grader_run", None)
            return ctx, run if isinstance(run, ExerciseRun) else None
    return None, None


def exercise_run(config: pytest.Config, exercise) -> ExerciseRun:
    """This pytest session's run of `exercise`: the one `grade` gave, else one made from the options."""
    runs = config.stash[RUNS_KEY]
    if exercise.id not in runs:
        runs[exercise.id] = config.stash[CONTEXT_KEY].run_for(exercise)
    return runs[exercise.id]


def _settings_from_options(config: pytest.Config) -> Settings:
    opt = config.option
    try:  # the same ranges as `grade`
        seed = arguments.seed(opt.grade_seed, "--grade-seed")
        timeout = arguments.timeout(opt.grade_timeout, "--grade-timeout")
        memory_mb = arguments.memory(opt.grade_memory, "--grade-memory")
    except arguments.UsageProblem as e:
        raise pytest.UsageError(str(e)) from None
    return Settings(
        seed=seed, device=opt.device, timeout=timeout, memory_mb=memory_mb,
        solutions=Path(opt.solutions) if opt.solutions else None,
        submission=Path(opt.submission) if opt.submission else None,
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    for run in session.config.stash.get(RUNS_KEY, {}).values():
        run.parked.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(OWNS_CONTEXT_KEY, False):
        config.stash[CONTEXT_KEY].close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("category")
        if marker is not None:
            check_category(marker.args[0])
    harness_tests.add_constraints_items(items)
    only = config.stash[ONLY_KEY]
    if only:
        kept = [i for i in items if (i.get_closest_marker("category") or pytest.mark.category("")).args[0] in only]
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
    if config.getoption("cheap_first", False):
        items.sort(key=cost_rank)  # stable: file order within a rank


def cost_rank(item: pytest.Item) -> int:
    """--cheap-first's order: tests of one fixed case (0), tests hypothesis draws cases for (1),
    training (convergence) tests (2), the harness's constraints test last (3: it reads every trace
    of the run). Only a verdict may be read from such a run: `grade` keeps file order, whose first
    failure is a shrunk, minimal case, the same for two idioms of one mistake (a first failure on
    a one-case test with padded rows or huge logits is not: tests/variants/17_self_attention.toml)."""
    if isinstance(item, harness_tests.ConstraintsItem):
        return 3
    marker = item.get_closest_marker("category")
    if marker is not None and marker.args[0] == "convergence":
        return 2
    return 1 if getattr(getattr(item, "obj", None), "is_hypothesis_test", False) else 0


@pytest.fixture(scope="module")
def exercise(request: pytest.FixtureRequest):
    """The exercise whose folder holds this test file."""
    return load_exercise(Path(str(request.path)).parent)


@pytest.fixture(scope="module")
def run_context(request: pytest.FixtureRequest) -> RunContext:
    return request.config.stash[CONTEXT_KEY]


@pytest.fixture(scope="module")
def reference(exercise, run_context):
    """The reference solution's module, imported in the trusted process."""
    return run_context.reference_for(exercise)


@pytest.fixture(scope="module")
def grading_run(request: pytest.FixtureRequest, exercise) -> ExerciseRun:
    """This run of the exercise's tests: its submission, seed and what its traces have shown."""
    return exercise_run(request.config, exercise)


@pytest.fixture
def candidate(request: pytest.FixtureRequest, grading_run, run_context):
    """The submission's module in a sandboxed worker (see grader.proxy.Candidate): the one the
    run's previous test left healthy, reset, or a fresh one; a submission that breaks the
    constraints is not run at all."""
    problems = constraints.breaches(run_context.static_findings(grading_run)) if run_context.settings.screen else []
    if problems:
        raise CandidateError("forbidden", constraints.gate_message(problems))
    # A hidden test's worker is never handed on: what it was given must not reach a later test's output.
    proxy = run_context.new_candidate(grading_run, hand_on=not is_hidden(Path(str(request.node.path))))
    request.node.stash[CANDIDATE_KEY] = [proxy]
    yield proxy
    proxy.close()


@pytest.fixture
def static_findings(grading_run, run_context) -> list:
    """Static findings (forbidden APIs, refused means, missing names) for the submission's source."""
    return run_context.static_findings(grading_run)


@pytest.fixture
def seed(grading_run) -> int:
    return grading_run.seed


@pytest.fixture
def device(run_context) -> torch.device:
    return run_context.device


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> dict:
    """A dict a test fills with data for the report (e.g. {'loss_curve': {...}})."""
    return request.node.stash.setdefault(ARTIFACTS_KEY, {})
