"""GitHub Actions job summary: the leaderboard as Markdown appended to $GITHUB_STEP_SUMMARY,
kept under GitHub's size limit for one step's summary."""
from __future__ import annotations

import os
from pathlib import Path

from grader import leaderboard

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
LIMIT = 1024 * 1024  # bytes: GitHub refuses a larger step summary (and shows none of it)
MARGIN = 4096  # room for the closing line


def markdown(rows: list[leaderboard.Row], limit: int = LIMIT) -> str:
    """A heading, the leaderboard table (candidate, status, score, per exercise, per category,
    seconds, error) and a count; rows that would pass `limit` bytes are left out and counted."""
    lines = [r[:-2] + r[-1:] for r in leaderboard.table(rows)]  # the report link is a local path: dropped
    head = ["## Grading results", "", _row(lines[0]), "|" + "---|" * len(lines[0])]
    text, shown = "\n".join(head) + "\n", 0
    for line in lines[1:]:
        row = _row(line) + "\n"
        if len((text + row).encode()) > limit - MARGIN:
            break
        text, shown = text + row, shown + 1
    left = len(lines) - 1 - shown
    passed = sum(r.status == "pass" for r in rows)
    text += f"\n{len(rows)} candidates, {passed} passed every test" + (f"; {left} rows left out (size limit)" if left else "")
    return text + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")[:200] for c in cells) + " |"


def append(rows: list[leaderboard.Row], environ=os.environ) -> Path | None:
    """Append the summary where GitHub Actions asks for it; None when not running in Actions."""
    target = environ.get(SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as f:
        f.write(markdown(rows))
    return path
