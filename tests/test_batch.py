"""`grade batch` and `grade merge`: thirty-five generated candidates (correct, buggy, broken, empty,
missing, hostile) graded with -j 2 through the command line into a leaderboard; resume; the
shard/merge round trip; per-candidate JUnit XML and Gradescope files."""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import make_tiny_project, run_grade

KINDS = {  # kind -> the 90_scale submission file it writes (None: no file at all)
    "correct": "def scale(x):\n    return 2 * x\n",
    "buggy": "def scale(x):\n    return 3 * x\n",
    "syntax": "def scale(x)\n    return 2 * x\n",
    "empty": "",
    "missing": None,
    "exits": "def scale(x):\n    raise SystemExit(0)\n",
    "hostile": "import os\n\n\ndef scale(x):\n    os._exit(3)\n",
}
COPIES = 5


def _write_candidates(root: Path, kinds=KINDS, copies=COPIES) -> Path:
    root.mkdir()
    for k in range(copies):
        for kind, source in kinds.items():
            folder = root / f"c{k}_{kind}"
            folder.mkdir()
            (folder / "notes.txt").write_text("candidate's notes\n")
            if source is not None:
                (folder / "90_scale.py").write_text(source)
    return root


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The project, its 35 candidates, and `grade batch -j 2` run over them (wall time measured)."""
    project = make_tiny_project(tmp_path_factory.mktemp("batch"))
    submissions = _write_candidates(project / "candidates")
    start = time.monotonic()
    done = run_grade("batch", submissions, "--exercise", "90_scale", "-j", "2", "--out", project / "out",
                     cwd=project, timeout=600)
    seconds = time.monotonic() - start
    print(f"\n{len(KINDS) * COPIES} candidates graded with -j 2 in {seconds:.1f} s")
    return project, done, seconds


def _leaderboard(out: Path) -> list[dict]:
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.slow
def test_batch_grades_every_candidate_into_a_ranked_leaderboard(graded):
    project, done, _ = graded
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _leaderboard(project / "out")
    assert len(rows) == len(KINDS) * COPIES
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["candidate"].split("_", 1)[1], set()).add((row["status"], row["score"], row["max_score"]))
    maximum = {r["max_score"] for r in rows}
    assert len(maximum) == 1 and float(maximum.pop()) > 0  # every candidate graded on the same tests
    full = rows[0]["max_score"]
    assert by_kind["correct"] == {("pass", full, full)}
    for kind in ("syntax", "empty", "missing", "exits", "hostile"):
        assert by_kind[kind] == {("fail", "0", full)}, (kind, by_kind[kind])
    (buggy,) = by_kind["buggy"]
    assert buggy[0] == "fail" and float(buggy[1]) < float(full)
    mistakes = {r["candidate"].split("_", 1)[1]: r["likely_mistakes"] for r in rows}
    assert mistakes["buggy"] == "90_scale: times_three"  # it multiplies by 3: the project's known mistake
    assert {mistakes[k] for k in ("correct", "syntax", "empty", "missing", "hostile")} == {""}
    assert [r["candidate"].split("_", 1)[1] for r in rows[:COPIES]] == ["correct"] * COPIES  # ranked by score
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)
    correct = next(r for r in rows if r["candidate"] == "c0_correct")
    assert correct["90_scale"] == full and correct["equivalence"] == "1/1" and correct["report"] == "c0_correct/report.html"
    html = (project / "out" / "leaderboard.html").read_text(encoding="utf-8")
    assert html.count('href="c') == len(rows)
    for row in rows:  # every candidate's outputs, its JSON the document `grade --json` writes
        folder = project / "out" / row["candidate"]
        doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert doc["schema"] == "grader-results/1" and doc["summary"]["score"] == pytest.approx(float(row["score"]))
        assert (folder / "report.html").is_file() and (folder / "junit.xml").is_file()


@pytest.mark.slow
def test_batch_resumes_without_regrading_what_is_done(graded):
    project, _, _ = graded
    out, submissions = project / "out", project / "candidates"
    earlier = (submissions / "c1_buggy" / "90_scale.py").stat().st_mtime - 60
    os.utime(out / "c1_buggy" / "results.json", (earlier, earlier))  # its file changed after it was graded
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    again = run_grade("batch", submissions, "--exercise", "90_scale", "--out", out, cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line.split()[1] for line in again.stderr.splitlines() if line.startswith("[")] == ["c1_buggy:"]
    after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    assert {name for name in before if before[name] != after[name]} == {"c1_buggy"}


@pytest.mark.slow
def test_shards_merge_into_the_unsharded_leaderboard(graded, tmp_path):
    project, _, _ = graded
    subset = tmp_path / "subset"  # eight candidates of the batch, one or two of each kind
    for folder in sorted((project / "candidates").iterdir())[:8]:
        shutil.copytree(folder, subset / folder.name)
    for i in (0, 1):
        done = run_grade("batch", subset, "--exercise", "90_scale", "--shard", f"{i}/2", "--out", tmp_path / f"s{i}",
                         cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(_leaderboard(tmp_path / f"s{i}")) == 4
    merged = run_grade("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "merged", cwd=project)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    names = {p.name for p in subset.iterdir()}
    unsharded = [r for r in _leaderboard(project / "out") if r["candidate"] in names]
    assert _without_time(_leaderboard(tmp_path / "merged")) == _without_time(unsharded)
    assert run_grade("batch", subset, "--shard", "2/2", cwd=project).returncode == 2


@pytest.mark.slow
def test_gradescope_and_junit_files_per_candidate(graded):
    project, _, _ = graded
    for name in ("c0_correct", "c0_buggy", "c0_missing"):
        folder = project / "out" / name
        doc = json.loads((folder / "gradescope.json").read_text(encoding="utf-8"))
        assert {"score", "max_score", "tests"} <= set(doc)
        for test in doc["tests"]:
            assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
            assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
            assert test["name"].startswith("90_scale::")
        assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]))
        assert doc["max_score"] == pytest.approx(sum(t["max_score"] for t in doc["tests"]))
        summary = json.loads((folder / "results.json").read_text(encoding="utf-8"))["summary"]
        assert (doc["score"], doc["max_score"]) == (pytest.approx(summary["score"]), pytest.approx(summary["max_score"]))
        suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
        assert suite.get("name") == f"{name}/90_scale"
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["candidate"] == name and float(props["score"]) == pytest.approx(summary["score"])
        earned = [float(p.get("value")) for p in suite.iter("property") if p.get("name") == "earned"]
        assert sum(earned) == pytest.approx(summary["score"])


def test_a_candidate_the_grader_cannot_grade_is_an_error_row_ranked_last(context, tiny_project):
    """No submission for any exercise (and no --exercise): error.txt and an error row, no crash."""
    from grader import batch, leaderboard
    from grader.discovery import discover

    submissions = _write_candidates(tiny_project / "candidates", {"missing": None, "correct": "x = 1\n"}, copies=1)
    plan = batch.Plan(tuple(discover(tiny_project / "exercises")), False, tiny_project / "out", "grade batch")
    row = batch.grade_candidate((submissions / "c0_missing", plan), context)
    assert row.status == "error" and "holds no submission" in row.error
    assert "holds no submission" in (tiny_project / "out" / "c0_missing" / "error.txt").read_text()
    graded = leaderboard.Row("c9_graded", "fail", 0.0, 4.0, {"90_scale": 0.0})
    assert [r.candidate for r in leaderboard.ranked([row, graded])] == ["c9_graded", "c0_missing"]


def test_shards_partition_the_candidates_in_name_order(tmp_path):
    from grader import batch
    from grader.arguments import UsageProblem

    names = [f"c{k:02d}" for k in range(7)]
    for name in names:
        (tmp_path / name).mkdir()
    shards = [[p.name for p in batch.candidates(tmp_path, batch.parse_shard(f"{i}/3"))] for i in range(3)]
    assert shards == [names[0::3], names[1::3], names[2::3]]
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(UsageProblem):
            batch.parse_shard(bad)
