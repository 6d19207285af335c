"""The CI workflow template a hiring team copies: valid YAML whose `grade` commands use only
options the command line has."""
from __future__ import annotations

import re
import shlex

import yaml

from tests.conftest import REPO, run_grade

TEMPLATE = REPO / "examples" / "ci" / "github-grade-candidates.yml"


def _grade_commands() -> list[list[str]]:
    steps = [s for job in yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))["jobs"].values() for s in job["steps"]]
    runs = [" ".join(str(s["run"]).split()) for s in steps if str(s.get("run", "")).startswith("grade ")]
    return [shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "0", r)) for r in runs]


def test_every_grade_command_of_the_template_uses_known_options():
    commands = _grade_commands()
    assert [c[1] for c in commands] == ["batch", "merge"]
    for command in commands:
        helptext = run_grade(command[1], "--help").stdout
        options = [a.split("=")[0] for a in command if a.startswith("-")]
        assert options and all(o in helptext for o in options), (command, helptext)
