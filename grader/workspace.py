"""A learner's personal workspace: fresh copies of the stubs, and what `grade` run inside it grades."""
from __future__ import annotations

import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import progress
from grader.discovery import ExerciseError, discover

MARKER = ".grader-workspace.toml"


@dataclass(frozen=True)
class Workspace:
    """root: the learner's folder; exercises: the project's exercises folder; db: the progress database."""

    root: Path
    exercises: Path
    db: Path

    def exercise_folder(self, exercise_id: str) -> Path | None:
        folder = self.exercises / exercise_id
        return folder if (folder / "exercise.toml").is_file() else None


def create(folder: Path, exercises: Path, db: Path | None) -> tuple[Workspace, list[str]]:
    """Make `folder` a workspace: its marker file and <id>/solution.py copied from each stub (a file
    already there is the learner's work and is kept). Returns the workspace and the ids copied."""
    found = discover(exercises)
    root = Path(folder).resolve()
    space = Workspace(root, Path(exercises).resolve(), Path(db or progress.default_path()).resolve())
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(f"exercises = {json.dumps(str(space.exercises))}\ndb = {json.dumps(str(space.db))}\n",
                               encoding="utf-8")
    return space, [e.id for e in found if fresh_stub(space, e)]


def fresh_stub(space: Workspace, exercise, replace: bool = False) -> bool:
    """Copy the exercise's stub to <workspace>/<id>/solution.py (unless one is there and not `replace`;
    replaced, earlier work that is not the stub is kept as solution.prev.py)."""
    target = space.root / exercise.id / "solution.py"
    if target.exists():
        if not replace:
            return False
        if target.read_bytes() != exercise.stub.read_bytes():
            target.replace(target.with_name("solution.prev.py"))
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(exercise.stub, target)
    return True


def find(start: Path) -> Workspace | None:
    """The workspace holding `start` (its marker file in `start` or a folder above), or None."""
    for folder in (Path(start).resolve(), *Path(start).resolve().parents):
        marker = folder / MARKER
        if marker.is_file():
            return _load(folder, marker)
    return None


def _load(root: Path, marker: Path) -> Workspace:
    try:
        meta = tomllib.loads(marker.read_text(encoding="utf-8"))
        return Workspace(root, Path(meta["exercises"]), Path(meta.get("db") or progress.default_path()))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ExerciseError(f"{marker}: not a valid workspace file ({e})") from None


def target(space: Workspace, path: Path, submission: Path | None) -> tuple[Path, Path | None]:
    """What `grade PATH` means inside the workspace: (exercise path, submission). The workspace root
    grades every exercise against its <id>/solution.py; <id>, its folder or its solution.py grades one."""
    if submission is not None:
        return path, submission
    where = Path(path).resolve()
    if where == space.root:
        return space.exercises, space.root
    if where.is_file() and where.parent.parent == space.root:
        where = where.parent
    name = where.name if where.parent == space.root else (None if os.sep in str(path) else str(path))
    folder = space.exercise_folder(name) if name else None
    return (folder, space.root / name / "solution.py") if folder else (path, submission)


def database(option: Path | None, space: Workspace | None) -> Path | None:
    """The progress database a grading run records into: --db, else $GRADER_PROGRESS_DB, else the
    workspace's; None (record nothing) outside a workspace without either."""
    if option is not None:
        return Path(option)
    if os.environ.get(progress.DB_ENV):
        return Path(os.environ[progress.DB_ENV])
    return space.db if space else None
