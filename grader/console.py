"""Plain-text tables for the terminal: grading results, the catalog and validation checks."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from grader import i18n, results

if TYPE_CHECKING:  # `grade list` and `grade --help` must not import the grading machinery (torch)
    from grader.discovery import Exercise
    from grader.results import ExerciseResult, RunResult
    from grader.validate import Validation

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow", "not_run": "yellow", "not_submitted": "yellow"}
MESSAGE_LINES = 4


def _badge(status: str) -> str:
    return click.style(f"{status.upper().replace('_', ' '):5}", fg=STYLE.get(status, "white"), bold=True)


def print_run(run: RunResult, verbose: bool = False, err: bool = False, lang: str = "en") -> None:
    """Per-test table and score of every exercise, then the run's summary (on stderr with `err`,
    when stdout carries a --json/--junit/--report written to '-'), its words in `lang`."""
    def echo(line: str = "") -> None:
        click.echo(line, err=err)

    _ = i18n.translator(lang)
    for ex in run.exercises:
        print_exercise(ex, verbose, echo, lang)
    s = run.summary()
    counts = ", ".join(f"{s[k]} {_(w)}" for k, w in (("pass", "passed"), ("fail", "failed"), ("error", "errors"),
                                                    ("skip", "skipped"), ("not_run", "not run")))
    echo(f"\n{_badge(s['status'])} {_('score')} {s['score']:g}/{s['max_score']:g} · {counts} · {run.duration:.1f} s")


def print_exercise(ex: ExerciseResult, verbose: bool, echo=click.echo, lang: str = "en") -> None:
    _ = i18n.translator(lang)
    echo(click.style(f"\n{ex.id}", bold=True) + f"  {ex.title} / {ex.title_zh}")
    if ex.status == "not_submitted":
        folder = Path(ex.submission).parent
        echo(f"  {_badge('not_submitted')} (no {folder / ex.id}.py or {folder / ex.id / 'solution.py'}) · "
             f"score 0/{ex.max_score:g}")
        return
    echo(f"  {_('submission')}: {ex.submission}")
    if ex.error:
        echo(f"  {_badge('error')} {_('the grader could not grade this exercise')}:\n    {ex.error}")
        return
    for f in ex.static_findings:
        echo(f"  ! line {f['line']}: {f['message']}")
    if ex.likely_mistake:
        _print_likely_mistake(ex.likely_mistake, echo, lang)
    ran = [t for t in ex.tests if t.status != "not_run"]
    width = max((len(t.name) for t in ran), default=10)
    told: dict[str, str] = {}  # cause -> the test whose message told it
    for t in ran:
        echo(f"  {_badge(t.status)} {t.category:11} {t.name:{width}}  {t.duration:5.2f}s  {t.earned:g}/{t.points:g}")
        if t.status not in ("fail", "error"):
            continue
        cause = results.failure_cause(t)
        if cause in told and not verbose:  # one bug, one story: the first failure of a kind tells it
            echo(f"        {_('same kind of failure as')} {told[cause]} ({cause})")
            continue
        told.setdefault(cause, t.name)
        lines = t.message.splitlines()
        cases = [x for x in lines[MESSAGE_LINES:] if x.strip().startswith("case:")]
        shown = lines if verbose else lines[:MESSAGE_LINES] + cases
        for line in shown:  # the case a failure was found on is always shown
            echo(f"        {line}")
        if t.falsifying_example and verbose:
            echo("        " + t.falsifying_example.replace("\n", "\n        "))
    not_run = [t for t in ex.tests if t.status == "not_run"]
    if not_run:  # one line, not one per test: they all share the reason
        echo(f"  {_badge('not_run')} {len(not_run)} {_('more tests')} ({sum(t.points for t in not_run):g} {_('points')}): "
             f"{not_run[0].message.removeprefix('not run: ')}")
    for category, reason in ex.not_applicable.items():
        echo(f"  n/a   {category:11} {reason}")
    first = next((t for t in ran if t.status in ("fail", "error") and t.reproduce), None)
    if first is not None:
        echo(f"  {_('rerun the first failure')}: {first.reproduce}")
    c = ex.counts()
    echo(f"  {_('score')} {ex.score:g}/{ex.max_score:g} · {c['pass']}/{len(ex.tests)} {_('tests passed')} · "
         f"{ex.duration:.1f} s")
    if ex.practice:
        echo(f"  {_('practice')}: {_('attempt')} {ex.practice['attempts']} · {ex.practice['hints_used']} {_('hints used')}")


def print_catalog(exercises: list[Exercise]) -> None:
    """One row per exercise: id, difficulty, titles and seed sources."""
    width = max((len(e.id) for e in exercises), default=10)
    for e in exercises:
        click.echo(f"{e.id:{width}}  {e.difficulty:6}  {e.title} / {e.title_zh}  [{' '.join(e.sources)}]")
    click.echo(f"{len(exercises)} exercises")


def print_progress(data: dict) -> None:
    """The practice summary: attempts and streak, best score per exercise, per-tag mastery, what next."""
    click.echo(f"{data['attempts']} attempts; streak {data['streak_days']} day(s)")
    for ex, row in data["exercises"].items():
        review = f"  review {row['due']}" if "due" in row else ""
        click.echo(f"  {ex}  best {row['best_score']:g}/{row['max_score']:g}  {row['attempts']} attempt(s)"
                   f"  {row['hints_used']} hint(s)  last {row['last']}{review}")
    weak = sorted(data["tags"].items(), key=lambda item: (item[1]["mastery"], item[0]))
    if weak:
        click.echo("mastery by tag (weakest first): " + ", ".join(
            f"{tag} {v['mastery']:.0%} ({v['tried']}/{v['of']} tried)" for tag, v in weak[:8]))
    if data.get("due"):
        click.echo("due for review: " + ", ".join(data["due"]))
    click.echo(f"drill next: {data['next'] or 'nothing left'}")


def print_interview(data: dict) -> None:
    """An interview's report: per exercise, passed or not, minutes to the first pass, best score."""
    click.echo(f"interview {data['id']}: {data['passed']}/{data['of']} passed "
               f"({data['started_at']} to {data['ends_at']})")
    for row in data["exercises"]:
        when = f"passed after {row['minutes_to_pass']:g} min" if row["passed"] else "not passed in time"
        click.echo(f"  {row['exercise']}  {when}  best {row['best_score']:g}/{row['max_score']:g}"
                   f"  {row['attempts']} attempt(s)")


