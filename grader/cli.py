"""The `grade` command: `grade PATH` grades; list, validate, init, hint and progress are subcommands."""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from grader import arguments, hints, progress, workspace
from grader.discovery import DIFFICULTIES, ExerciseError, discover
from grader.limits import DEFAULTS

EXIT_GRADER_ERROR = 2
OUTPUT_OPTIONS = ("--json", "--junit", "--report")


class DefaultToGrade(click.Group):
    """A group whose first argument, when it is not a subcommand, is the PATH to grade; its help
    is the help of `grade PATH`, which lists the subcommands too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] in ("--help", "-h"):
            args = ["run", "--help"]
        elif args[0] not in self.commands and args[0] != "--version":
            args = ["run", *args]
        return super().parse_args(ctx, args)


class _AsGrade(click.Context):
    """`grade PATH` is the hidden command `run`: usage lines and errors name it `grade`."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent else "grade"


class GradeCommand(click.Command):
    context_class = _AsGrade


@click.group(cls=DefaultToGrade, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytorch-interview-grader")
def main() -> None:
    """Grade PyTorch interview exercises."""


@main.command("run", hidden=True, cls=GradeCommand)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--submission", type=click.Path(path_type=Path),
              help="File to grade (default: the exercise's solution.py); for several exercises, a folder "
                   "holding <id>.py or <id>/solution.py (exercises without one: not submitted).")
@click.option("--solutions", type=click.Path(path_type=Path), help="Folder of reference solutions (default: <project>/solutions).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--seed", default="0", show_default=True, metavar="N",
              help=f"Seed for inputs, models and hypothesis: 0 to {arguments.SEED_MAX}.")
@click.option("--timeout", metavar="SECONDS", help=f"Seconds per call to the candidate, {arguments.TIMEOUT_MIN:g} to "
                                f"{arguments.TIMEOUT_MAX:g} (default: the exercise's, else {DEFAULTS.timeout:g}).")
@click.option("--memory", "memory_mb", metavar="MIB", help=f"Worker memory cap in MiB, {arguments.MEMORY_MIN_MB} to "
                                            f"{arguments.MEMORY_MAX_MB} (default: the exercise's, else {DEFAULTS.memory_mb}).")
@click.option("--isolation/--no-isolation", default=None,
              help="Confine workers with namespaces and user nobody (default: whenever running as root).")
@click.option("--diagnose/--no-diagnose", default=True, show_default=True,
              help="Name the known mistake a failing submission looks like (grades each known mistake once; cached).")
@click.option("--screen/--no-screen", default=True, hidden=True,
              help="Refuse submissions that break the static policy before running them (off: containment tests).")
@click.option("--report", type=click.Path(path_type=Path), help="Write the HTML report here ('-': stdout).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the JSON results here ('-': stdout).")
@click.option("--junit", type=click.Path(path_type=Path), help="Write JUnit XML here ('-': stdout).")
@click.option("-k", "select", metavar="EXPR", help="Only tests matching this pytest -k expression (none matching: exit 2).")
@click.option("-v", "--verbose", is_flag=True, help="Show whole failure messages.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Language of the console and the report (default: from the locale, else en).")
@click.option("--audience", type=click.Choice(["grader", "candidate"]), default="grader", show_default=True,
              help="Who reads the outputs: for a candidate, hidden tests show only their status and points.")
@click.option("--db", type=click.Path(path_type=Path), help=f"Record the attempt in this progress database "
                                                            f"(default: ${progress.DB_ENV}, else the workspace's).")
