"""`grade batch` and `grade merge`: many candidates' submission folders graded into one output
folder (per candidate its JSON, report, JUnit XML and Gradescope file) and a leaderboard."""
from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

from grader import archives, gradescope, leaderboard, parallel, results
from grader.arguments import UsageProblem
from grader.discovery import Exercise
from grader.session import RunContext, Settings


@dataclass(frozen=True)
class Plan:
    """What to grade: exercises (all found, or the ones asked for), and where to write."""

    exercises: tuple[Exercise, ...]
    chosen: bool  # True: every candidate is graded on all `exercises`; False: on those it submitted
    out: Path
    command: str
    audience: str = "grader"  # "candidate": hidden tests' details left out of every output
    lang: str = "en"  # of each candidate's report


def candidates(submissions: Path, shard: tuple[int, int] = (0, 1)) -> list[Path]:
    """The candidates (sub-folders and archives, sorted by name); of shard (i, n), candidate k when k % n == i."""
    if not submissions.is_dir():
        raise UsageProblem(f"{submissions}: not a folder of candidate folders")
    folders = sorted((p.absolute() for p in submissions.iterdir()
                      if (p.is_dir() or archives.is_archive(p)) and not p.name.startswith(".")),
                     key=archives.candidate_name)
    names = [archives.candidate_name(p) for p in folders]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageProblem(f"{submissions}: more than one folder or archive for candidate(s) {', '.join(twice)}")
    if not folders:
        raise UsageProblem(f"{submissions} holds no candidate folder or archive")
    index, count = shard
    return [folder for k, folder in enumerate(folders) if k % count == index]


def parse_shard(text: str | None) -> tuple[int, int]:
    """--shard i/n, 0 <= i < n."""
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageProblem(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if not 0 <= index < count:
        raise UsageProblem(f"--shard {text!r}: need 0 <= i < n")
    return index, count


def select(exercises: list[Exercise], ids: tuple[str, ...]) -> tuple[Exercise, ...]:
    known = {e.id: e for e in exercises}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageProblem(f"--exercise {', '.join(unknown)}: no such exercise (known: {', '.join(known)})")
    return tuple(known[i] for i in ids) if ids else tuple(exercises)


def check_references(plan: Plan, settings: Settings) -> None:
    """Every exercise of the plan has its reference: else no candidate could be graded."""
    probe = RunContext(settings)
    missing = [str(probe.reference_path(e)) for e in plan.exercises if not probe.reference_path(e).is_file()]
    if missing:
        raise UsageProblem(f"no reference solution: {', '.join(missing)} does not exist")


def is_done(folder: Path, out: Path) -> bool:
    """Graded already: its results.json is newer than every file of its submission folder."""
    marker = out / archives.candidate_name(folder) / leaderboard.RESULTS
    if not marker.is_file():
        return False
    files = [folder] if archives.is_archive(folder) else folder.rglob("*")
    newest = max((p.lstat().st_mtime for p in files), default=0.0)
    return marker.stat().st_mtime > newest


def run_batch(folders: list[Path], plan: Plan, settings: Settings, jobs: int, report=None) -> list[leaderboard.Row]:
    """Grade each folder not done yet (`report(row, position, total)` hears of each), then write the
    leaderboard of all `folders`; returns its rows."""
    todo = [f for f in folders if not is_done(f, plan.out)]
    for position, row in enumerate(parallel.each_in_context(grade_candidate, [(f, plan) for f in todo], settings, jobs), 1):
        if report is not None:
            report(row, position, len(todo))
    rows = [leaderboard.read_row(plan.out / archives.candidate_name(f)) for f in folders]
    leaderboard.write(plan.out, rows)
    return rows


def grade_candidate(task: tuple[Path, Plan], ctx: RunContext) -> leaderboard.Row:
    """Grade one candidate folder and write its outputs; anything going wrong is that candidate's
    error row (written to its error.txt), never the end of the batch."""
    folder, plan = task
    out = plan.out / archives.candidate_name(folder)
    shutil.rmtree(out, ignore_errors=True)
    try:
        if archives.is_archive(folder):  # unpacked beside its outputs, graded as a folder
            folder = archives.unpack(folder, plan.out / ".unpacked" / out.name)
        run = results.for_audience(_graded(folder, plan, ctx), plan.audience)
        results.write_junit(run, out / "junit.xml", candidate=out.name)
        gradescope.write_gradescope(run, out / "gradescope.json")
        from grader.report import write_report

        write_report(run, out / leaderboard.REPORT, plan.lang)
        results.write_json(run, out / leaderboard.RESULTS)  # last: its presence means done
    except archives.ArchiveRefused as e:
        results.write_text(out / leaderboard.ERROR, f"archive refused: {e}\n")
    except Exception:
        results.write_text(out / leaderboard.ERROR, traceback.format_exc())
    return leaderboard.read_row(out)


def _graded(folder: Path, plan: Plan, ctx: RunContext) -> results.RunResult:
    from grader.runner import run_grading

    exercises = list(plan.exercises if plan.chosen else [e for e in plan.exercises if ctx.find_submission(e, folder)])
    if not exercises:
        raise ValueError(f"{folder.name} holds no submission (expected <id>.py or <id>/solution.py)")
    return run_grading(exercises, ctx, command=plan.command, folder=folder)


def merge(shards: list[Path], out: Path) -> list[leaderboard.Row]:
    """Combine the candidate folders of shard outputs into `out`, and write its leaderboard."""
    folders: dict[str, Path] = {}
    for shard in shards:
        if not shard.is_dir():
            raise UsageProblem(f"{shard}: not a batch output folder")
        for folder in sorted(p for p in shard.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if folder.name in folders:
                raise UsageProblem(f"candidate {folder.name} is in both {folders[folder.name].parent} and {shard}")
            folders[folder.name] = folder
    for name, folder in folders.items():
        if folder.resolve() != (out / name).resolve():
            shutil.copytree(folder, out / name, dirs_exist_ok=True)
    rows = [leaderboard.read_row(out / name) for name in sorted(folders)]
    leaderboard.write(out, rows)
    return rows
