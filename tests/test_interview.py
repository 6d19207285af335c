"""Interview mode: `grade drill --interview 45m` time-boxes a set of exercises, refuses hints, and
`grade drill --end` reports times and results; attempts after the time is up do not count."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import clock, interview, progress
from grader.discovery import Exercise
from tests.conftest import TINY_REFERENCE, TINY_STUB
from tests.test_workspace import HINTS_README, grade


def _exercise(ident: str, difficulty: str) -> Exercise:
    return Exercise(id=ident, path=Path(ident), title=ident, title_zh=ident, sources=(), difficulty=difficulty)


@pytest.mark.parametrize("text, expected", [("45m", 45), ("1h", 60), ("1h30m", 90), ("90", 90), (" 20min ", 20)])
def test_durations(text, expected):
    assert interview.minutes(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "4m", "9h", "soon", "45s", "-5"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="a duration such as 45m"):
        interview.minutes(text)


def test_the_set_fits_the_time_box_in_drill_order():
    ranked = [_exercise("a", "medium"), _exercise("b", "hard"), _exercise("c", "easy"), _exercise("d", "easy")]
    assert [e.id for e in interview.choose(ranked, 45)] == ["a", "c", "d"]  # 20 + 10 + 10; the hard one does not fit
    assert [e.id for e in interview.choose(ranked[1:2], 15)] == ["b"]  # at least one, even when it overruns


def test_the_report_counts_only_attempts_inside_the_time_box(tmp_path, monkeypatch):
    conn = progress.connect(tmp_path / "p.db")
    monkeypatch.setattr(clock, "now_iso", lambda: "2026-11-29T10:00:00+00:00")
    box = interview.start(conn, [_exercise("a", "easy"), _exercise("b", "easy")], 30)
    assert box.ends_at == "2026-11-29T10:30:00+00:00" and interview.current(conn) == box
    for minute, (ident, status) in [("05", ("a", "fail")), ("12", ("a", "pass")), ("45", ("b", "pass"))]:
        progress.record(conn, [progress.Attempt(ident, "x", f"2026-11-29T10:{minute}:00+00:00", 1,
                                                1.0 if status == "pass" else 0.0, 1.0, status, 0, minute)])
    monkeypatch.setattr(clock, "now_iso", lambda: "2026-11-29T10:50:00+00:00")
    assert interview.time_is_up(box)
    report = interview.end(conn, box)
    assert report["passed"] == 1 and report["of"] == 2 and interview.current(conn) is None
    a, b = report["exercises"]
    assert (a["attempts"], a["passed"], a["minutes_to_pass"], a["best_score"]) == (2, True, 12.0, 1.0)
    assert (b["attempts"], b["passed"], b["minutes_to_pass"]) == (0, False, None)  # 10:45 was too late
    conn.close()


@pytest.mark.slow
def test_an_interview_from_the_command_line(tiny_project, tmp_path):
    (tiny_project / "exercises" / "90_scale" / "README.md").write_text(HINTS_README, encoding="utf-8")
    ws, db = tmp_path / "ws", tmp_path / "p.db"
    assert grade("init", ws, "--exercises", tiny_project / "exercises", "--db", db, cwd=tmp_path).returncode == 0
    (ws / "90_scale" / "solution.py").write_text("# earlier work\n")
    p = grade("drill", "--interview", "15m", cwd=ws)
    assert p.returncode == 0 and "interview: 1 exercise(s), 15 min" in p.stdout and "Scale" in p.stdout, p.stderr
    assert "Hint 1" not in p.stdout and (ws / "90_scale" / "solution.py").read_text() == TINY_STUB
    refused = [grade("hint", "90_scale", cwd=ws), grade("drill", cwd=ws), grade("drill", "--interview", "1h", cwd=ws)]
    assert [r.returncode for r in refused] == [2, 2, 2]
    assert "no hints during an interview" in refused[0].stderr and "under way" in refused[1].stderr
    (ws / "90_scale" / "solution.py").write_text(TINY_REFERENCE)
    assert grade("90_scale", cwd=ws).returncode == 0
    p = grade("drill", "--end", cwd=ws)
    assert p.returncode == 0 and "1/1 passed" in p.stdout and "90_scale  passed after" in p.stdout, p.stdout
    assert grade("drill", "--end", cwd=ws).returncode == 2
    assert grade("hint", "90_scale", cwd=ws).returncode == 0  # hints are back
    p = grade("90_scale", cwd=ws)
    assert "practice: attempt 2 · 1 hints used" in p.stdout, p.stdout  # shown with every later attempt


def test_the_dashboard_shows_scores_mastery_reviews_and_interviews(tmp_path, monkeypatch):
    from grader import dashboard, mastery

    conn = progress.connect(tmp_path / "p.db")
    monkeypatch.setattr(clock, "now_iso", lambda: "2026-11-29T10:00:00+00:00")
    box = interview.start(conn, [_exercise("a", "easy")], 20)
    for n, (ident, score) in enumerate([("a", 0.0), ("a", 0.5), ("a", 1.0), ("b", 1.0)]):
        progress.record(conn, [progress.Attempt(ident, "x", f"2026-11-2{n}T10:00:00+00:00", 60, score, 1.0,
                                                "pass" if score == 1 else "fail", 0, str(n))])
    catalog = [Exercise("a", Path("a"), "A", "甲", (), "easy", ("cnn",)), Exercise("b", Path("b"), "B", "乙", (), "hard", ("rnn",))]
    page = dashboard.render(conn, mastery.summary(conn, catalog))
    assert page.count("<svg") == 1 and "<polyline" in page and "<circle" in page  # a line for a, a point for b
    assert "Mastery by tag" in page and "cnn" in page and "width:100%" in page  # bars
    assert "待复习" in page and "interview" in page.lower() and f"<td>{box.id}</td>" in page
    assert "<script" not in page and "http" not in page.replace('http://www.w3.org', '')  # self-contained
    conn.close()