def grade(path: Path, submission, solutions, device, seed, timeout, memory_mb, isolation, diagnose, screen, report,
          json_path, junit, select, verbose, lang, audience, db):
    """Grade PATH: an exercise folder, or a folder of exercises.

    \b
    grade PATH [OPTIONS]      grade the submission of one exercise, or of every exercise under PATH
    grade list [PATH]         show the catalog
    grade validate [PATH]     prove each exercise: reference passes, stub fails, mutants fail
    grade batch DIR           grade every candidate folder in DIR into a leaderboard
    grade merge OUT... --out  combine `grade batch --shard` outputs into one leaderboard
    grade pack IDS... --out   the folder a candidate receives (no solution, no hidden test)
    grade init DIR            a practice workspace of fresh stubs; inside it `grade ID` grades DIR/ID
    grade hint ID             the exercise's next hint;  grade progress: what practice shows so far
    grade --version           the grader's version

    Exit status: 0 every graded test passed, 1 the candidate failed some, 2 the grader could not run
    (a usage mistake is refused at once, before any grading).
    """
    from grader import console

    try:
        path, submission, db = _in_workspace(path, submission, db)
        exercises, settings, outputs = _checked(path, submission, solutions, device, seed, timeout, memory_mb,
                                                isolation, screen, select, (json_path, junit, report))
        settings.diagnose, settings.lanes = diagnose, 2
    except (arguments.UsageProblem, ExerciseError) as e:
        _fail(str(e))
    from grader.session import RunContext

    ctx = RunContext(settings)
    ctx.worker_pool()  # the fork server imports torch while this process imports its own and collects tests
    from grader.runner import run_grading
    try:
        run = run_grading(exercises, ctx, command=shlex.join(["grade", *sys.argv[1:]]), progress=console.Progress())
    finally:
        ctx.close()
    if not run.exercises:
        _fail(f"-k {select!r} selects no test of {_exercises_phrase(exercises)}")
    _record(run, db)
    from grader import results

    run = results.for_audience(run, audience)
    from grader import i18n

    lang = lang or i18n.default_lang()
    problems = _write_outputs(run, outputs, lang)  # before the console: a printing problem must not lose them
    try:
        console.print_run(run, verbose, err=arguments.STDOUT in outputs.values(), lang=lang)
    except BrokenPipeError:  # `grade ... | head`: the reader left; the verdict still sets the exit status
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    for problem in problems:
        click.echo(f"grade: {problem}", err=True)
    sys.exit(EXIT_GRADER_ERROR if problems else run.exit_code)


def _in_workspace(path: Path, submission, db):
    """Inside a workspace (see grader/workspace.py) PATH names the learner's copy; the database is
    checked writable now, not after the run."""
    space = workspace.find(Path.cwd())
    if space is not None:
        path, submission = workspace.target(space, path, submission)
    db = workspace.database(db, space)
    return path, submission, db if db is None else arguments.writable("--db", db)


def _record(run, db) -> None:
    """Record the attempts in the progress database and note on each result its practice so far
    (attempts, hints used); a failure to record is reported, not a verdict. During an interview
    whose time is up, say that this attempt does not count."""
    from grader import interview

    if db is not None:
        try:
            progress.record_run(run, db)
            conn = progress.connect(db)
            under_way = interview.current(conn)
            for ex in run.exercises:  # shown in this attempt's console, JSON and report
                ex.practice = progress.practice_so_far(conn, ex.id)
            conn.close()
        except (OSError, progress.sqlite3.Error) as e:
            click.echo(f"grade: could not record progress in {db}: {e}", err=True)
            return
        if under_way is not None and interview.time_is_up(under_way):
            click.echo(f"grade: the interview's time was up at {under_way.ends_at}: this attempt does not count; "
                       "`grade drill --end` for the report", err=True)


