"""The learner's progress store: attempts, per-category results and hints in a local SQLite database.

One file (WAL mode, a versioned schema migrated by `MIGRATIONS`); every write is one transaction, so
a `grade` killed mid-write leaves no partial attempt, and concurrent writers wait (busy_timeout).
"""
from __future__ import annotations

import datetime
import hashlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from grader import clock

DB_ENV = "GRADER_PROGRESS_DB"
APP_DIR = "pytorch-interview-grader"
BUSY_TIMEOUT_MS = 30_000
RECORDED_STATUSES = ("pass", "fail")  # an exercise the grader could not grade, or not submitted, is no attempt

# Each entry brings the schema from version i to i + 1 (PRAGMA user_version); never edit one, append.
MIGRATIONS: list[tuple[str, ...]] = [
    ("""CREATE TABLE attempts (
            id INTEGER PRIMARY KEY, exercise TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
            seconds REAL NOT NULL, score REAL NOT NULL, max_score REAL NOT NULL, status TEXT NOT NULL,
            seed INTEGER, submission_sha256 TEXT NOT NULL, hints_used INTEGER NOT NULL DEFAULT 0,
            UNIQUE (exercise, submission_sha256, finished_at))""",
     """CREATE TABLE attempt_categories (
            attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE, category TEXT NOT NULL,
            earned REAL NOT NULL, points REAL NOT NULL, PRIMARY KEY (attempt_id, category))"""),
    ("""CREATE TABLE hints (
            exercise TEXT NOT NULL, level INTEGER NOT NULL, revealed_at TEXT NOT NULL,
            PRIMARY KEY (exercise, level))""",),
    ("CREATE TABLE timers (exercise TEXT PRIMARY KEY, started_at TEXT NOT NULL)",),
    ("""CREATE TABLE interviews (
            id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ends_at TEXT NOT NULL,
            exercises TEXT NOT NULL, ended_at TEXT)""",),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class Attempt:
    """One graded attempt at one exercise; categories: category -> (earned, points)."""

    exercise: str
    started_at: str
    finished_at: str
    seconds: float
    score: float
    max_score: float
    status: str
    seed: int | None
    submission_sha256: str
    hints_used: int = 0
    categories: dict = field(default_factory=dict)


def default_path() -> Path:
    """$GRADER_PROGRESS_DB, else $XDG_DATA_HOME (default ~/.local/share)/pytorch-interview-grader/progress.db."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / APP_DIR / "progress.db"


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the database at `path`; autocommit, explicit transactions."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. Two processes opening a new database at once can find it locked here: the
    switch does not wait on the busy handler, so retry (within the busy timeout)."""
    deadline = clock.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or clock.monotonic() > deadline:
                raise
            clock.sleep(0.01)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in its own write transaction (a concurrent opener waits,
    then sees the new version and skips it); returns the schema version."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            conn.execute("COMMIT")
            return version
        try:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def record(conn: sqlite3.Connection, attempts: list[Attempt]) -> int:
    """Record the attempts in one transaction; one already there (same exercise, submission and
    finish time) is skipped. Returns how many were new."""
    new = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for attempt in attempts:
            new += _insert_attempt(conn, attempt)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return new


def _insert_attempt(conn: sqlite3.Connection, a: Attempt) -> int:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO attempts (exercise, started_at, finished_at, seconds, score, max_score, status,"
        " seed, submission_sha256, hints_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (a.exercise, a.started_at, a.finished_at, a.seconds, a.score, a.max_score, a.status, a.seed,
         a.submission_sha256, a.hints_used))
    if cursor.rowcount == 0:
        return 0
    _insert_categories(conn, cursor.lastrowid, a.categories)
    if a.status == "pass":  # the drill is done: a later attempt times itself
        conn.execute("DELETE FROM timers WHERE exercise = ?", (a.exercise,))
    return 1


def _insert_categories(conn: sqlite3.Connection, attempt_id: int, categories: dict) -> None:
    conn.executemany("INSERT INTO attempt_categories (attempt_id, category, earned, points) VALUES (?, ?, ?, ?)",
                     [(attempt_id, c, earned, points) for c, (earned, points) in sorted(categories.items())])


def hints_used(conn: sqlite3.Connection, exercise: str) -> int:
    return conn.execute("SELECT COALESCE(MAX(level), 0) FROM hints WHERE exercise = ?", (exercise,)).fetchone()[0]


def reveal_hint(conn: sqlite3.Connection, exercise: str, level: int) -> None:
    conn.execute("INSERT OR IGNORE INTO hints (exercise, level, revealed_at) VALUES (?, ?, ?)",
                 (exercise, level, clock.now_iso()))


def practice_so_far(conn: sqlite3.Connection, exercise: str) -> dict:
    """{"attempts": n, "hints_used": k} recorded for `exercise` so far."""
    attempts = conn.execute("SELECT COUNT(*) FROM attempts WHERE exercise = ?", (exercise,)).fetchone()[0]
    return {"attempts": attempts, "hints_used": hints_used(conn, exercise)}


def start_timer(conn: sqlite3.Connection, exercise: str) -> None:
    """`grade drill` began `exercise` now: its attempts count their time from here until one passes."""
    conn.execute("INSERT OR REPLACE INTO timers (exercise, started_at) VALUES (?, ?)", (exercise, clock.now_iso()))


def attempts_from_run(run, conn: sqlite3.Connection) -> list[Attempt]:
    """The attempts a grading run made (exercises graded pass or fail). started_at and seconds run
    from the drill's start when one is timing the exercise, else they are the grading's own."""
    finished = clock.now_iso()
    seed = run.settings.get("seed")
    timers = dict(conn.execute("SELECT exercise, started_at FROM timers"))
    return [Attempt(exercise=e.id, started_at=timers.get(e.id, run.started_at), finished_at=finished,
                    seconds=_elapsed(timers[e.id], finished) if e.id in timers else e.duration,
                    score=e.score, max_score=e.max_score, status=e.status, seed=seed,
                    submission_sha256=_sha256(e.submission), hints_used=hints_used(conn, e.id),
                    categories=_categories(e))
            for e in run.exercises if e.status in RECORDED_STATUSES]


def _elapsed(start: str, end: str) -> float:
    return (datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)).total_seconds()


def _categories(exercise_result) -> dict:
    totals: dict[str, tuple[float, float]] = {}
    for t in exercise_result.tests:
        if t.status != "skip":
            earned, points = totals.get(t.category, (0.0, 0.0))
            totals[t.category] = (earned + t.earned, points + t.points)
    return totals


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return hashlib.sha256(path.encode()).hexdigest()


def record_run(run, db: Path | str) -> int:
    """Record a finished grading run's attempts in the database at `db`; returns how many were new."""
    conn = connect(db)
    try:
        return record(conn, attempts_from_run(run, conn))
    finally:
        conn.close()
