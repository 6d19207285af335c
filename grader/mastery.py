"""What the progress database says about a learner: best scores, streak, per-tag mastery, what to drill next."""
from __future__ import annotations

import datetime
import sqlite3

from grader import clock
from grader.discovery import DIFFICULTIES, Exercise


def summary(conn: sqlite3.Connection, exercises: list[Exercise]) -> dict:
    """The progress summary `grade progress` prints and `--export` writes (JSON-ready)."""
    per_exercise = _per_exercise(conn)
    best = {e.id: per_exercise.get(e.id, {}).get("best_ratio", 0.0) for e in exercises}
    tags = tag_mastery(exercises, best, per_exercise)
    return {
        "attempts": conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0],
        "streak_days": streak(conn, clock.now_iso()[:10]),
        "exercises": per_exercise,
        "tags": tags,
        "next": next_exercise(exercises, best, tags, {i: row["last"] for i, row in per_exercise.items()}),
    }


def _per_exercise(conn: sqlite3.Connection) -> dict:
    rows = conn.execute(
        "SELECT exercise, COUNT(*), MAX(score), MAX(max_score), MAX(CASE WHEN max_score > 0 THEN score / max_score"
        " ELSE 0 END), MAX(hints_used), MAX(finished_at), SUM(seconds) FROM attempts GROUP BY exercise ORDER BY exercise")
    hints = dict(conn.execute("SELECT exercise, MAX(level) FROM hints GROUP BY exercise"))
    return {ex: {"attempts": n, "best_score": best, "max_score": top, "best_ratio": round(ratio, 4),
                 "hints_used": max(used, hints.get(ex, 0)), "last": last, "seconds": round(seconds, 1)}
            for ex, n, best, top, ratio, used, last, seconds in rows}


def streak(conn: sqlite3.Connection, today: str) -> int:
    """Consecutive days with an attempt, ending today (or yesterday, when today has none yet)."""
    days = {row[0] for row in conn.execute("SELECT DISTINCT substr(finished_at, 1, 10) FROM attempts")}
    day = datetime.date.fromisoformat(today)
    if day.isoformat() not in days:
        day -= datetime.timedelta(days=1)
    count = 0
    while day.isoformat() in days:
        count, day = count + 1, day - datetime.timedelta(days=1)
    return count


def tag_mastery(exercises: list[Exercise], best: dict, per_exercise: dict) -> dict:
    """tag -> mastery (mean best score ratio over its exercises, untried ones counting 0), tried, of."""
    grouped: dict[str, list[str]] = {}
    for e in exercises:
        for tag in e.tags:
            grouped.setdefault(tag, []).append(e.id)
    return {tag: {"mastery": round(sum(best[i] for i in ids) / len(ids), 4),
                  "tried": sum(i in per_exercise for i in ids), "of": len(ids)}
            for tag, ids in sorted(grouped.items())}


def next_exercise(exercises: list[Exercise], best: dict, tags: dict, last: dict) -> str | None:
    """The exercise to drill next: one not yet fully passed (weakest tag first, then easiest, then by
    id); when every one is passed, the one practised longest ago."""
    open_ones = [e for e in exercises if best[e.id] < 1.0]
    if not open_ones:
        return min(exercises, key=lambda e: (last.get(e.id, ""), e.id)).id if exercises else None

    def key(e: Exercise):
        weakest = min((tags[t]["mastery"] for t in e.tags), default=best[e.id])
        return weakest, DIFFICULTIES.index(e.difficulty), e.id
    return min(open_ones, key=key).id


def pick(conn: sqlite3.Connection, exercises: list[Exercise], tag: str | None, difficulty: str | None):
    """`grade drill`'s choice among the exercises with `tag` and `difficulty` (None: any), or None."""
    data = summary(conn, exercises)
    chosen = [e for e in exercises if (tag is None or tag in e.tags) and difficulty in (None, e.difficulty)]
    best = {e.id: data["exercises"].get(e.id, {}).get("best_ratio", 0.0) for e in exercises}
    last = {i: row["last"] for i, row in data["exercises"].items()}
    found = next_exercise(chosen, best, data["tags"], last)
    return next((e for e in chosen if e.id == found), None)
