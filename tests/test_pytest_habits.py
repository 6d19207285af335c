"""A learner's pytest habits work in an exercise folder of this project: `--lf` reruns what failed
last time, `--sw` resumes from the first failure, `-x` stops at it (the project keeps pytest's cache on)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_tiny_project

BUGGY = "def scale(x):\n    return 2 * x if x.numel() < 7 else 3 * x\n"  # fails test_value only


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300)


def _ran(proc: subprocess.CompletedProcess) -> dict[str, int]:
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|deselected)", proc.stdout)}


@pytest.mark.slow
def test_last_failed_and_stepwise_in_an_exercise_folder(tmp_path):
    project = make_tiny_project(tmp_path)
    shutil.copy(REPO / "pyproject.toml", project / "pyproject.toml")  # this project's pytest settings
    folder = project / "exercises" / "90_scale"
    (folder / "solution.py").write_text(BUGGY, encoding="utf-8")
    first = _pytest(folder)
    assert _ran(first) == {"passed": 3, "failed": 1}, first.stdout + first.stderr
    again = _pytest(folder, "--lf")
    assert _ran(again)["failed"] == 1 and "passed" not in _ran(again) and "test_value" in again.stdout, again.stdout
    (folder / "solution.py").write_text("def scale(x):\n    return 2 * x\n", encoding="utf-8")
    fixed = _pytest(folder, "--sw")
    assert fixed.returncode == 0 and _ran(fixed).get("failed", 0) == 0, fixed.stdout
