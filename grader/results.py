"""Results of a grading run: the data model, its JSON document and its JUnit XML form.

The JSON field names are a contract (reports, CI and progress tracking read them);
SCHEMA names their version.
"""
from __future__ import annotations

import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

SCHEMA = "grader-results/1"
STATUSES = ("pass", "fail", "error", "skip", "not_run")
STDOUT = "-"  # an output path meaning standard output
AUDIENCES = ("grader", "candidate")  # who reads the outputs: a candidate never sees a hidden test's details


@dataclass
class TestResult:
    """One test. status: pass | fail | error | skip | not_run (the submission was not submitted, or an
    earlier test found that it does not import); origin of an error: candidate | test | setup."""

    __test__ = False  # not a pytest test class, despite its name

    name: str
    nodeid: str
    category: str
    status: str
    message: str = ""
    duration: float = 0.0
    points: float = 1.0
    earned: float = 0.0
    details: str = ""
    origin: str = ""
    diagnostics: dict | None = None
    falsifying_example: str = ""
    output: str = ""
    artifacts: dict = field(default_factory=dict)
    reproduce: str = ""
    hidden: bool = False  # from a test_hidden_*.py file: its details are for graders only


@dataclass
class ExerciseResult:
    """All tests of one exercise for one submission. status: pass | fail | error | not_submitted."""

    id: str
    title: str
    title_zh: str
    difficulty: str
    submission: str
    status: str = "pass"
    error: str = ""  # why the grader could not grade this exercise (then status is "error")
    duration: float = 0.0
    tests: list[TestResult] = field(default_factory=list)
    static_findings: list[dict] = field(default_factory=list)
    not_applicable: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    likely_mistake: dict | None = None  # grader.diagnosis: names, en, zh, test, evidence
    practice: dict | None = None  # in a learner's workspace: attempts and hints used so far (grader.progress)

    @property
    def score(self) -> float:
        return sum(t.earned for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests if t.status != "skip")

    def counts(self) -> dict:
        return {s: sum(t.status == s for t in self.tests) for s in STATUSES}

    def finish(self) -> "ExerciseResult":
        """Set the overall status from the tests (unless the grader failed)."""
        if not self.error:
            failed = any(t.status in ("fail", "error", "not_run") for t in self.tests)
            self.status = "fail" if failed or not self.tests else "pass"
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(score=self.score, max_score=self.max_score, counts=self.counts())
        return d


