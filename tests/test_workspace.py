"""A learner's workspace through the real command line: init, grade inside it (attempt recorded), hints, progress."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GRADE, TINY_REFERENCE, TINY_STUB
from grader import mastery, progress
from grader.discovery import Exercise

HINTS_README = """# Scale

<details><summary>Hint 1: concept</summary>
Multiplying by a number.
</details>

<details><summary>Hint 2: interface</summary>
`scale(x)` returns a tensor shaped like x.
</details>

<details><summary>Hint 3</summary>
`return 2 * x`
</details>

## 任务

<details><summary>提示 1</summary>
乘以一个数。
</details>
"""


def grade(*args, cwd: Path, env_db: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != progress.DB_ENV}
    if env_db:
        env[progress.DB_ENV] = env_db
    return subprocess.run([*GRADE, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _attempts(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT exercise, status, score, max_score, hints_used FROM attempts ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_init_then_grade_inside_the_workspace_records_attempts(tiny_project, tmp_path):
    ws, db = tmp_path / "ws", tmp_path / "data" / "progress.db"
    p = grade("init", ws, "--exercises", tiny_project / "exercises", "--db", db, cwd=tiny_project)
    assert p.returncode == 0, p.stderr
    copy = ws / "90_scale" / "solution.py"
    assert copy.read_text() == TINY_STUB and (ws / ".grader-workspace.toml").is_file()

    p = grade("90_scale", "--json", "-", cwd=ws)  # the fresh stub: fails, recorded
    assert p.returncode == 1, p.stderr
    first = json.loads(p.stdout)["exercises"][0]
    assert first["submission"] == str(copy)
    copy.write_text(TINY_REFERENCE)
    p = grade(".", "--json", "-", cwd=ws / "90_scale")  # the learner's fix, graded from its folder
    assert p.returncode == 0, p.stderr
    second = json.loads(p.stdout)["exercises"][0]
    assert second["submission"] == str(copy) and second["score"] == second["max_score"] > first["score"] == 0
    assert (first["practice"], second["practice"]) == ({"attempts": 1, "hints_used": 0}, {"attempts": 2, "hints_used": 0})
    assert _attempts(db) == [("90_scale", "fail", 0.0, first["max_score"], 0),
                             ("90_scale", "pass", second["score"], second["max_score"], 0)]
    assert (tiny_project / "exercises" / "90_scale" / "solution.py").read_text() == TINY_STUB  # untouched
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT category, earned, points FROM attempt_categories WHERE attempt_id = 2").fetchall()
    assert {"shape", "equivalence", "property"} <= {c for c, _, _ in rows}
    assert all(earned == points > 0 for _, earned, points in rows)
    assert sum(points for _, _, points in rows) == second["max_score"]
    conn.close()

    p = grade("progress", "--export", "-", cwd=ws)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["attempts"] == 2 and summary["streak_days"] == 1
    assert summary["exercises"]["90_scale"]["best_ratio"] == 1.0


def test_init_keeps_the_learners_work(tiny_project, tmp_path):
    ws, db = tmp_path / "ws", tmp_path / "p.db"
    (ws / "90_scale").mkdir(parents=True)
    (ws / "90_scale" / "solution.py").write_text("# mine\n")
    p = grade("init", ws, "--exercises", tiny_project / "exercises", "--db", db, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "0 fresh stubs" in p.stdout
    assert (ws / "90_scale" / "solution.py").read_text() == "# mine\n"


def test_which_database_a_run_records_into(tmp_path, monkeypatch):
    from grader import workspace

    monkeypatch.delenv(progress.DB_ENV, raising=False)
    assert workspace.find(tmp_path) is None
    assert workspace.database(None, None) is None  # outside a workspace, no --db: nothing recorded
    space = workspace.Workspace(tmp_path, tmp_path / "exercises", tmp_path / "ws.db")
    assert workspace.database(None, space) == tmp_path / "ws.db"
    monkeypatch.setenv(progress.DB_ENV, str(tmp_path / "env.db"))
    assert workspace.database(None, space) == tmp_path / "env.db"
    assert workspace.database(tmp_path / "opt.db", space) == tmp_path / "opt.db"
    assert progress.default_path() == tmp_path / "env.db"


def test_hints_revealed_one_level_at_a_time_and_recorded(tiny_project, tmp_path):
    (tiny_project / "exercises" / "90_scale" / "README.md").write_text(HINTS_README, encoding="utf-8")
    db = tmp_path / "p.db"
    args = ("hint", "90_scale", "--exercises", tiny_project / "exercises", "--db", db)
    shown = [grade(*args, cwd=tmp_path) for _ in range(4)]
    assert [p.returncode for p in shown] == [0, 0, 0, 0], shown[0].stderr
    assert "Hint 1: concept (1/3)" in shown[0].stdout and "Multiplying" in shown[0].stdout
    assert "Hint 2: interface (2/3)" in shown[1].stdout and "Multiplying" not in shown[1].stdout
    assert "Hint 3 (3/3)" in shown[2].stdout and "last hint" in shown[2].stdout
    assert "Hint 3 (3/3)" in shown[3].stdout  # no more: the last one again
    zh = grade("hint", "90_scale", "--lang", "zh", "--exercises", tiny_project / "exercises", cwd=tmp_path,
               env_db=str(db))
    assert zh.returncode == 0 and "提示 1 (1/1)" in zh.stdout and "乘以一个数" in zh.stdout
    conn = progress.connect(db)
    assert progress.hints_used(conn, "90_scale") == 3
    conn.close()


def test_hint_for_an_unknown_exercise_is_refused(tiny_project, tmp_path):
    p = grade("hint", "99_nothing", "--exercises", tiny_project / "exercises", "--db", tmp_path / "p.db", cwd=tmp_path)
    assert p.returncode == 2 and "no exercise '99_nothing'" in p.stderr


def test_drill_gives_a_fresh_stub_keeps_earlier_work_and_shows_the_statement(tiny_project, tmp_path):
    ws, db = tmp_path / "ws", tmp_path / "p.db"
    assert grade("init", ws, "--exercises", tiny_project / "exercises", "--db", db, cwd=tmp_path).returncode == 0
    (ws / "90_scale" / "solution.py").write_text("# my earlier try\n")
    p = grade("drill", "--difficulty", "easy", cwd=ws)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("90_scale (easy)") and "Implement `scale(x)`" in p.stdout
    assert (ws / "90_scale" / "solution.py").read_text() == TINY_STUB
    assert (ws / "90_scale" / "solution.prev.py").read_text() == "# my earlier try\n"
    conn = progress.connect(db)
    assert [e for e, in conn.execute("SELECT exercise FROM timers")] == ["90_scale"]  # the drill's timer runs
    conn.close()
    p = grade("drill", "--difficulty", "hard", cwd=ws)
    assert p.returncode == 2 and "no exercise has" in p.stderr
    assert grade("drill", cwd=tmp_path).returncode == 2  # outside a workspace


def _exercise(ident: str, difficulty: str, tags: tuple) -> Exercise:
    return Exercise(id=ident, path=Path(ident), title=ident, title_zh=ident, sources=(), difficulty=difficulty, tags=tags)


def test_next_exercise_weakest_tag_first_then_easiest_then_longest_ago():
    catalog = [_exercise("a", "hard", ("cnn",)), _exercise("b", "medium", ("attention",)),
               _exercise("c", "easy", ("attention",)), _exercise("d", "easy", ("cnn",))]
    best = {"a": 0.0, "b": 0.0, "c": 1.0, "d": 1.0}  # cnn mastery 0.5, attention 0.5
    tags = mastery.tag_mastery(catalog, best, {})
    assert tags["cnn"]["mastery"] == tags["attention"]["mastery"] == 0.5
    assert mastery.next_exercise(catalog, best, tags, {}) == "b"  # equal tags: the medium before the hard
    best["b"] = 0.9  # attention now 0.95: cnn is the weakest
    assert mastery.next_exercise(catalog, best, mastery.tag_mastery(catalog, best, {}), {}) == "a"
    done = dict.fromkeys(best, 1.0)
    last = {"a": "2026-11-03", "b": "2026-11-01", "c": "2026-11-02", "d": "2026-11-04"}
    assert mastery.next_exercise(catalog, done, mastery.tag_mastery(catalog, done, {}), last) == "b"


def test_streak_counts_consecutive_days_ending_today_or_yesterday(tmp_path):
    conn = progress.connect(tmp_path / "p.db")
    for n, day in enumerate(["2026-11-25", "2026-11-27", "2026-11-28", "2026-11-28"]):
        progress.record(conn, [progress.Attempt("x", day, f"{day}T10:00:0{n}+00:00", 1, 1, 1, "pass", 0, "h")])
    assert mastery.streak(conn, "2026-11-28") == 2
    assert mastery.streak(conn, "2026-11-29") == 2  # nothing yet today: the streak still stands
    assert mastery.streak(conn, "2026-11-30") == 0
    conn.close()


def _history(tmp_path, attempts: list[tuple[str, str, str]]):
    conn = progress.connect(tmp_path / "p.db")
    for n, (exercise, day, status) in enumerate(attempts):
        progress.record(conn, [progress.Attempt(exercise, day, f"{day}T10:00:{n:02d}+00:00", 1,
                                                1 if status == "pass" else 0, 1, status, 0, "h")])
    return conn


def test_reviews_fall_due_at_growing_intervals_and_at_once_after_a_failure(tmp_path):
    conn = _history(tmp_path, [("a", "2026-11-01", "pass"),                                   # 1 day in a row
                               ("b", "2026-11-01", "pass"), ("b", "2026-11-02", "pass"),      # 2 days
                               ("b", "2026-11-02", "pass"),                                   # same day: still 2
                               ("c", "2026-11-01", "pass"), ("c", "2026-11-05", "fail"),      # relapsed
                               ("d", "2026-11-01", "fail")])                                  # never passed
    assert mastery.due_dates(conn) == {"a": "2026-11-02", "b": "2026-11-05", "c": "2026-11-05"}
    conn.close()


def test_a_due_review_comes_before_new_work_and_harder_work_waits_for_the_ramp():
    catalog = [_exercise("e1", "easy", ("x",)), _exercise("e2", "easy", ("x",)), _exercise("h1", "hard", ("y",)),
               _exercise("m1", "medium", ("x",))]
    best = {"e1": 1.0, "e2": 0.0, "h1": 0.0, "m1": 0.0}
    tags = mastery.tag_mastery(catalog, best, {})  # y (hard only) is the weakest tag...
    assert mastery.ramp(catalog, best) == 1  # ...but hard is closed: 1 of 3 easy+medium passed
    assert mastery.next_exercise(catalog, best, tags, {}, {"e1": "2026-11-30"}, "2026-11-29") == "e2"
    assert mastery.next_exercise(catalog, best, tags, {}, {"e1": "2026-11-29"}, "2026-11-29") == "e1"  # due today
    best.update(e2=1.0)  # 2 of 3 passed: hard opens, and its tag is the weakest
    assert mastery.next_exercise(catalog, best, mastery.tag_mastery(catalog, best, {}), {}, {}, "2026-11-29") == "h1"