def _print_likely_mistake(likely: dict, echo, lang: str = "en") -> None:
    """The known mistake the failures look like, in both languages (`lang` first), and why we think so."""
    _ = i18n.translator(lang)
    one = len(likely["names"]) == 1
    echo(click.style(f"  {_('This looks like a known mistake')}{'' if one else ' ' + _('(one of these)')}:",
                     fg="yellow", bold=True))
    for name, en, zh in zip(likely["names"], likely["en"], likely["zh"]):
        first, second = (zh, en) if lang == "zh" else (en, zh)
        echo(f"    {name}: {first}")
        echo(f"    {' ' * len(name)}  {second}")
    echo(f"    ({likely['evidence']})")


def print_validation(v: Validation) -> None:
    click.echo(click.style(f"\n{v.exercise}", bold=True) + ("  ok" if v.ok else click.style("  FAILED", fg="red")))
    for c in v.checks:
        mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red", bold=True)
        timing = f" ({c.duration:.1f} s)" if c.duration else ""
        click.echo(f"  {mark} {c.subject}: {c.detail}{timing}")


class Progress:
    """What the grader is doing, on stderr while it grades. On a terminal: one live line (exercise,
    test n of N, the test's name), rewritten in place and erased at the end. Elsewhere (CI logs):
    one plain line per exercise, no carriage returns."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.exercise, self.position, self.count, self.total = "", 0, 0, 0

    def start(self, exercise_id: str, position: int, count: int) -> None:
        self.exercise, self.position, self.count, self.total = exercise_id, position, count, 0
        if self.live:
            self._write(f"\r\x1b[K{self._where()}{exercise_id}  collecting tests")

    def collected(self, total: int, note: str = "") -> None:
        self.total = total
        if not self.live:
            self._write(f"grading {self._where()}{self.exercise}: {note or f'{total} tests'}\n")

    def test(self, n: int, name: str) -> None:
        if self.live:
            width = max(20, shutil.get_terminal_size().columns - 1)
            self._write("\r\x1b[K" + f"{self._where()}{self.exercise}  test {n}/{self.total}  {name}"[:width])

    def _where(self) -> str:
        return f"[{self.position}/{self.count}] " if self.count > 1 else ""

    def finish(self) -> None:
        if self.live:
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: progress is not worth failing for
            pass


class BatchProgress:
    """`grade batch`'s progress on stderr: on a terminal one live bar (done/total, failures,
    errors, time left), rewritten in place; elsewhere (CI logs) one line per candidate."""

    WIDTH = 24

    def __init__(self, stream=None, clock_fn=None):
        from grader import clock

        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.now = clock_fn or clock.monotonic
        self.start, self.failed, self.errors = self.now(), 0, 0

    def __call__(self, row, position: int, total: int) -> None:
        self.failed += row.status == "fail"
        self.errors += row.status == "error"
        elapsed = self.now() - self.start
        left = elapsed / position * (total - position)
        detail = row.error.splitlines()[-1] if row.error else f"{row.score:g}/{row.max_score:g}"
        line = f"[{position}/{total}] {row.candidate}: {row.status} {detail} ({row.seconds:.1f} s) · {left:.0f} s left"
        if not self.live:
            print(line, file=self.stream, flush=True)
            return
        filled = round(self.WIDTH * position / total)
        bar = f"[{'#' * filled}{'-' * (self.WIDTH - filled)}] {position}/{total} · {self.failed} failed · " \
              f"{self.errors} errors · {left:.0f} s left · {row.candidate}"
        end = "\n" if position == total else ""
        print(f"\r\033[K{bar[:shutil.get_terminal_size().columns - 1]}", end=end, file=self.stream, flush=True)

