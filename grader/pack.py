"""`grade pack`: the folder a candidate receives: statements, stubs and public tests of the chosen
exercises; nothing from solutions/, no hidden test, no mistakes or alternatives."""
from __future__ import annotations

import shutil
from pathlib import Path

from grader.arguments import UsageProblem
from grader.discovery import Exercise, is_hidden

LEFT_OUT = ("__pycache__", ".pytest_cache", ".hypothesis")


def pack(exercises: list[Exercise], references: list[Path], out: Path) -> list[Path]:
    """Copy each exercise's folder into out/exercises/<id>/ (hidden tests and caches left out)
    and write out/README.md; returns the files written. Refused (UsageProblem) when `out` is not
    empty, or when a file to copy is one of the references (a solution must never ship)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageProblem(f"--out {out}: exists and is not an empty folder")
    secret = {p.read_bytes() for p in references if p.is_file()}
    for exercise in exercises:
        _check_files(exercise, secret)
    for exercise in exercises:
        shutil.copytree(exercise.path, out / "exercises" / exercise.id, ignore=_ignored, symlinks=False)
    (out / "README.md").write_text(_readme(exercises), encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())


def _ignored(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in LEFT_OUT or is_hidden(Path(folder) / n)}


def _check_files(exercise: Exercise, secret: set[bytes]) -> None:
    for path in exercise.path.rglob("*"):
        if path.is_symlink():
            raise UsageProblem(f"{path}: a link; a pack holds plain files only")
        if path.is_file() and not _ignored(str(path.parent), [path.name]) and path.read_bytes() in secret:
            raise UsageProblem(f"{path} is a reference solution: refusing to pack it")


def _readme(exercises: list[Exercise]) -> str:
    rows = "\n".join(f"| `{e.id}` | {e.title} | {e.title_zh} | {e.difficulty} |" for e in exercises)
    return f"""# Exercises / 练习

| id | title | 题目 | difficulty |
|---|---|---|---|
{rows}

Each folder holds the statement (`README.md`, English and 中文), the stub to complete
(`solution.py`) and the public tests (`test_*.py`), which show what is graded. Your solution is
also graded by tests that are not shown. Submit each completed `solution.py` (or `<id>.py`).

每个文件夹包含题目说明（`README.md`，中英文）、需要完成的 `solution.py`，以及公开测试
（`test_*.py`，说明评分内容）。评分还包括未公开的测试。请提交完成后的 `solution.py`（或 `<id>.py`）。
"""
