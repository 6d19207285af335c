"""`grade validate`: every exercise proves itself. Its files and names agree, its reference
passes its whole suite on every seed asked for, its stub fails cleanly, each of its mutants
(known mistakes, tests/mutants/<id>.toml: `grader.mistakes`) fails at least one test, each of
its correct alternatives (tests/alternatives/<id>/*.py) passes in full, and value-free variants
(a constant output, a NaN output: `grader.variants`) and the mutants that reach a forbidden
operation indirectly (`indirect_*`; also an exercise's own `constant_output`/`nan_output`)
fail and score at most MAX_SCORE_OF_NOTHING.

A mutant's verdict is found cheapest first (one-case tests, then drawn cases, then training: see
pytest_plugin.cost_rank), without shrinking. With `diagnoses`, each nameable mutant is graded
instead as a candidate is (file order until its first failure, that example shrunk): its first
failure, what `grade` matches a failing candidate against, is cached, and the mistakes that fail
identically are reported; every test before the catching one then runs in full (over the
catalog, about twice the verdicts' time)."""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tempfile

from grader import clock, credit, diagnosis, mistakes, parallel, static_checks, variants
from grader.categories import CATEGORIES
from grader.discovery import Exercise
from grader.results import ExerciseResult
from grader.runner import grade_exercise
from grader.session import RunContext, Settings


MAX_SCORE_OF_NOTHING = 0.10  # share of the points a value-free or forbidden solution may keep
VALUELESS = diagnosis.VALUELESS  # an exercise's own constant_output / nan_output, where it ships them


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


def alternatives_of(exercise: Exercise) -> list[Path]:
    """Correct solutions kept in idioms the reference does not use; each must pass in full."""
    return sorted((exercise.root / "tests" / "alternatives" / exercise.id).glob("*.py"))


def mistakes_of(exercise: Exercise) -> list[mistakes.Mistake]:
    return mistakes.load(mistakes.path_for(exercise.root, exercise.id))


def validate_exercise(exercise: Exercise, ctx: RunContext, seeds: tuple[int, ...] = (0,),
                      diagnoses: bool = False) -> Validation:
    """Run every check for `exercise`: the reference on each of `seeds`, everything else on the
    first; with `diagnoses`, also each known mistake's first failure (see the module's docstring)."""
    v = Validation(exercise.id, [_files_check(exercise, ctx), _names_check(exercise, ctx)])
    runs = []
    for seed in seeds:
        result, seconds = _timed(lambda: grade_exercise(exercise, ctx, ctx.reference_path(exercise), own_files=True,
                                                        seed=seed))
        runs.append(result)
        v.checks.append(_reference_check(result, seed, seconds))
    seed = seeds[0]
    v.checks.append(_categories_check(exercise, runs[0]))
    result, seconds = _timed(lambda: grade_exercise(exercise, ctx, exercise.stub, seed=seed))
    v.checks.append(_stub_check(result, seconds))
    known = _known_mistakes(exercise, v)
    if not known:
        v.checks.append(Check("mutants", False, f"no known mistakes in tests/mutants/{exercise.id}.toml"))
    found: dict[str, diagnosis.Fingerprint] = {}
    with tempfile.TemporaryDirectory(prefix="grader-mutants-") as folder:
        v.checks += [_check_mistake(exercise, ctx, seed, m, Path(folder), found if diagnoses else None)
                     for m in known]
    if known and diagnoses:
        v.checks.append(_diagnoses_check(known, found))
    v.checks += _alternative_checks(exercise, ctx, seed)
    v.checks += _variant_checks(exercise, ctx, seed, {m.name for m in known})
    return v


def validate_all(exercises: list[Exercise], settings: Settings, seeds: tuple[int, ...] = (0,),
                 jobs: int = 1, diagnoses: bool = False) -> Iterator[Validation]:
    """Validate each exercise, yielded in the order given. With jobs > 1, that many processes
    validate at once, each with its own RunContext (and fork server) kept across its exercises."""
    yield from parallel.each_in_context(functools.partial(validate_exercise, seeds=seeds, diagnoses=diagnoses),
                                        exercises, settings, jobs)


def _known_mistakes(exercise: Exercise, v: Validation) -> list[mistakes.Mistake]:
    """The exercise's mistakes data; a file that cannot be read or an entry without both
    sentences is a failed check."""
    try:
        known = mistakes_of(exercise)
    except mistakes.MistakeError as e:
        v.checks.append(Check("mutants", False, str(e)))
        return []
    problems = [p for m in known for p in m.problems()]
    if problems:
        v.checks.append(Check("mutants", False, "; ".join(problems)))
    return known