def _checked(path, submission, solutions, device, seed, timeout, memory_mb, isolation, screen, select, outputs):
    """Every argument checked, in a fraction of a second: (exercises, Settings, {option: path})."""
    from grader.worker import confine
    from grader.session import RunContext, Settings

    exercises = discover(path)
    settings = Settings(seed=arguments.seed(seed), device=device, timeout=arguments.timeout(timeout),
                        memory_mb=arguments.memory(memory_mb), select=arguments.selection(select),
                        solutions=arguments.directory("--solutions", solutions), isolation=isolation,
                        submission=submission, screen=screen)
    probe = RunContext(settings)
    arguments.submission(submission, exercises, probe.find_submission)
    for exercise in exercises:
        if not probe.reference_path(exercise).is_file():
            raise arguments.UsageProblem(f"no reference solution for {exercise.id}: "
                                         f"{probe.reference_path(exercise)} does not exist")
    if isolation and not confine.available():
        raise arguments.UsageProblem("--isolation needs Linux and root (run the grader in a container as root)")
    if device == "cuda" and not _cuda_available():
        raise arguments.UsageProblem("--device cuda was asked for, but CUDA is not available here")
    return exercises, settings, arguments.outputs(dict(zip(OUTPUT_OPTIONS, outputs)), submission)


def _exercises_phrase(exercises) -> str:
    return exercises[0].id if len(exercises) == 1 else f"the {len(exercises)} exercises"


def _write_outputs(run, outputs: dict, lang: str = "en") -> list[str]:
    """Write --json, --junit and --report; returns what could not be written (one line each)."""
    from grader import results

    problems = []
    for option, path in outputs.items():
        try:
            if option == "--report":
                from grader.report import render_report

                results.write_text(path, render_report(run, lang))
            else:
                results.write_text(path, results.json_text(run) if option == "--json" else results.junit_text(run))
        except (OSError, ValueError) as e:
            problems.append(f"could not write {option} {path}: {getattr(e, 'strerror', None) or e}")
    return problems


@main.command("list")
@click.argument("path", type=click.Path(path_type=Path), default="exercises")
def list_exercises(path: Path) -> None:
    """Show the catalog: id, difficulty, titles (English / 中文) and seed sources."""
    from grader import console

    try:
        console.print_catalog(discover(path))
    except ExerciseError as e:
        _fail(str(e))


@main.command("validate")
@click.argument("path", type=click.Path(path_type=Path), default="exercises")
@click.option("--solutions", type=click.Path(path_type=Path), help="Folder of reference solutions.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds the reference must pass on.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Validate this many exercises at once, each in its own process (results print in order).")
@click.option("--diagnoses/--no-diagnoses", default=False, show_default=True,
              help="Also find each known mistake's first failure as a candidate's is found (file order, shrunk): "
                   "cached for grade's likely-mistake diagnosis; reports the mistakes that fail identically (slower).")
def validate(path: Path, solutions, seeds: str, jobs: int, diagnoses: bool) -> None:
    """Prove every exercise under PATH: reference passes, stub fails cleanly, mutants fail."""
    from grader import console
    from grader.session import Settings
    from grader.validate import validate_all

    try:
        seed_list = tuple(arguments.seed(s, "each of --seeds") for s in seeds.split(","))
    except arguments.UsageProblem as e:
        _fail(str(e))
    settings = Settings(seed=seed_list[0], device="cpu", solutions=solutions)
    try:
        outcomes = []
        for outcome in validate_all(discover(path), settings, seed_list, jobs, diagnoses):
            outcomes.append(outcome)
            console.print_validation(outcome)
    except ExerciseError as e:
        _fail(str(e))
    good = sum(v.ok for v in outcomes)
    click.echo(f"\n{good}/{len(outcomes)} exercises validated")
    sys.exit(0 if good == len(outcomes) else 1)


@main.command("batch")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--exercises", "exercises_path", type=click.Path(path_type=Path), default="exercises", show_default=True,
              help="Folder of exercises.")
@click.option("--exercise", "exercise_ids", multiple=True, metavar="ID",
              help="Grade every candidate on this exercise (repeatable; default: the ones each candidate submitted).")
@click.option("--solutions", type=click.Path(path_type=Path), help="Folder of reference solutions.")
@click.option("--seed", default="0", show_default=True, metavar="N", help="Seed for inputs, models and hypothesis.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Grade this many candidates at once, each in its own process.")
@click.option("--out", type=click.Path(path_type=Path), default="batch-out", show_default=True,
              help="Output folder: OUT/<candidate>/ and OUT/leaderboard.csv|html.")
