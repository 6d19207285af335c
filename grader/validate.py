"""`grade validate`: every exercise proves itself. Its files and names agree, its reference
passes its whole suite on every seed asked for, its stub fails cleanly, and each of its
mutants (known-wrong variants in tests/mutants/<id>/) fails at least one test."""
from __future__ import annotations

import ast
import atexit
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader import clock, static_checks
from grader.categories import CATEGORIES
from grader.discovery import Exercise
from grader.results import ExerciseResult
from grader.runner import grade_exercise
from grader.session import RunContext, Settings


@dataclass
class Check:
    """One claim about an exercise and whether it held."""

    subject: str  # files | names | categories | reference | stub | mutant <name>
    ok: bool
    detail: str
    duration: float = 0.0


@dataclass
class Validation:
    exercise: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def mutants_of(exercise: Exercise) -> list[Path]:
    """The exercise's known-wrong variants, kept with the harness's tests."""
    return sorted((exercise.root / "tests" / "mutants" / exercise.id).glob("*.py"))


def validate_exercise(exercise: Exercise, ctx: RunContext, seeds: tuple[int, ...] = (0,)) -> Validation:
    """Run every check for `exercise`; ctx.settings.seed is changed along the way and restored."""
    v = Validation(exercise.id, [_files_check(exercise, ctx), _names_check(exercise, ctx)])
    original_seed = ctx.settings.seed
    try:
        runs = []
        for seed in seeds:
            ctx.settings.seed = seed
            result, seconds = _timed(lambda: grade_exercise(exercise, ctx, ctx.reference_path(exercise)))
            runs.append(result)
            v.checks.append(_reference_check(result, seed, seconds))
        ctx.settings.seed = seeds[0]
        v.checks.append(_categories_check(exercise, runs[0]))
        result, seconds = _timed(lambda: grade_exercise(exercise, ctx, exercise.stub))
        v.checks.append(_stub_check(result, seconds))
        mutants = mutants_of(exercise)
        if not mutants:
            v.checks.append(Check("mutants", False, f"no mutants in tests/mutants/{exercise.id}/"))
        for mutant in mutants:
            result, seconds = _timed(lambda: grade_exercise(exercise, ctx, mutant, stop_at_first_failure=True))
            v.checks.append(_mutant_check(mutant, result, seconds))
    finally:
        ctx.settings.seed = original_seed
    return v


def validate_all(exercises: list[Exercise], settings: Settings, seeds: tuple[int, ...] = (0,),
                 jobs: int = 1) -> Iterator[Validation]:
    """Validate each exercise, yielded in the order given. With jobs > 1, that many processes
    validate at once, each with its own RunContext (and fork server) kept across its exercises."""
    if jobs <= 1 or len(exercises) <= 1:
        ctx = RunContext(settings)
        try:
            yield from (validate_exercise(exercise, ctx, seeds) for exercise in exercises)
        finally:
            ctx.close()
        return
    spawn = multiprocessing.get_context("spawn")  # never fork a process that holds torch and threads
    pool = ProcessPoolExecutor(min(jobs, len(exercises)), mp_context=spawn, initializer=_start_job,
                               initargs=(settings,))
    try:
        futures = [pool.submit(_validate_in_job, exercise, seeds) for exercise in exercises]
        yield from (future.result() for future in futures)
    finally:  # also when the caller stops early: what has not started never will
        pool.shutdown(cancel_futures=True)


_job_context: RunContext | None = None


def _start_job(settings: Settings) -> None:
    """In a validation process: its RunContext, closed when the process ends."""
    global _job_context
    _job_context = RunContext(settings)
    atexit.register(_job_context.close)


def _validate_in_job(exercise: Exercise, seeds: tuple[int, ...]) -> Validation:
    return validate_exercise(exercise, _job_context, seeds)


def _timed(fn):
    start = clock.monotonic()
    result = fn()
    return result, clock.monotonic() - start


def _files_check(exercise: Exercise, ctx: RunContext) -> Check:
    needed = [exercise.path / "README.md", exercise.stub, ctx.reference_path(exercise)]
    missing = [str(p) for p in needed if not p.is_file()]
    if not exercise.test_files:
        missing.append(f"{exercise.path}/test_*.py")
    return Check("files", not missing, "missing: " + ", ".join(missing) if missing else "all present")


def _names_check(exercise: Exercise, ctx: RunContext) -> Check:
    """The interface names appear in the stub, the reference and the README alike."""
    problems = []
    for label, path in (("stub", exercise.stub), ("reference", ctx.reference_path(exercise))):
        problems += [f"{label}: {f.message}" for f in static_checks.scan_file(path, (), exercise.names)]
    readme = exercise.path / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    problems += [f"README.md does not mention {name}" for name in exercise.names if name not in text]
    if not exercise.names:
        problems.append("exercise.toml lists no [interface] names")
    return Check("names", not problems, "; ".join(problems) or ", ".join(exercise.names))


def _categories_check(exercise: Exercise, reference_run: ExerciseResult) -> Check:
    """Every category is tested or declared not applicable with a reason; every test has one."""
    tested = {t.category for t in reference_run.tests}
    problems = [f"{t.name} has no @pytest.mark.category" for t in reference_run.tests if t.category not in CATEGORIES]
    for category in CATEGORIES:
        if category not in tested and not exercise.not_applicable.get(category, "").strip():
            problems.append(f"no {category} test and no [not_applicable] reason")
        if category in tested and category in exercise.not_applicable:
            problems.append(f"{category} is tested but also declared not applicable")
    covered = ", ".join(f"{c}: {sum(t.category == c for t in reference_run.tests)}" for c in CATEGORIES if c in tested)
    return Check("categories", not problems, "; ".join(problems) or covered)


def _reference_check(result: ExerciseResult, seed: int, seconds: float) -> Check:
    bad = [t for t in result.tests if t.status != "pass"]
    if result.error:
        return Check(f"reference (seed {seed})", False, result.error, seconds)
    detail = (f"{len(result.tests)} tests pass" if not bad else
              "; ".join(f"{t.name}: {t.status}: {_first_line(t.message)}" for t in bad))
    return Check(f"reference (seed {seed})", not bad and bool(result.tests), detail, seconds)


def _stub_check(result: ExerciseResult, seconds: float) -> Check:
    """Clean failure: every test fails or errors in the candidate, none in the test code."""
    if result.error:
        return Check("stub", False, f"the grader could not run it: {result.error}", seconds)
    passed = [t.name for t in result.tests if t.status == "pass"]
    unclean = [t.name for t in result.tests if t.status == "error" and t.origin != "candidate"]
    ok = not passed and not unclean and bool(result.tests)
    detail = (f"{len(result.tests)} tests fail cleanly" if ok else
              f"passed: {passed or 'none'}; errors outside the candidate: {unclean or 'none'}")
    return Check("stub", ok, detail, seconds)


def _mutant_check(mutant: Path, result: ExerciseResult, seconds: float) -> Check:
    name = f"mutant {mutant.stem}"
    if result.error:
        return Check(name, False, f"the grader could not run it: {result.error}", seconds)
    caught = [t for t in result.tests if t.status in ("fail", "error")]
    about = _docstring(mutant)
    if not caught:
        return Check(name, False, f"NOT caught: every test passed ({about})", seconds)
    return Check(name, True, f"caught by {caught[0].name} ({about})", seconds)


def _docstring(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        doc = ""
    return _first_line(doc) or path.stem


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