def _check_mistake(exercise: Exercise, ctx: RunContext, seed: int, mistake: mistakes.Mistake, folder: Path,
                   found: dict | None) -> Check:
    """The mistake still applies to the reference and is caught by some test; one that reaches a
    forbidden operation (or has no values) must also score (near) nothing. With `found`, a nameable
    mistake's first failure is found as a candidate's is (file order, examples shrunk): its
    fingerprint goes to `found` and to the diagnosis cache; without, only its verdict, cheapest first."""
    name = f"mutant {mistake.name}"
    try:
        submission = mistakes.write(mistake, ctx.reference_path(exercise), folder)
    except mistakes.MistakeError as e:
        return Check(name, False, str(e))
    scored = not diagnosis.is_nameable(mistake)  # graded in full: its score counts
    as_candidate = not scored and found is not None  # file order, shrunk: its first failure counts
    result, seconds = _timed(lambda: grade_exercise(
        exercise, ctx, submission, seed=seed, stop_at_first_failure=not scored, shrink=as_candidate,
        cheap_first=not scored and not as_candidate))
    if scored:
        return _scored_check(name, result, seconds)
    if not as_candidate:
        return _caught_check(name, mistake.en, result, seconds)
    fp = diagnosis.fingerprint(result)
    if fp is not None and not result.error:
        found[mistake.name] = fp
        diagnosis.remember(exercise, ctx, mistake, seed, fp)
    return _caught_check(name, mistake.en, result, seconds)


def _diagnoses_check(known: list[mistakes.Mistake], found: dict) -> Check:
    """A candidate making a known mistake is told so: each nameable mistake's first failure names
    it (with the others that fail identically there, which a candidate is told as "one of")."""
    nameable = [m for m in known if diagnosis.is_nameable(m)]
    missing = [m.name for m in nameable if m.name not in found
               or m.name not in diagnosis.match(found[m.name], found, nameable).names]
    groups = sorted({tuple(diagnosis.match(fp, found, nameable).names) for fp in found.values()})
    shared = [" = ".join(g) for g in groups if len(g) > 1]
    detail = (f"{len(nameable) - len(missing)}/{len(nameable)} named by their first failure"
              + (f"; told as one of: {'; '.join(shared)}" if shared else "; each told apart"))
    return Check("diagnoses", not missing, detail + (f"; NOT named: {', '.join(missing)}" if missing else ""))


def _alternative_checks(exercise: Exercise, ctx: RunContext, seed: int) -> list[Check]:
    """Every kept alternative passes every test; an exercise keeps at least one."""
    paths = alternatives_of(exercise)
    if not paths:
        return [Check("alternatives", False, f"no correct alternative in tests/alternatives/{exercise.id}/")]
    checks = []
    for path in paths:
        result, seconds = _timed(lambda: grade_exercise(exercise, ctx, path, own_files=True, seed=seed))
        bad = [t for t in result.tests if t.status != "pass"]
        detail = result.error or ("; ".join(f"{t.name}: {t.status}: {_first_line(t.message)}" for t in bad)
                                  or f"{len(result.tests)} tests pass")
        checks.append(Check(f"alternative {path.stem}", not result.error and not bad and bool(result.tests),
                            detail, seconds))
    return checks


def _variant_checks(exercise: Exercise, ctx: RunContext, seed: int, shipped: set[str]) -> list[Check]:
    """The reference with its values taken away must fail and score (near) nothing (an exercise
    may ship its own mutant of the same name instead, where values live in side effects)."""
    checks = []
    with tempfile.TemporaryDirectory(prefix="grader-variants-") as folder:
        for path in variants.write(ctx.reference_path(exercise), Path(folder)):
            if path.stem in shipped:
                continue
            # Only the value tests: when none of them passes, grader.credit gives the whole suite
            # 0 points, so this proves the variant's full score is 0 at half the cost.
            result, seconds = _timed(lambda: grade_exercise(exercise, ctx, path, seed=seed, shrink=False,
                                                            categories=credit.VALUE_CATEGORIES))
            checks.append(_valueless_check(f"variant {path.stem}", result, seconds))
    return checks



def _valueless_check(name: str, result: ExerciseResult, seconds: float) -> Check:
    if result.error:
        return Check(name, False, f"the grader could not run it: {result.error}", seconds)
    passed = [t.name for t in result.tests if t.status == "pass"]
    if passed or not result.tests:
        return Check(name, False, f"NOT near zero: value tests passed: {passed or 'none ran'}", seconds)
    return Check(name, True, f"scores 0: none of its {len(result.tests)} value tests passes", seconds)


def _scored_check(name: str, result: ExerciseResult, seconds: float) -> Check:
    """Caught, and worth at most MAX_SCORE_OF_NOTHING of the points."""
    if result.error:
        return Check(name, False, f"the grader could not run it: {result.error}", seconds)
    share = result.score / result.max_score if result.max_score else 0.0
    earners = [t.name for t in result.tests if t.earned > 0]
    ok = result.status == "fail" and share <= MAX_SCORE_OF_NOTHING
    detail = f"scores {result.score:g}/{result.max_score:g}" + (f" (points from {', '.join(earners)})" if earners else "")
    return Check(name, ok, detail if ok else f"NOT near zero: {detail}", seconds)


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
    detail = (f"{len(result.tests)} tests fail cleanly, score {result.score:g}/{result.max_score:g}" if ok else
              f"passed: {passed or 'none'}; errors outside the candidate: {unclean or 'none'}")
    return Check("stub", ok, detail, seconds)


def _caught_check(name: str, about: str, result: ExerciseResult, seconds: float) -> Check:
    if result.error:
        return Check(name, False, f"the grader could not run it: {result.error}", seconds)
    caught = [t for t in result.tests if t.status in ("fail", "error") and t.message != credit.NOT_CREDITED]
    if not caught:
        return Check(name, False, f"NOT caught: every test passed ({about})", seconds)
    return Check(name, True, f"caught by {caught[0].name} ({about})", seconds)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