@click.option("--shard", metavar="I/N", help="Grade only candidates k (in name order) with k % N == I.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Language of the console and the report (default: from the locale, else en).")
@click.option("--audience", type=click.Choice(["grader", "candidate"]), default="grader", show_default=True,
              help="Who reads the outputs: for a candidate, hidden tests show only their status and points.")
@click.option("--diagnose/--no-diagnose", default=True, show_default=True,
              help="Name the known mistake a failing submission looks like (grades each known mistake once; cached).")
@click.option("--screen/--no-screen", default=True, hidden=True)
def batch(submissions: Path, exercises_path, exercise_ids, solutions, seed, jobs, out, shard, lang, audience,
          diagnose, screen) -> None:
    """Grade every candidate folder in SUBMISSIONS (each holds <id>.py or <id>/solution.py files).

    A candidate whose results.json is newer than its files is not graded again. Exit status: 0 every
    candidate was graded, 2 the grader could not grade some (their rows say why)."""
    from grader import batch as batching, i18n
    from grader.session import Settings

    try:
        folders = batching.candidates(submissions, batching.parse_shard(shard))
        plan = batching.Plan(batching.select(discover(exercises_path), exercise_ids), bool(exercise_ids),
                             out.absolute(), shlex.join(["grade", *sys.argv[1:]]), audience, lang or i18n.default_lang())
        settings = Settings(seed=arguments.seed(seed), solutions=arguments.directory("--solutions", solutions),
                            screen=screen, diagnose=diagnose)
        batching.check_references(plan, settings)
    except (arguments.UsageProblem, ExerciseError) as e:
        _fail(str(e))
    from grader import console

    rows = batching.run_batch(folders, plan, settings, jobs, report=console.BatchProgress())
    _job_summary(rows)
    click.echo(f"{len(rows)} candidates: {out / 'leaderboard.html'}")
    sys.exit(EXIT_GRADER_ERROR if any(r.status == "error" for r in rows) else 0)


def _job_summary(rows) -> None:
    """In GitHub Actions, the leaderboard also goes to the job's summary page."""
    from grader import job_summary

    try:
        job_summary.append(rows)
    except OSError as e:
        click.echo(f"grade: could not write the job summary: {e}", err=True)


@main.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the merged results.")
def merge(shards, out: Path) -> None:
    """Combine the output folders of `grade batch --shard` runs into one leaderboard."""
    from grader import batch as batching

    try:
        rows = batching.merge(list(shards), out)
    except arguments.UsageProblem as e:
        _fail(str(e))
    _job_summary(rows)
    click.echo(f"{len(rows)} candidates: {out / 'leaderboard.html'}")


@main.command("pack")
@click.argument("exercise_ids", nargs=-1, required=True, metavar="IDS...")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New (or empty) folder for the pack.")
@click.option("--exercises", "exercises_path", type=click.Path(path_type=Path), default="exercises", show_default=True,
              help="Folder of exercises.")
@click.option("--solutions", type=click.Path(path_type=Path), help="Folder of reference solutions (never packed).")
def pack(exercise_ids, out: Path, exercises_path, solutions) -> None:
    """Write the folder a candidate receives for IDS: statements, stubs, public tests (no solution,
    no hidden test)."""
    from grader import batch as batching, pack as packing
    from grader.session import RunContext, Settings

    try:
        chosen = list(batching.select(discover(exercises_path), tuple(exercise_ids)))
        probe = RunContext(Settings(solutions=arguments.directory("--solutions", solutions)))
        files = packing.pack(chosen, [probe.reference_path(e) for e in chosen], out)
    except (arguments.UsageProblem, ExerciseError, OSError) as e:
        _fail(str(e))
    click.echo(f"{len(chosen)} exercises, {len(files)} files: {out}")


@main.command("init")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--exercises", type=click.Path(path_type=Path), default="exercises", show_default=True,
              help="The project's exercises folder.")
