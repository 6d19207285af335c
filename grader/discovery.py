"""Finding exercises: read exercises/*/exercise.toml into `Exercise` records (exercises are data)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.categories import CATEGORIES

DIFFICULTIES = ("easy", "medium", "hard")
HIDDEN_PREFIX = "test_hidden_"  # a test file named so holds hidden tests (never packed for candidates)


def is_hidden(test_file: Path) -> bool:
    return test_file.name.startswith(HIDDEN_PREFIX)


class ExerciseError(ValueError):
    """An exercise folder that cannot be used (missing or invalid exercise.toml)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise, as its exercise.toml describes it. `path` is its folder."""

    id: str
    path: Path
    title: str
    title_zh: str
    sources: tuple[str, ...]
    difficulty: str
    tags: tuple[str, ...] = ()
    names: tuple[str, ...] = ()             # what the submission must define
    forbidden: tuple[str, ...] = ()         # dotted APIs the submission may not use
    forbidden_ops: tuple[str, ...] = ()     # operator names (globs, e.g. "aten::*conv*") no call may run
    allow_imports: tuple[str, ...] = ()     # modules added to the policy's import allowlist
    points: dict = field(default_factory=dict)          # category -> points per test
    not_applicable: dict = field(default_factory=dict)  # category -> why it cannot apply
    timeout: float | None = None            # seconds per call to the candidate
    memory_mb: int | None = None
    test_budget: float | None = None        # seconds all of one test's calls may take together
    submission_budget: float | None = None  # seconds all tests of the submission may take together
    preload: tuple[str, ...] = ()           # extra modules the worker imports up front
    loopback: bool = False                  # the worker needs the loopback network interface

    @property
    def root(self) -> Path:
        """The project folder holding exercises/, solutions/ and tests/."""
        return self.path.parent.parent

    @property
    def stub(self) -> Path:
        return self.path / "solution.py"

    @property
    def support(self) -> Path:
        """Optional trusted helpers the tests run in the worker via `candidate.lib.support`."""
        return self.path / "support.py"

    @property
    def test_files(self) -> list[Path]:
        return sorted(self.path.glob("test_*.py"))

    def points_for(self, category: str) -> float:
        return float(self.points.get(category, 1))


def load_exercise(folder: Path) -> Exercise:
    """Read and check `folder`/exercise.toml."""
    folder = Path(folder).resolve()
    toml_path = folder / "exercise.toml"
    if not toml_path.is_file():
        raise ExerciseError(f"{folder} has no exercise.toml")
    try:
        meta = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ExerciseError(f"{toml_path}: {e}") from None
    return _from_meta(folder, meta)


def _from_meta(folder: Path, meta: dict) -> Exercise:
    where = f"{folder.name}/exercise.toml"
    for key in ("id", "title", "title_zh", "sources", "difficulty"):
        if key not in meta:
            raise ExerciseError(f"{where}: missing '{key}'")
    if meta["id"] != folder.name:
        raise ExerciseError(f"{where}: id '{meta['id']}' differs from the folder name")
    if meta["difficulty"] not in DIFFICULTIES:
        raise ExerciseError(f"{where}: difficulty must be one of {DIFFICULTIES}")
    grading, constraints = meta.get("grading", {}), meta.get("constraints", {})
    not_applicable = dict(meta.get("not_applicable", {}))
    unknown = [c for c in [*not_applicable, *grading.get("points", {})] if c not in CATEGORIES]
    if unknown:
        raise ExerciseError(f"{where}: unknown categories {unknown}")
    return Exercise(
        id=meta["id"], path=folder, title=meta["title"], title_zh=meta["title_zh"],
        sources=tuple(meta["sources"]), difficulty=meta["difficulty"], tags=tuple(meta.get("tags", ())),
        names=tuple(meta.get("interface", {}).get("names", ())),
        forbidden=tuple(constraints.get("forbidden", ())), forbidden_ops=tuple(constraints.get("forbidden_ops", ())),
        allow_imports=tuple(constraints.get("allow_imports", ())),
        points=dict(grading.get("points", {})), not_applicable=not_applicable,
        timeout=grading.get("timeout"), memory_mb=grading.get("memory_mb"),
        test_budget=grading.get("test_budget"), submission_budget=grading.get("submission_budget"),
        preload=tuple(grading.get("preload", ())), loopback=bool(grading.get("loopback", False)),
    )


def discover(path: Path) -> list[Exercise]:
    """The exercise at `path`, or every exercise in the folders directly under it, by id."""
    path = Path(path)
    if not path.exists():
        raise ExerciseError(f"{path} does not exist")
    if (path / "exercise.toml").is_file():
        return [load_exercise(path)]
    found = [load_exercise(toml.parent) for toml in sorted(path.glob("*/exercise.toml"))]
    if not found:
        raise ExerciseError(f"no exercise.toml under {path}")
    return found
