"""What the progress database says about a learner: best scores, streak, per-tag mastery, when each
passed exercise is due for review (spaced repetition), and what to drill next."""
from __future__ import annotations

import datetime
import sqlite3

from grader import clock
from grader.discovery import DIFFICULTIES, Exercise

INTERVAL_DAYS = (1, 3, 7, 14, 30, 60)  # review after the n-th day in a row an exercise passed
RAMP = 0.5  # a harder difficulty opens once this share of the easier exercises is passed


def summary(conn: sqlite3.Connection, exercises: list[Exercise]) -> dict:
    """The progress summary `grade progress` prints and `--export` writes (JSON-ready)."""
    per_exercise = _per_exercise(conn)
    best = {e.id: per_exercise.get(e.id, {}).get("best_ratio", 0.0) for e in exercises}
    tags = tag_mastery(exercises, best, per_exercise)
    today = clock.now_iso()[:10]
    due = due_dates(conn)
    for ident, day in due.items():
        per_exercise.setdefault(ident, {})["due"] = day
    return {
        "attempts": conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0],
        "streak_days": streak(conn, today),
        "exercises": per_exercise,
        "tags": tags,
        "due": sorted(i for i, day in due.items() if day <= today),
        "next": next_exercise(exercises, best, tags, {i: row["last"] for i, row in per_exercise.items() if "last" in row},
                              due, today),
    }


def due_dates(conn: sqlite3.Connection) -> dict[str, str]:
    """exercise -> the day (ISO) its review is due, for every exercise that ever passed: after n
    days in a row of passing, INTERVAL_DAYS[n - 1] days after the last; at once when the latest
    attempt failed."""
    history: dict[str, list[tuple[str, str]]] = {}
    for ident, day, status in conn.execute("SELECT exercise, substr(finished_at, 1, 10), status FROM attempts"
                                           " ORDER BY exercise, finished_at, id"):
        history.setdefault(ident, []).append((day, status))
    return {ident: _due(attempts) for ident, attempts in history.items() if any(s == "pass" for _, s in attempts)}


def _due(attempts: list[tuple[str, str]]) -> str:
    last_day, last_status = attempts[-1]
    if last_status != "pass":
        return last_day
    run = []  # the distinct days of the trailing run of passes
    for day, status in reversed(attempts):
        if status != "pass":
            break
        if day not in run:
            run.append(day)
    interval = INTERVAL_DAYS[min(len(run), len(INTERVAL_DAYS)) - 1]
    return (datetime.date.fromisoformat(last_day) + datetime.timedelta(days=interval)).isoformat()


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


def next_exercise(exercises: list[Exercise], best: dict, tags: dict, last: dict, due: dict | None = None,
                  today: str = "") -> str | None:
    """The exercise to drill next: a review that is due (most overdue first); else one not yet
    fully passed, within the difficulty ramp (weakest tag first, then easiest, then by id); else
    the review due soonest (then the one practised longest ago)."""
    due = due or {}
    overdue = sorted((due[e.id], e.id) for e in exercises if e.id in due and due[e.id] <= today)
    if overdue:
        return overdue[0][1]
    open_ones = [e for e in exercises if best[e.id] < 1.0]
    if open_ones:
        ceiling = ramp(exercises, best)
        within = [e for e in open_ones if DIFFICULTIES.index(e.difficulty) <= ceiling] or open_ones

        def key(e: Exercise):
            weakest = min((tags[t]["mastery"] for t in e.tags), default=best[e.id])
            return weakest, DIFFICULTIES.index(e.difficulty), e.id
        return min(within, key=key).id
    return min(exercises, key=lambda e: (due.get(e.id, ""), last.get(e.id, ""), e.id)).id if exercises else None


def ramp(exercises: list[Exercise], best: dict) -> int:
    """The hardest difficulty (index into DIFFICULTIES) open to the learner: the next one opens once
    RAMP of the exercises up to the current one are passed."""
    for level in range(len(DIFFICULTIES)):
        upto = [e for e in exercises if DIFFICULTIES.index(e.difficulty) <= level]
        if upto and sum(best[e.id] >= 1.0 for e in upto) < RAMP * len(upto):
            return level
    return len(DIFFICULTIES) - 1


def queue(conn: sqlite3.Connection, exercises: list[Exercise], tag: str | None, difficulty: str | None) -> list[Exercise]:
    """Every exercise with `tag` and `difficulty`, in the order `grade drill` would offer them."""
    chosen = [e for e in exercises if (tag is None or tag in e.tags) and difficulty in (None, e.difficulty)]
    order = []
    while chosen:
        found = pick(conn, chosen, None, None)
        order.append(found)
        chosen = [e for e in chosen if e.id != found.id]
    return order


def pick(conn: sqlite3.Connection, exercises: list[Exercise], tag: str | None, difficulty: str | None):
    """`grade drill`'s choice among the exercises with `tag` and `difficulty` (None: any), or None."""
    data = summary(conn, exercises)
    chosen = [e for e in exercises if (tag is None or tag in e.tags) and difficulty in (None, e.difficulty)]
    best = {e.id: data["exercises"].get(e.id, {}).get("best_ratio", 0.0) for e in exercises}
    last = {i: row["last"] for i, row in data["exercises"].items() if "last" in row}
    due = {i: row["due"] for i, row in data["exercises"].items() if "due" in row}
    found = next_exercise(chosen, best, data["tags"], last, due, clock.now_iso()[:10])
    return next((e for e in chosen if e.id == found), None)
