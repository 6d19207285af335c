"""grader.results: the JSON contract, exit codes and JUnit XML."""
import json
import xml.etree.ElementTree as ET

from grader.results import SCHEMA, ExerciseResult, RunResult, TestResult, write_json, write_junit


def make_run(*statuses, error=""):
    ex = ExerciseResult(id="90_scale", title="Scale", title_zh="缩放", difficulty="easy", submission="s.py", error=error)
    for i, status in enumerate(statuses):
        ex.tests.append(TestResult(name=f"t{i}", nodeid=f"x::t{i}", category="shape", status=status, points=2,
                                   earned=2 if status == "pass" else 0, message="bad\x00 <b>" if status != "pass" else "",
                                   diagnostics={"max_abs_error": float("inf")} if status == "fail" else None))
    if error:
        ex.status = "error"
    run = RunResult(started_at="2026-01-01T00:00:00+00:00", settings={"seed": 0}, environment={})
    run.exercises.append(ex.finish())
    return run


def test_exit_codes():
    assert make_run("pass", "pass").exit_code == 0
    assert make_run("pass", "fail").exit_code == 1
    assert make_run("pass", "error").exit_code == 1
    assert make_run("pass", "skip").exit_code == 0
    assert make_run(error="no reference").exit_code == 2
    assert RunResult(started_at="", settings={}, environment={}).exit_code == 2


def test_json_document_has_the_stable_fields(tmp_path):
    path = tmp_path / "r.json"
    write_json(make_run("pass", "fail", "skip"), path)
    doc = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: inf became a string
    assert doc["schema"] == SCHEMA and doc["summary"]["exit_code"] == 1
    assert {"tests": 3, "pass": 1, "fail": 1, "skip": 1, "score": 2.0, "max_score": 4.0}.items() <= doc["summary"].items()
    test = doc["exercises"][0]["tests"][1]
    for field in ("name", "category", "status", "message", "duration", "points", "earned", "diagnostics"):
        assert field in test
    assert test["diagnostics"]["max_abs_error"] == "inf"
    assert doc["exercises"][0]["score"] == 2.0 and doc["exercises"][0]["counts"]["fail"] == 1


def test_junit_xml_parses_and_counts(tmp_path):
    path = tmp_path / "r.xml"
    write_junit(make_run("pass", "fail", "error", "skip"), path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("errors") == "1"
    assert suite.get("skipped") == "1"
    assert "\x00" not in path.read_text(encoding="utf-8")
