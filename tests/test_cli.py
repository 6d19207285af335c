"""The `grade` command end to end: exercises and candidates in tmp_path, JSON and exit codes."""
import json

import pytest

from tests.conftest import REPO, run_grade, write_candidate


@pytest.mark.slow
def test_grade_writes_json_junit_and_exits_by_outcome(tiny_project):
    ex = tiny_project / "exercises" / "90_scale"
    good = write_candidate(tiny_project, "def scale(x):\n    return 2 * x\n", "good.py")
    bad = write_candidate(tiny_project, "def scale(x):\n    return x\n", "bad.py")
    out = tiny_project / "out.json"
    p = run_grade(ex, "--submission", good, "--json", out, "--junit", tiny_project / "out.xml", "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["status"] == "pass" and doc["settings"]["seed"] == 3
    assert "PASS" in p.stdout and "score 4/4" in p.stdout
    p = run_grade(ex, "--submission", bad, "--json", out)
    assert p.returncode == 1, p.stdout + p.stderr
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]
    # scale(x)=x is still linear and has the right shape, but with its only value test failed
    # nothing is credited (grader.credit)
    assert summary["fail"] == 4 and summary["score"] == 0
    # the stub (default submission) fails cleanly: exit 1, not a crash
    assert run_grade(ex).returncode == 1


@pytest.mark.slow
def test_grader_errors_exit_2(tiny_project, tmp_path):
    ex = tiny_project / "exercises" / "90_scale"
    assert run_grade(tmp_path / "nothing-here").returncode == 2
    assert run_grade(ex, "--bogus-option").returncode == 2
    assert run_grade(ex, "--solutions", tmp_path / "empty").returncode == 2


@pytest.mark.slow
def test_grade_a_folder_of_exercises_with_a_submission_folder(tiny_project):
    subs = tiny_project / "subs"
    subs.mkdir()
    write_candidate(subs, "def scale(x):\n    return 2 * x\n", "90_scale.py")
    p = run_grade(tiny_project / "exercises", "--submission", subs)
    assert p.returncode == 0, p.stdout + p.stderr


def test_list_shows_ids_titles_and_sources():
    p = run_grade("list", REPO / "exercises")
    assert p.returncode == 0
    assert "17_self_attention" in p.stdout and "从零实现多头自注意力" in p.stdout and "000#17" in p.stdout
