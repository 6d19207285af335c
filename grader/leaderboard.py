"""The leaderboard of a batch: one row per candidate, from the results each candidate's folder holds."""
from __future__ import annotations

import csv
import html
import io
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from grader.categories import CATEGORIES
from grader.results import write_text

RESULTS, ERROR, REPORT = "results.json", "error.txt", "report.html"


@dataclass
class Row:
    candidate: str
    status: str  # pass | fail | error (the grader could not grade this candidate)
    score: float = 0.0
    max_score: float = 0.0
    exercises: dict[str, float] = field(default_factory=dict)  # exercise id -> score
    categories: dict[str, list[float]] = field(default_factory=dict)  # category -> [earned, points]
    seconds: float = 0.0
    error: str = ""
    mistakes: list[str] = field(default_factory=list)  # "exercise: mistake" per likely known mistake


def read_row(folder: Path) -> Row:
    """The row of the candidate whose outputs are in `folder` (its results.json, else its error.txt)."""
    if not (folder / RESULTS).is_file():
        error = (folder / ERROR).read_text(encoding="utf-8") if (folder / ERROR).is_file() else "not graded"
        return Row(folder.name, "error", error=error.strip())
    doc = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    summary, categories = doc["summary"], {}
    for ex in doc["exercises"]:
        for t in ex["tests"]:
            if t["status"] != "skip":
                pair = categories.setdefault(t["category"], [0.0, 0.0])
                pair[0] += t["earned"]
                pair[1] += t["points"]
    likely = [f"{ex['id']}: {' or '.join(ex['likely_mistake']['names'])}" for ex in doc["exercises"]
              if ex.get("likely_mistake")]
    return Row(folder.name, summary["status"], summary["score"], summary["max_score"],
               {ex["id"]: ex["score"] for ex in doc["exercises"]}, categories, summary["duration"], mistakes=likely)


def ranked(rows: list[Row]) -> list[Row]:
    """Highest score first; ties (and errors, last) by candidate name."""
    return sorted(rows, key=lambda r: (r.status == "error", -r.score, r.candidate))


def columns(rows: list[Row]) -> tuple[list[str], list[str]]:
    """The exercise ids and the categories any row has, in a stable order."""
    exercises = sorted({e for r in rows for e in r.exercises})
    present = {c for r in rows for c in r.categories}
    return exercises, [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))


def table(rows: list[Row]) -> list[list[str]]:
    """Header and one line per candidate, ranked; the cells the CSV and the HTML both show."""
    rows = ranked(rows)
    exercises, categories = columns(rows)
    lines = [["candidate", "status", "score", "max_score", *exercises, *categories, "seconds", "likely_mistakes",
              "report", "error"]]
    for r in rows:
        lines.append([r.candidate, r.status, f"{r.score:g}", f"{r.max_score:g}",
                      *(f"{r.exercises[e]:g}" if e in r.exercises else "" for e in exercises),
                      *(f"{r.categories[c][0]:g}/{r.categories[c][1]:g}" if c in r.categories else ""
                        for c in categories),
                      f"{r.seconds:.1f}", "; ".join(r.mistakes), f"{r.candidate}/{REPORT}" if r.status != "error" else "",
                      r.error.splitlines()[-1] if r.error else ""])
    return lines


def write(out: Path, rows: list[Row]) -> None:
    """OUT/leaderboard.csv and OUT/leaderboard.html."""
    lines = table(rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    write_text(out / "leaderboard.csv", buffer.getvalue())
    write_text(out / "leaderboard.html", _html(lines))


def _html(lines: list[list[str]]) -> str:
    link = lines[0].index("report")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in lines[0])
    body = "".join("<tr>" + "".join(_cell(c, i == link) for i, c in enumerate(line)) + "</tr>\n" for line in lines[1:])
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Leaderboard</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "</style></head><body><h1>Leaderboard</h1>\n"
            f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table></body></html>\n")


def _cell(text: str, is_link: bool) -> str:
    if is_link and text:
        return f'<td><a href="{html.escape(urllib.parse.quote(text))}">report</a></td>'
    return f"<td>{html.escape(text)}</td>"