@click.option("--db", type=click.Path(path_type=Path), help="Progress database (default: the user's data folder).")
def init(folder: Path, exercises: Path, db) -> None:
    """Make FOLDER a practice workspace: a fresh copy of every stub as FOLDER/<id>/solution.py."""
    try:
        space, copied = workspace.create(folder, exercises, db and arguments.writable("--db", db))
    except (ExerciseError, arguments.UsageProblem, OSError) as e:
        _fail(str(e))
    click.echo(f"workspace {space.root}: {len(copied)} fresh stubs; progress in {space.db}")
    click.echo(f"edit {space.root}/<id>/solution.py, then run `grade <id>` there")


@main.command("hint")
@click.argument("exercise_id")
@click.option("--lang", type=click.Choice(sorted(hints.LABELS)), default="en", show_default=True)
@click.option("--exercises", type=click.Path(path_type=Path), help="Exercises folder (default: the workspace's).")
@click.option("--db", type=click.Path(path_type=Path), help="Progress database that remembers the hints shown.")
def hint(exercise_id: str, lang: str, exercises, db) -> None:
    """Reveal EXERCISE_ID's next hint (concept, then interface, then the key line); recorded."""
    from grader import interview

    exercise, conn = _learner(exercise_id, exercises, db)
    if interview.current(conn) is not None:
        _fail("no hints during an interview (`grade drill --end` ends it)")
    found = hints.read_hints(exercise.path / "README.md", lang)
    if not found:
        _fail(f"{exercise.id} has no {hints.LABELS[lang]} blocks in its README")
    level = min(progress.hints_used(conn, exercise.id) + 1, len(found))
    progress.reveal_hint(conn, exercise.id, level)
    summary, body = found[level - 1]
    click.echo(f"{exercise.id} {summary} ({level}/{len(found)})\n\n{body}")
    if level == len(found):
        click.echo("\n(that was the last hint)")


@main.command("progress")
@click.option("--exercises", type=click.Path(path_type=Path), help="Exercises folder (default: the workspace's).")
@click.option("--db", type=click.Path(path_type=Path), help="Progress database to read.")
@click.option("--export", type=click.Path(path_type=Path), help="Also write the summary as JSON here ('-': stdout).")
@click.option("--html", type=click.Path(path_type=Path),
              help="Write the HTML dashboard here (default in a workspace: its progress.html).")
