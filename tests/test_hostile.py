"""Hostile candidates are contained: each fails with a clear message and the grader carries on.

Each file in tests/hostile/ is graded against the tiny exercise (fast); the comparison-patching
attack is also tried on 17_self_attention, and two attacks go through the real command line.
"""
import json
import os
from pathlib import Path

import pytest
import torch

from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.session import Settings
from tests.conftest import REPO, run_grade

HOSTILE = Path(__file__).parent / "hostile"

# file -> (a test that must not pass, words its message must contain)
EXPECTED = {
    "patches_comparisons": ("test_value", "scaled values"),
    "exits_the_process": ("test_value", "exited with status 0"),
    "loops_forever": ("test_value", "did not finish within the 1 s time limit"),
    "segfaults": ("test_value", "killed by SIGSEGV"),
    "returns_a_pickle_payload": ("test_value", "malformed data"),
    "raises_keyboard_interrupt": ("test_value", "SystemExit"),
    "crashes_at_import": ("test_value", "failed to import: MemoryError"),
    "floods_output": ("test_value", "scaled values"),
    "mutates_its_input": ("test_value", "scaled values"),
}


def test_every_hostile_candidate_has_an_expectation():
    assert sorted(p.stem for p in HOSTILE.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_candidate_fails_cleanly(context, tiny_project, name):
    context.settings = Settings(timeout=1.0)
    originals = (torch.allclose, torch.equal, torch.testing.assert_close, torch.Tensor.__eq__)
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    result = grade_exercise(ex, context, HOSTILE / f"{name}.py")

    assert result.status == "fail" and not result.error, result.error  # graded, and failed
    test_name, words = EXPECTED[name]
    test = next(t for t in result.tests if t.name == test_name)
    assert test.status in ("fail", "error") and words in test.message, test.message
    assert (torch.allclose, torch.equal, torch.testing.assert_close, torch.Tensor.__eq__) == originals
    assert not Path("/tmp/pwned-by-pickle").exists()
    assert all(len(t.output) < 70_000 for t in result.tests)


def test_flooded_output_is_truncated_with_a_note(context, tiny_project):
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    result = grade_exercise(ex, context, HOSTILE / "floods_output.py")
    assert "more bytes were dropped" in result.tests[1].output


def test_patching_comparisons_does_not_pass_self_attention(context, tmp_path):
    cheat = tmp_path / "cheat.py"
    cheat.write_text((HOSTILE / "patches_comparisons.py").read_text() + (
        "\nclass SelfAttention(torch.nn.Module):\n"
        "    def __init__(self, d_model, num_heads, bias=True):\n"
        "        super().__init__()\n"
        "        for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):\n"
        "            setattr(self, n, torch.nn.Linear(d_model, d_model, bias=bias))\n"
        "    def forward(self, x, key_padding_mask=None, causal=False):\n"
        "        return torch.zeros_like(x)\n"))
    context.settings = Settings(select="test_matches_reference or test_matches_torch")
    result = grade_exercise(load_exercise(REPO / "exercises" / "17_self_attention"), context, cheat)
    assert result.status == "fail" and result.tests and all(t.status == "fail" for t in result.tests)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["segfaults", "raises_keyboard_interrupt"])
def test_command_line_survives_and_exits_1(tiny_project, name):
    out = tiny_project / "r.json"
    before = _grader_processes()
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", HOSTILE / f"{name}.py",
                  "--json", out, "--timeout", "2")
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["pass"] < doc["summary"]["tests"] and doc["summary"]["status"] == "fail"
    assert _grader_processes() <= before  # its fork server and workers are all gone


def _grader_processes() -> set[int]:
    """Live fork servers and workers (workers are forks of the fork server: same command line)."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
            state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"grader.zygote" in cmdline and state != "Z":
            found.add(int(entry))
    return found
