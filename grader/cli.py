"""The `grade` command: `grade PATH` grades; `grade list` and `grade validate` are subcommands."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from grader import console
from grader.discovery import ExerciseError, discover
from grader.session import RunContext, Settings

EXIT_GRADER_ERROR = 2


class DefaultToGrade(click.Group):
    """A group whose first argument, when it is not a subcommand, is the PATH to grade."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        elif not args:
            args = ["run", "--help"]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToGrade, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytorch-interview-grader")
def main() -> None:
    """Grade PyTorch interview exercises.

    \b
    grade PATH [OPTIONS]      grade the submission of one exercise, or of every exercise under PATH
    grade list [PATH]         show the catalog
    grade validate [PATH]     prove each exercise: reference passes, stub fails, mutants fail
    """


@main.command("run", hidden=True)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--submission", type=click.Path(path_type=Path),
              help="File to grade (default: the exercise's solution.py); for several exercises, a folder "
                   "holding <id>.py or <id>/solution.py.")
@click.option("--solutions", type=click.Path(path_type=Path), help="Folder of reference solutions (default: <project>/solutions).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for inputs, models and hypothesis.")
@click.option("--timeout", type=float, help="Seconds per call to the candidate (default: the exercise's, else 10).")
@click.option("--memory", "memory_mb", type=int, help="Worker memory cap in MiB (default: the exercise's, else 4096).")
@click.option("--isolation/--no-isolation", default=None,
              help="Confine workers with namespaces and user nobody (default: whenever running as root).")
@click.option("--screen/--no-screen", default=True, hidden=True,
              help="Refuse submissions that break the static policy before running them (off: containment tests).")
@click.option("--report", type=click.Path(path_type=Path), help="Write the HTML report here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the JSON results here.")
@click.option("--junit", type=click.Path(path_type=Path), help="Write JUnit XML here.")
@click.option("-k", "select", help="Only tests matching this pytest -k expression.")
@click.option("-v", "--verbose", is_flag=True, help="Show whole failure messages.")
def grade(path: Path, submission, solutions, device, seed, timeout, memory_mb, isolation, screen, report, json_path,
          junit, select, verbose):
    """Grade PATH (an exercise folder, or a folder of exercises)."""
    from grader import results
    from grader.runner import run_grading

    if device == "cuda" and not _cuda_available():
        _fail("--device cuda was asked for, but CUDA is not available here")
    settings = Settings(seed=seed, device=device, solutions=solutions, submission=submission,
                        timeout=timeout, memory_mb=memory_mb, select=select, isolation=isolation,
                        screen=screen)
    ctx = RunContext(settings)
    ctx.worker_pool()  # the fork server imports torch while this process collects tests
    try:
        run = run_grading(path, ctx, command=shlex.join(["grade", *sys.argv[1:]]))
    except ExerciseError as e:
        _fail(str(e))
    finally:
        ctx.close()
    console.print_run(run, verbose)
    if json_path:
        results.write_json(run, json_path)
    if junit:
        results.write_junit(run, junit)
    if report:
        from grader.report import write_report

        write_report(run, report)
    sys.exit(run.exit_code)


@main.command("list")
@click.argument("path", type=click.Path(path_type=Path), default="exercises")
def list_exercises(path: Path) -> None:
    """Show the catalog: id, difficulty, titles (English / 中文) and seed sources."""
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
def validate(path: Path, solutions, seeds: str, jobs: int) -> None:
    """Prove every exercise under PATH: reference passes, stub fails cleanly, mutants fail."""
    from grader.validate import validate_all

    seed_list = tuple(int(s) for s in seeds.split(","))
    settings = Settings(seed=seed_list[0], device="cpu", solutions=solutions)
    try:
        outcomes = []
        for outcome in validate_all(discover(path), settings, seed_list, jobs):
            outcomes.append(outcome)
            console.print_validation(outcome)
    except ExerciseError as e:
        _fail(str(e))
    good = sum(v.ok for v in outcomes)
    click.echo(f"\n{good}/{len(outcomes)} exercises validated")
    sys.exit(0 if good == len(outcomes) else 1)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _fail(message: str):
    click.echo(f"grade: {message}", err=True)
    sys.exit(EXIT_GRADER_ERROR)


def entry() -> None:
    """Console-script entry point: an unexpected exception in the grader itself exits 2, not 1."""
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        click.echo("grade: internal error (see the traceback above)", err=True)
        sys.exit(EXIT_GRADER_ERROR)


if __name__ == "__main__":
    entry()
