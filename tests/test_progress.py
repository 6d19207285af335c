"""The progress store: schema and migrations, idempotent recording, concurrent writers, a writer killed mid-write."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from grader import progress
from grader.progress import Attempt

REPO = Path(__file__).resolve().parent.parent


def _attempt(n: int = 0, exercise: str = "90_scale") -> Attempt:
    return Attempt(exercise=exercise, started_at="2026-11-29T09:00:00+00:00", finished_at=f"2026-11-29T09:{n // 60:02d}:{n % 60:02d}+00:00",
                   seconds=1.5, score=2.0, max_score=3.0, status="fail", seed=0, submission_sha256=f"{n:064x}",
                   categories={"shape": (1.0, 1.0), "equivalence": (1.0, 2.0)})


def _counts(db: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM attempt_categories").fetchone()[0],
                conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_schema_created_from_version_0_in_wal_mode(tmp_path):
    db = tmp_path / "p.db"
    sqlite3.connect(db).close()  # an empty database: user_version 0
    conn = progress.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == progress.SCHEMA_VERSION == 4
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"attempts", "attempt_categories", "hints", "timers", "interviews"} <= tables
    conn.close()


def test_migration_from_version_1_keeps_attempts(tmp_path):
    db = tmp_path / "p.db"
    old = sqlite3.connect(db, isolation_level=None)
    for statement in progress.MIGRATIONS[0]:
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO attempts (exercise, started_at, finished_at, seconds, score, max_score, status, seed,"
                " submission_sha256) VALUES ('a', 's', 'f', 1, 1, 1, 'pass', 0, 'x')")
    old.close()
    conn = progress.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == progress.SCHEMA_VERSION
    assert conn.execute("SELECT exercise, hints_used FROM attempts").fetchall() == [("a", 0)]
    progress.reveal_hint(conn, "a", 1)
    assert progress.hints_used(conn, "a") == 1
    conn.close()


def test_recording_is_idempotent(tmp_path):
    db = tmp_path / "p.db"
    conn = progress.connect(db)
    assert progress.record(conn, [_attempt(1), _attempt(2)]) == 2
    assert progress.record(conn, [_attempt(1), _attempt(2), _attempt(3)]) == 1
    conn.close()
    assert _counts(db) == (3, 6, "ok")


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from grader import progress
    from test_progress import _attempt
    first = int(sys.argv[1])
    for n in range(first, first + 40):
        conn = progress.connect(sys.argv[2])
        progress.record(conn, [_attempt(n)])
        conn.close()
""").format(tests=str(REPO / "tests"))


def test_two_concurrent_writers_both_recorded(tmp_path):
    db = tmp_path / "p.db"  # fresh: both writers also race to create the schema
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(first), str(db)], cwd=REPO) for first in (0, 1000)]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    assert _counts(db) == (80, 160, "ok")


KILLED = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from grader import progress
    from test_progress import _attempt
    inserted = progress._insert_categories
    def stall(*args):
        inserted(*args)
        print("inside", flush=True)
        time.sleep(120)
    progress._insert_categories = stall
    progress.record(progress.connect(sys.argv[1]), [_attempt(7)])
""").format(tests=str(REPO / "tests"))


def test_writer_killed_mid_transaction_leaves_no_partial_attempt(tmp_path):
    db = tmp_path / "p.db"
    conn = progress.connect(db)
    progress.record(conn, [_attempt(1)])
    conn.close()
    writer = subprocess.Popen([sys.executable, "-c", KILLED, str(db)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "inside"  # the attempt row and its categories are written, uncommitted
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    assert _counts(db) == (1, 2, "ok")
    conn = progress.connect(db)  # the killed writer's lock is gone: the same attempt records now
    assert progress.record(conn, [_attempt(7)]) == 1
    conn.close()
    assert _counts(db) == (2, 4, "ok")


def test_a_drill_timer_times_attempts_until_one_passes(tmp_path, monkeypatch):
    from grader import clock
    from grader.results import ExerciseResult, RunResult, TestResult

    def run(status: str) -> RunResult:
        test = TestResult("t", "t", "shape", status, earned=float(status == "pass"))
        result = ExerciseResult("90_scale", "S", "S", "easy", str(tmp_path / "s.py"), status=status, duration=2.0,
                                tests=[test])
        return RunResult(started_at="2026-11-29T10:00:00+00:00", settings={"seed": 4}, environment={},
                         exercises=[result])
    conn = progress.connect(tmp_path / "p.db")
    monkeypatch.setattr(clock, "now_iso", lambda: "2026-11-29T09:00:00+00:00")
    progress.start_timer(conn, "90_scale")
    for minute, status in ((10, "fail"), (25, "pass"), (40, "pass")):
        monkeypatch.setattr(clock, "now_iso", lambda m=minute: f"2026-11-29T10:{m}:00+00:00")
        progress.record(conn, progress.attempts_from_run(run(status), conn))
    rows = conn.execute("SELECT started_at, seconds, status, seed FROM attempts ORDER BY id").fetchall()
    assert rows == [("2026-11-29T09:00:00+00:00", 4200.0, "fail", 4), ("2026-11-29T09:00:00+00:00", 5100.0, "pass", 4),
                    ("2026-11-29T10:00:00+00:00", 2.0, "pass", 4)]  # after the pass: the grading's own time
    conn.close()