def show_progress(exercises, db, export, html) -> None:
    """Summarise practice so far: attempts, best scores, streak, per-tag mastery, reviews due, what
    to drill next; and write the HTML dashboard (charts, mastery, interviews)."""
    from grader import console, dashboard, mastery, results

    found, conn = _learner(None, exercises, db)
    data = mastery.summary(conn, found)
    if export is not None:
        results.write_text(export, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    space = workspace.find(Path.cwd())
    html = html or (space.root / "progress.html" if space else None)
    if html is not None:
        results.write_text(html, dashboard.render(conn, data))
    if str(export) != arguments.STDOUT:
        console.print_progress(data)
        if html is not None and str(html) != arguments.STDOUT:
            click.echo(f"dashboard: {html}")


@main.command("drill")
@click.option("--tag", help="Only exercises with this tag (see exercise.toml).")
@click.option("--difficulty", type=click.Choice(DIFFICULTIES), help="Only exercises of this difficulty.")
@click.option("--lang", type=click.Choice(sorted(hints.LABELS)), default="en", show_default=True)
@click.option("--interview", "box", metavar="DURATION",
              help="Interview mode: a set of exercises that fits DURATION (e.g. 45m, 1h), no hints, one report.")
@click.option("--end", is_flag=True, help="End the interview under way and print its report.")
@click.option("--db", type=click.Path(path_type=Path), help="Progress database to choose from.")
def drill(tag, difficulty, lang, box, end, db) -> None:
    """Inside a workspace: choose the next exercise (a review that is due, else new work: weakest
    tags first, then easiest), give it a fresh stub (earlier work kept as solution.prev.py) and
    show its statement. With --interview, a time-boxed set; --end closes it with its report."""
    from grader import interview, mastery

    space = workspace.find(Path.cwd())
    if space is None:
        _fail("grade drill runs inside a workspace: `grade init DIR`, then cd DIR")
    found, conn = _learner(None, None, db)
    under_way = interview.current(conn)
    if end or box:
        return _interview(space, found, conn, under_way, box, tag, difficulty, lang)
    if under_way:
        _fail(f"an interview is under way ({', '.join(under_way.exercises)}): `grade drill --end` first")
    chosen = mastery.pick(conn, found, tag, difficulty)
    if chosen is None:
        _fail(f"no exercise has tag {tag!r} and difficulty {difficulty!r}")
    workspace.fresh_stub(space, chosen, replace=True)
    progress.start_timer(conn, chosen.id)
    click.echo(f"{chosen.id} ({chosen.difficulty}): edit {space.root / chosen.id / 'solution.py'}, then "
               f"`grade {chosen.id}`; `grade hint {chosen.id}` when stuck\n")
    click.echo(hints.statement(chosen.path / "README.md", lang))


def _interview(space, found, conn, under_way, box, tag, difficulty, lang) -> None:
    """Start an interview (`box`) or end the one under way (print its report)."""
    from grader import console, interview, mastery

    if not box:
        if under_way is None:
            _fail("no interview is under way (start one with `grade drill --interview 45m`)")
        return console.print_interview(interview.end(conn, under_way))
    if under_way is not None:
        _fail(f"an interview is already under way (ends {under_way.ends_at}): `grade drill --end` first")
    try:
        budget = interview.minutes(box)
    except ValueError as e:
        _fail(str(e))
    chosen = interview.choose(mastery.queue(conn, found, tag, difficulty), budget)
    if not chosen:
        _fail(f"no exercise has tag {tag!r} and difficulty {difficulty!r}")
    started = interview.start(conn, chosen, budget)
    for exercise in chosen:
        workspace.fresh_stub(space, exercise, replace=True)
    click.echo(f"interview: {len(chosen)} exercise(s), {budget} min, until {started.ends_at}; no hints. "
               f"Grade each with `grade ID`; `grade drill --end` for the report.")
    for exercise in chosen:
        click.echo(f"\n== {exercise.id} ({exercise.difficulty}, {interview.MINUTES[exercise.difficulty]} min): "
                   f"{space.root / exercise.id / 'solution.py'}\n")
        click.echo(hints.statement(exercise.path / "README.md", lang))


def _learner(exercise_id, exercises, db):
    """(the exercise named, or the whole catalog when exercise_id is None; an open progress database)."""
    space = workspace.find(Path.cwd())
    folder = Path(exercises or (space.exercises if space else "exercises"))
    try:
        found = discover(folder)
        if exercise_id is not None:
            found = next((e for e in found if e.id == exercise_id), None)
            if found is None:
                raise ExerciseError(f"no exercise {exercise_id!r} in {folder}")
        return found, progress.connect(workspace.database(db, space) or progress.default_path())
    except (ExerciseError, OSError, progress.sqlite3.Error) as e:
        _fail(str(e))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _fail(message: str):
    click.echo(f"grade: {message}", err=True)
    sys.exit(EXIT_GRADER_ERROR)


def entry() -> None:
    """Console-script entry point: a usage mistake is one line and exit 2; an unexpected exception
    in the grader itself exits 2, not 1."""
    for stream in (sys.stdout, sys.stderr):  # never crash on a character the terminal cannot show
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        code = main(standalone_mode=False)
    except click.UsageError as e:
        _fail(f"{e.format_message()} (grade --help lists what grade PATH accepts)")
    except click.ClickException as e:
        _fail(e.format_message())
    except click.Abort:
        click.echo("grade: interrupted", err=True)
        sys.exit(130)
    except Exception:
        import traceback

        traceback.print_exc()
        click.echo("grade: internal error (see the traceback above)", err=True)
        sys.exit(EXIT_GRADER_ERROR)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    entry()
