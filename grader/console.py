"""Plain-text tables for the terminal: grading results, the catalog and validation checks."""
from __future__ import annotations

import click

from grader.discovery import Exercise
from grader.results import ExerciseResult, RunResult
from grader.validate import Validation

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow"}
MESSAGE_LINES = 4


def _badge(status: str) -> str:
    return click.style(f"{status.upper():5}", fg=STYLE.get(status, "white"), bold=True)


def print_run(run: RunResult, verbose: bool = False) -> None:
    """Per-test table and score of every exercise, then the run's summary."""
    for ex in run.exercises:
        print_exercise(ex, verbose)
    s = run.summary()
    click.echo(f"\n{_badge(s['status'])} score {s['score']:g}/{s['max_score']:g} · {s['pass']} passed, "
               f"{s['fail']} failed, {s['error']} errors, {s['skip']} skipped · {run.duration:.1f} s")


def print_exercise(ex: ExerciseResult, verbose: bool) -> None:
    click.echo(click.style(f"\n{ex.id}", bold=True) + f"  {ex.title} / {ex.title_zh}")
    click.echo(f"  submission: {ex.submission}")
    if ex.error:
        click.echo(f"  {_badge('error')} the grader could not grade this exercise:\n    {ex.error}")
        return
    for f in ex.static_findings:
        click.echo(f"  ! line {f['line']}: {f['message']}")
    width = max((len(t.name) for t in ex.tests), default=10)
    for t in ex.tests:
        click.echo(f"  {_badge(t.status)} {t.category:11} {t.name:{width}}  {t.duration:5.2f}s  "
                   f"{t.earned:g}/{t.points:g}")
        if t.status in ("fail", "error"):
            lines = t.message.splitlines()
            for line in lines if verbose else lines[:MESSAGE_LINES]:
                click.echo(f"        {line}")
            if t.falsifying_example and verbose:
                click.echo("        " + t.falsifying_example.replace("\n", "\n        "))
    for category, reason in ex.not_applicable.items():
        click.echo(f"  n/a   {category:11} {reason}")
    c = ex.counts()
    click.echo(f"  score {ex.score:g}/{ex.max_score:g} · {c['pass']}/{len(ex.tests)} tests passed · {ex.duration:.1f} s")


def print_catalog(exercises: list[Exercise]) -> None:
    """One row per exercise: id, difficulty, titles and seed sources."""
    width = max((len(e.id) for e in exercises), default=10)
    for e in exercises:
        click.echo(f"{e.id:{width}}  {e.difficulty:6}  {e.title} / {e.title_zh}  [{' '.join(e.sources)}]")
    click.echo(f"{len(exercises)} exercises")


def print_validation(v: Validation) -> None:
    click.echo(click.style(f"\n{v.exercise}", bold=True) + ("  ok" if v.ok else click.style("  FAILED", fg="red")))
    for c in v.checks:
        mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red", bold=True)
        timing = f" ({c.duration:.1f} s)" if c.duration else ""
        click.echo(f"  {mark} {c.subject}: {c.detail}{timing}")
