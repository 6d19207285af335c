"""The front door: an operator's mistake is refused before grading (exit 2, one line, no worker
started); source is read as Python reads it; a candidate's failure never crashes the grader.

The table of bad inputs runs the real entry point in this process with the fork server replaced
by a tripwire, so each case proves that no grading started, and stays fast."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader import cli, supervisor
from grader.console import Progress
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.source import SourceError, decode
from grader.text import clean
from tests.conftest import REPO, TINY_REFERENCE, run_grade, write_candidate

GOOD = "def scale(x):\n    return 2 * x\n"
FAST = 1.0  # seconds: a refusal must come well before the fork server could even start


def second_exercise(project: Path) -> Path:
    """A copy of 90_scale as 91_scale, so that `project/exercises` holds two exercises."""
    src, dst = project / "exercises" / "90_scale", project / "exercises" / "91_scale"
    dst.mkdir()
    for f in src.iterdir():
        text = f.read_text(encoding="utf-8").replace('id = "90_scale"', 'id = "91_scale"')
        (dst / f.name).write_text(text, encoding="utf-8")
    (project / "solutions" / "91_scale.py").write_text(TINY_REFERENCE)
    return dst


@pytest.fixture
def door(tiny_project: Path):
    """Paths the table refers to by name."""
    p = tiny_project
    good = p / "good.py"
    good.write_text(GOOD)
    (p / "empty_subs").mkdir()
    (p / "a_file").write_text("not a folder")
    (p / "a_folder").mkdir()
    (p / "no_refs").mkdir()
    two = p / "two"
    (two / "exercises").mkdir(parents=True)
    second_exercise(p)
    broken = p / "broken" / "80_broken"
    broken.mkdir(parents=True)
    (broken / "exercise.toml").write_text('id = "80_broken"\ntitle = "x"\n', encoding="utf-8")
    fifo = p / "fifo.py"
    os.mkfifo(fifo)
    return {"EX": p / "exercises" / "90_scale", "ALL": p / "exercises", "GOOD": good, "P": p}


E, G = "{EX}", "{GOOD}"
# (id, arguments, a fragment of the one-line message)
BAD_INPUTS = [
    ("missing exercise", ["/nonexistent/exercise"], "does not exist"),
    ("folder without exercises", ["{P}/a_folder"], "no exercise.toml"),
    ("broken exercise.toml", ["{P}/broken/80_broken"], "missing 'title_zh'"),
    ("no PATH", ["--seed", "3"], "Missing argument 'PATH'"),
    ("unknown option", [E, "--bogus-option"], "No such option '--bogus-option'"),
    ("bad --device", [E, "--device", "gpu"], "'--device'"),
    ("option without value", [E, "--seed"], "requires an argument"),
    ("missing submission file", [E, "--submission", "{P}/nope.py"], "no such file or folder"),
    ("submission folder without it", [E, "--submission", "{P}/empty_subs"], "holds no submission for 90_scale"),
    ("submission folder, no exercise", ["{ALL}", "--submission", "{P}/empty_subs"], "any of the 2 exercises"),
    ("one file, many exercises", ["{ALL}", "--submission", G], "is one file but 2 exercises"),
    ("submission is a device", [E, "--submission", "/dev/zero"], "not a regular file"),
    ("submission is a fifo", [E, "--submission", "{P}/fifo.py"], "not a regular file"),
    *[(f"--{option} {value}", [E, "--submission", G, f"--{option}", value], words)
      for option, words, values in [
          ("seed", "--seed must be a whole number from 0 to 4294967295", [str(2**64), str(2**32), "-1", "2**64", "1.5"]),
          ("timeout", "--timeout must be a number of seconds from 0.5 to 3600",
           ["inf", "nan", "0", "-5", "1e12", "0.01", "soon"]),
          ("memory", "--memory must be a whole number of MiB from 1024", ["0", "-1", "64", str(10**9), "2048.5"])]
      for value in values],
    ("-k syntax", [E, "--submission", G, "-k", "and and"], "is not a valid expression"),
    ("-k empty", [E, "--submission", G, "-k", " "], "-k needs an expression"),
    ("missing --solutions", [E, "--submission", G, "--solutions", "{P}/nope"], "--solutions"),
    ("--solutions is a file", [E, "--submission", G, "--solutions", "{P}/a_file"], "not a folder"),
    ("no reference there", [E, "--submission", G, "--solutions", "{P}/no_refs"], "no reference solution for 90_scale"),
    ("--json under a file", [E, "--submission", G, "--json", "{P}/a_file/deeper/r.json"], "a_file is a file, not a folder"),
    ("--json in /proc", [E, "--submission", G, "--json", "/proc/r.json"], "cannot write there"),
    ("--report is a folder", [E, "--submission", G, "--report", "{P}/a_folder"], "is a folder"),
    ("two outputs on stdout", [E, "--submission", G, "--json", "-", "--junit", "-"], "only one of"),
    ("--json over the submission", [E, "--submission", G, "--json", G], "also the --submission path"),
    ("--junit over --json", [E, "--submission", G, "--json", "{P}/o.x", "--junit", "{P}/o.x"], "also the --json path"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_an_operator_mistake_is_refused_at_once(case, door, monkeypatch, capsys):
    _, args, words = case
    monkeypatch.setattr(supervisor.WorkerPool, "start", _no_grading)
    monkeypatch.setattr(sys, "argv", ["grade", *(a.format(**door) for a in args)])
    start = time.monotonic()
    with pytest.raises(SystemExit) as stop:
        cli.entry()
    seconds = time.monotonic() - start
    out, err = capsys.readouterr()
    assert stop.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("grade: ") and words in err, err
    assert out == "" and seconds < FAST, (out, seconds)


def _no_grading(self):
    raise AssertionError("the fork server was started for an operator's mistake")


def test_bad_inputs_table_is_large_enough():
    assert len(BAD_INPUTS) >= 30


def test_missing_output_folders_are_created_up_front(door, monkeypatch, capsys):
    """The folders exist before grading starts (here grading is stopped at its first step)."""
    out = door["P"] / "new" / "deeper" / "r.json"
    monkeypatch.setattr(supervisor.WorkerPool, "start", _no_grading)
    monkeypatch.setattr(sys, "argv", ["grade", str(door["EX"]), "--submission", str(door["GOOD"]), "--json", str(out)])
    with pytest.raises(AssertionError, match="fork server was started"):
        cli.main(standalone_mode=False)
    assert out.parent.is_dir() and not out.exists()


# -- the real command: fast paths and what a run writes -------------------------------------------
@pytest.mark.parametrize("args, code, words", [
    (["--help"], 0, "--submission"), (["list", REPO / "exercises"], 0, "17_self_attention"),
    (["/nonexistent"], 2, "grade: /nonexistent does not exist"), (["run", "--seed", "x"], 2, "grade: ")])
def test_help_list_and_a_missing_path_answer_in_under_a_second(args, code, words):
    start = time.monotonic()
    p = run_grade(*args)
    seconds = time.monotonic() - start
    assert p.returncode == code and words in p.stdout + p.stderr, p.stdout + p.stderr
    assert seconds < FAST, f"grade {' '.join(map(str, args))} took {seconds:.2f} s"


def test_help_lists_what_grade_path_accepts():
    p = run_grade("--help")
    for option in ("--submission", "--seed", "--timeout", "--memory", "--json", "--junit", "--report", "-k",
                   "grade list", "grade validate", "Exit status"):
        assert option in p.stdout, option
    assert "grade run" not in p.stdout + run_grade("--bogus").stderr


def test_the_fast_paths_do_not_import_torch():
    code = ("import sys; from grader import cli, console, arguments, session;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


@pytest.mark.slow
def test_a_file_that_does_not_import_fails_once_and_json_goes_to_stdout(tiny_project):
    bad = tiny_project / "syntax.py"
    bad.write_text("def scale(x)\n    return 2 * x\n")
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", bad, "--json", "-")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)  # stdout holds the JSON alone; the table went to stderr
    tests = doc["exercises"][0]["tests"]
    assert [t["status"] for t in tests] == ["error", "not_run", "not_run", "not_run"]
    assert "failed to import: SyntaxError" in tests[0]["message"] and tests[0]["origin"] == "candidate"
    assert all("SyntaxError" in t["message"] and t["duration"] == 0 for t in tests[1:])
    assert doc["summary"]["not_run"] == 3 and doc["exercises"][0]["max_score"] == 4
    assert p.stderr.count("SyntaxError") <= 3  # once in the table, once in the not-run line, once in findings


@pytest.mark.slow
def test_hostile_text_is_cleaned_and_every_output_is_written(tiny_project):
    """A candidate raising text with a lone surrogate, escapes and controls: exit 1 (its failure),
    and JSON, JUnit and HTML are written into folders that did not exist."""
    cand = tiny_project / "nasty.py"
    cand.write_text('def scale(x):\n    raise ValueError("\\ud800 \\x1b[31mred\\x1b[0m \\x07 \\u202e end")\n')
    out = tiny_project / "out" / "new"
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", cand, "--json", out / "r.json",
                  "--junit", out / "j" / "r.xml", "--report", out / "h" / "r.html")
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads((out / "r.json").read_bytes().decode("utf-8"))
    message = doc["exercises"][0]["tests"][0]["message"]
    assert "red" in message and "end" in message and not any(c in message for c in "\ud800\x1b\x07\u202e")
    ET.parse(out / "j" / "r.xml")
    assert "</html>" in (out / "h" / "r.html").read_text(encoding="utf-8")
    assert "\x1b[31m" not in p.stdout and "Traceback" not in p.stderr


@pytest.mark.slow
def test_a_submission_folder_with_missing_exercises_says_not_submitted(tiny_project):
    second_exercise(tiny_project)
    subs = tiny_project / "subs"
    subs.mkdir()
    (subs / "90_scale.py").write_text(GOOD)
    out = tiny_project / "r.json"
    p = run_grade(tiny_project / "exercises", "--submission", subs, "--json", out)
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    by_id = {e["id"]: e for e in doc["exercises"]}
    assert by_id["90_scale"]["status"] == "pass"
    missing = by_id["91_scale"]
    assert missing["status"] == "not_submitted" and missing["score"] == 0 and missing["max_score"] == 4
    assert {t["status"] for t in missing["tests"]} == {"not_run"}
    block = p.stdout.split("\n91_scale  ")[1].split("\n\n")[0]
    assert block.count("\n") == 1 and "NOT SUBMITTED" in block, block  # its title, then one line


@pytest.mark.slow
def test_k_matching_nothing_is_one_line_and_exit_2(tiny_project):
    good = write_candidate(tiny_project, "def scale(x):\n    return 2 * x\n", "good.py")
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", good, "-k", "no_such_test")
    assert p.returncode == 2
    lines = [line for line in p.stderr.splitlines() if line.startswith("grade:")]
    assert lines == ["grade: -k 'no_such_test' selects no test of 90_scale"], p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr


# -- source as Python reads it ------------------------------------------------------------------
ENCODED = {
    "gbk": "# -*- coding: gbk -*-\n# 缩放：返回 2 倍的输入（中文注释）\ndef scale(x):\n    return 2 * x  # 两倍\n".encode("gbk"),
    "utf-8 with BOM": b"\xef\xbb\xbf" + "# 缩放\ndef scale(x):\n    return 2 * x\n".encode("utf-8"),
    "crlf": b"def scale(x):\r\n    return 2 * x\r\n",
    "latin-1": "# coding: latin-1\n# échelle\ndef scale(x):\n    return 2 * x\n".encode("latin-1"),
}


@pytest.mark.parametrize("name", list(ENCODED))
def test_files_python_accepts_are_graded_and_pass(name, context, tiny_project):
    path = tiny_project / "encoded.py"
    path.write_bytes(ENCODED[name])
    result = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, path)
    assert result.status == "pass", [t.message for t in result.tests]
    assert result.static_findings == []


@pytest.mark.parametrize("data, words", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "not a Python source file (it holds binary data"),
    ("x = 'é'\n".encode("latin-1"), "not a Python source file: invalid or missing encoding declaration"),
    (b"# coding: no-such-codec\nx = 1\n", "unknown encoding"),
])
def test_what_python_refuses_is_not_a_python_source_file(data, words):
    with pytest.raises(SourceError, match=None) as e:
        decode(data, "cand.py")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_binary_submission_fails_once_as_not_source(context, tiny_project):
    path = tiny_project / "binary.py"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 40)
    result = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, path)
    first, *rest = result.tests
    assert result.status == "fail" and first.origin == "candidate" and "not a Python source file" in first.message
    assert "FileNotFoundError" not in first.message and [t.status for t in rest] == ["not_run"] * len(rest)


def test_a_module_defining_none_of_the_interface_fails_once(context, tiny_project):
    path = tiny_project / "empty.py"
    path.write_text("")
    result = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, path)
    assert [t.status for t in result.tests] == ["error", "not_run", "not_run", "not_run"]
    assert "does not define 'scale'" in result.tests[0].message and "defines none of scale" in result.tests[1].message


def test_a_key_missing_from_what_the_candidate_returned_is_its_error(context, tiny_project):
    tests = tiny_project / "exercises" / "90_scale" / "test_scale.py"
    tests.write_text(tests.read_text() + (
        "\n\n@pytest.mark.category('property')\ndef test_state(candidate):\n"
        "    assert candidate.state()['running_mean'] == 0\n"))
    path = tiny_project / "cand.py"
    path.write_text(GOOD + "def state():\n    return {'weight': 1}\n")
    result = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, path)
    state = next(t for t in result.tests if t.name == "test_state")
    assert state.status == "error" and state.origin == "candidate", state.message
    assert "state(...) returned a dict without the key 'running_mean'" in state.message and "'weight'" in state.message


# -- text and progress ---------------------------------------------------------------------------------
def test_clean_removes_what_would_break_a_terminal_or_a_file():
    text = clean("a\ud800b \x1b[31mred\x1b[0m\r\nline\rnext \x00\x07 \u202eevil \x1b]0;title\x07done")
    assert text == "a\ufffdb red\nline\nnext \ufffd\ufffd \ufffdevil done"
    text.encode("utf-8")


class FakeStream:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def _progress_of(tty: bool) -> str:
    stream = FakeStream(tty)
    progress = Progress(stream)
    for position, exercise in enumerate(["17_self_attention", "33_conv2d"], 1):
        progress.start(exercise, position, 2)
        progress.collected(3)
        for n in range(1, 4):
            progress.test(n, f"test_{n}")
    progress.finish()
    return stream.text


def test_progress_is_live_on_a_terminal_and_plain_in_logs():
    live = _progress_of(tty=True)
    assert "[2/2] 33_conv2d  test 3/3  test_3" in live and live.endswith("\r\x1b[K") and "\n" not in live
    plain = _progress_of(tty=False)
    assert plain == "grading [1/2] 17_self_attention: 3 tests\ngrading [2/2] 33_conv2d: 3 tests\n"
    assert "\r" not in plain and "\x1b" not in plain


def test_plain_pytest_refuses_the_same_ranges(tiny_project):
    p = subprocess.run([sys.executable, "-m", "pytest", str(tiny_project / "exercises" / "90_scale"), "-q",
                        "-p", "no:cacheprovider", "--grade-seed", "-1", "--grade-memory", "4096"],
                       cwd=tiny_project, capture_output=True, text=True, timeout=120)
    assert p.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--grade-seed must be a whole number from 0 to 4294967295, got -1" in p.stderr, p.stderr
