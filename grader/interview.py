"""Interview mode: a time-boxed set of exercises, no hints, and one report of times and results.

The interview lives in the progress database (table `interviews`); attempts are the ordinary
ones, counted when they finished between its start and its end."""
from __future__ import annotations

import datetime
import json
import re
import sqlite3
from dataclasses import dataclass

from grader import clock
from grader.discovery import Exercise

MINUTES = {"easy": 10, "medium": 20, "hard": 30}  # what one exercise of each difficulty is given
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?:in)?)?")


@dataclass(frozen=True)
class Interview:
    id: int
    started_at: str
    ends_at: str
    exercises: tuple[str, ...]


def minutes(text: str) -> int:
    """'45m', '1h', '1h30m', '90' (minutes) -> minutes; ValueError when it is not one of those or not 5 to 480."""
    found = DURATION.fullmatch(text.strip().lower())
    total = int(text) if text.strip().isdigit() else (found and int(found[1] or 0) * 60 + int(found[2] or 0))
    if not total or not 5 <= total <= 480:
        raise ValueError(f"--interview {text!r}: a duration such as 45m, 1h or 1h30m, from 5 minutes to 8 hours")
    return total


def choose(ranked: list[Exercise], budget: int) -> list[Exercise]:
    """The exercises in drill order that fit `budget` minutes (MINUTES each); at least the first."""
    chosen, used = [], 0
    for e in ranked:
        if used + MINUTES[e.difficulty] <= budget or not chosen:
            chosen.append(e)
            used += MINUTES[e.difficulty]
    return chosen


def start(conn: sqlite3.Connection, exercises: list[Exercise], budget: int) -> Interview:
    now = clock.now_iso()
    ends = (datetime.datetime.fromisoformat(now) + datetime.timedelta(minutes=budget)).isoformat(timespec="seconds")
    ids = tuple(e.id for e in exercises)
    cursor = conn.execute("INSERT INTO interviews (started_at, ends_at, exercises) VALUES (?, ?, ?)",
                          (now, ends, json.dumps(ids)))
    return Interview(cursor.lastrowid, now, ends, ids)


def current(conn: sqlite3.Connection) -> Interview | None:
    """The interview not yet ended, if any."""
    row = conn.execute("SELECT id, started_at, ends_at, exercises FROM interviews WHERE ended_at IS NULL"
                       " ORDER BY id DESC LIMIT 1").fetchone()
    return Interview(row[0], row[1], row[2], tuple(json.loads(row[3]))) if row else None


def time_is_up(interview: Interview) -> bool:
    return clock.now_iso() >= interview.ends_at


def end(conn: sqlite3.Connection, interview: Interview) -> dict:
    """Close the interview and return its report (see `report`)."""
    conn.execute("UPDATE interviews SET ended_at = ? WHERE id = ?", (clock.now_iso(), interview.id))
    return report(conn, interview)


def report(conn: sqlite3.Connection, interview: Interview) -> dict:
    """Per exercise: attempts within the time box, best score, minutes from the start to its first
    pass (None: not passed in time); totals. Attempts after the end do not count."""
    rows = []
    for ident in interview.exercises:
        found = conn.execute(
            "SELECT finished_at, score, max_score, status FROM attempts WHERE exercise = ? AND finished_at >= ?"
            " AND finished_at <= ? ORDER BY finished_at", (ident, interview.started_at, interview.ends_at)).fetchall()
        passed = next((f for f, _, _, status in found if status == "pass"), None)
        best = max(found, key=lambda r: (r[1] / r[2]) if r[2] else 0.0, default=None)
        rows.append({"exercise": ident, "attempts": len(found), "passed": passed is not None,
                     "best_score": best[1] if best else 0.0, "max_score": best[2] if best else 0.0,
                     "minutes_to_pass": _minutes(interview.started_at, passed) if passed else None})
    return {"id": interview.id, "started_at": interview.started_at, "ends_at": interview.ends_at,
            "exercises": rows, "passed": sum(r["passed"] for r in rows), "of": len(rows)}


def _minutes(start_iso: str, end_iso: str) -> float:
    delta = datetime.datetime.fromisoformat(end_iso) - datetime.datetime.fromisoformat(start_iso)
    return round(delta.total_seconds() / 60, 1)