@dataclass
class RunResult:
    """One grading run over one or more exercises."""

    started_at: str
    settings: dict
    environment: dict
    exercises: list[ExerciseResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def grader_failed(self) -> bool:
        return any(e.status == "error" for e in self.exercises)

    @property
    def exit_code(self) -> int:
        """0 every graded test passed, 1 some failed, 2 the grader could not run."""
        if self.grader_failed or not self.exercises:
            return 2
        return 0 if all(e.status == "pass" for e in self.exercises) else 1

    def summary(self) -> dict:
        tests = [t for e in self.exercises for t in e.tests]
        return {
            "status": {0: "pass", 1: "fail", 2: "error"}[self.exit_code],
            "exit_code": self.exit_code,
            "exercises": len(self.exercises),
            "exercises_passed": sum(e.status == "pass" for e in self.exercises),
            "tests": len(tests),
            **{s: sum(t.status == s for t in tests) for s in STATUSES},
            "score": sum(e.score for e in self.exercises),
            "max_score": sum(e.max_score for e in self.exercises),
            "duration": self.duration,
        }

    def to_dict(self) -> dict:
        from grader import __version__

        return {
            "schema": SCHEMA,
            "tool": {"name": "grader", "version": __version__},
            "started_at": self.started_at,
            "settings": self.settings,
            "environment": self.environment,
            "exercises": [e.to_dict() for e in self.exercises],
            "summary": self.summary(),
        }


def failure_cause(test) -> str:
    """What a failed test (a TestResult or its dict) is about: the quantity it compared, else its
    message's first line with the numbers taken out. Failures with one cause tell one story."""
    get = test.get if isinstance(test, dict) else lambda key: getattr(test, key)
    quantity = (get("diagnostics") or {}).get("quantity")
    if quantity:
        return str(quantity)
    message = (get("message") or "").strip()
    return re.sub(r"[-+]?\d[\d.e+-]*", "N", message.splitlines()[0] if message else get("status"))[:80]


def stories(tests: list) -> list[int | None]:
    """For each test: None when its failure is told in full (passed tests too), else the index of
    the earlier failed test of the same cause that tells it."""
    first: dict[str, int] = {}
    told = []
    for i, t in enumerate(tests):
        status = t.get("status") if isinstance(t, dict) else t.status
        if status not in ("fail", "error"):
            told.append(None)
            continue
        cause = failure_cause(t)
        told.append(first.get(cause))
        first.setdefault(cause, i)
    return told


def for_audience(run: RunResult, audience: str) -> RunResult:
    """The run as `audience` may see it: for a candidate, each hidden test keeps only its
    category, status, points and time, under a neutral name (no inputs, expected values,
    falsifying example, output, pictures or command that would show what it checks)."""
    if audience == "grader":
        return run
    return replace(run, exercises=[_redacted_exercise(e) for e in run.exercises])


def _redacted_exercise(e: ExerciseResult) -> ExerciseResult:
    tests = _redacted(e.tests)
    likely = e.likely_mistake
    if likely:  # where the match was found: a hidden test keeps its neutral name
        renamed = {old.name: new.name for old, new in zip(e.tests, tests)}
        likely = {**likely, "test": renamed.get(likely["test"], likely["test"])}
        if likely["test"] != e.likely_mistake["test"]:
            likely["evidence"] = "its first failure, in a hidden test, is exactly this mistake's"
    return replace(e, tests=tests, likely_mistake=likely)


def _redacted(tests: list[TestResult]) -> list[TestResult]:
    shown, count = [], 0
    for t in tests:
        if t.hidden:
            count += 1
            t = TestResult(name=f"hidden_test_{count}", nodeid=f"hidden_test_{count}", category=t.category,
                           status=t.status, message=f"hidden test: {t.status} (its details are not shown)",
                           duration=t.duration, points=t.points, earned=t.earned, origin=t.origin, hidden=True)
        shown.append(t)
    return shown


def write_json(run: RunResult, path: Path | str) -> None:
    write_text(path, json_text(run))


def json_text(run: RunResult) -> str:
    """Strict JSON: non-finite numbers become the strings "inf", "-inf" and "nan"."""
    return json.dumps(_finite(run.to_dict()), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def write_text(path: Path | str, text: str) -> None:
    """Write an output file as UTF-8 (its folder created if missing); "-" writes to standard output."""
    if str(path) == STDOUT:
        sys.stdout.buffer.write(text.encode("utf-8", "replace"))
        sys.stdout.flush()
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8", errors="replace")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_junit(run: RunResult, path: Path | str, candidate: str = "") -> None:
    write_text(path, junit_text(run, candidate))


def junit_text(run: RunResult, candidate: str = "") -> str:
    """JUnit XML: one <testsuite> per exercise, one <testcase> per test (not run: a failure).
    With `candidate`, suite names are `candidate/exercise` (merged files do not collide) and
    points are properties: candidate, score and max_score per suite, points and earned per test."""
    suites = ET.Element("testsuites", name=f"grader {candidate}".strip(), tests=str(run.summary()["tests"]),
                        time=f"{run.duration:.3f}")
    for ex in run.exercises:
        counts = ex.counts()
        suite = ET.SubElement(suites, "testsuite", name=f"{candidate}/{ex.id}" if candidate else ex.id,
                              tests=str(len(ex.tests)), failures=str(counts["fail"] + counts["not_run"]),
                              errors=str(counts["error"] + bool(ex.error)), skipped=str(counts["skip"]),
                              time=f"{ex.duration:.3f}")
        if candidate:
            _properties(suite, candidate=candidate, score=f"{ex.score:g}", max_score=f"{ex.max_score:g}")
        if ex.error:
            ET.SubElement(suite, "error", message=_clean(ex.error))
        for t in ex.tests:
            case = ET.SubElement(suite, "testcase", classname=f"{ex.id}.{t.category}", name=t.name,
                                 time=f"{t.duration:.3f}")
            if candidate:
                _properties(case, points=f"{t.points:g}", earned=f"{t.earned:g}")
            if t.status in ("fail", "error", "not_run"):
                tag = "error" if t.status == "error" else "failure"
                node = ET.SubElement(case, tag, message=_clean(t.message.splitlines()[0] if t.message else t.status))
                node.text = _clean("\n\n".join(x for x in (t.message, t.falsifying_example, t.details) if x))
            elif t.status == "skip":
                ET.SubElement(case, "skipped", message=_clean(t.message))
            if t.output:
                ET.SubElement(case, "system-out").text = _clean(t.output)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _properties(parent: ET.Element, **values: str) -> None:
    node = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(node, "property", name=name, value=_clean(value))


def _clean(text: str) -> str:
    """XML 1.0 forbids most control characters; candidate output may contain any."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 32 else "\ufffd" for c in text)
