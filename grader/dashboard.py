"""The learner's HTML dashboard: one self-contained page of `grade progress`'s summary, with a
chart of scores over attempts, mastery bars per tag and the interviews so far."""
from __future__ import annotations

import json
import sqlite3

import jinja2
from markupsafe import Markup

from grader import interview, plots

MAX_SERIES = 8  # exercises drawn in the chart: the most practised


def render(conn: sqlite3.Connection, data: dict) -> str:
    """The dashboard of `data` (mastery.summary) and the interviews in `conn`, as one HTML page."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("grader", "templates"), autoescape=True)
    tags = sorted(data["tags"].items(), key=lambda item: (item[1]["mastery"], item[0]))
    return env.get_template("dashboard.html.j2").render(data=data, tags=tags, chart=Markup(_chart(conn)),
                                                        interviews=_interviews(conn))


def _chart(conn: sqlite3.Connection) -> str:
    series: dict[str, list[float]] = {}
    for ident, score, top in conn.execute("SELECT exercise, score, max_score FROM attempts ORDER BY finished_at, id"):
        series.setdefault(ident, []).append(100 * score / top if top else 0.0)
    drawn = dict(sorted(series.items(), key=lambda item: (-len(item[1]), item[0]))[:MAX_SERIES])
    return plots.line_chart_svg(drawn, "Score (%) by attempt / 每次尝试得分", from_zero=True)


def _interviews(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT id, started_at, ends_at, exercises FROM interviews ORDER BY id").fetchall()
    return [interview.report(conn, interview.Interview(i, s, e, tuple(json.loads(x))))
            for i, s, e, x in rows]
