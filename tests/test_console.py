"""The console's account of a failing exercise: one bug, one story (the first failure of a kind is
told in full, later ones point to it), the likely mistake on top, the first failure's rerun command."""
from __future__ import annotations

from grader import console
from grader.results import ExerciseResult, TestResult


def _failure(name: str, quantity: str | None, message: str) -> TestResult:
    return TestResult(name, name, "equivalence", "fail", message=message, points=2,
                      diagnostics={"quantity": quantity} if quantity else None, reproduce=f"grade ex -k {name}")


def _printed(ex: ExerciseResult, verbose: bool = False) -> list[str]:
    lines = []
    console.print_exercise(ex, verbose, lines.append)
    return lines


def test_failures_of_one_kind_are_told_once_and_the_rerun_command_is_shown():
    tests = [_failure("test_a[causal]", "output vs reference", "output vs reference: 3 of 4 ...\n  a\n  b\n  c\n  d\n  case: T=1"),
             _failure("test_a[padding]", "output vs reference", "output vs reference: 9 of 9 ...\ncase: T=5"),
             _failure("test_b", None, "expected shape (2, 3), got (3, 2)"),
             _failure("test_c", None, "expected shape (4, 1), got (1, 4)")]
    ex = ExerciseResult("17_x", "t", "t", "easy", "s.py", status="fail", tests=tests,
                        likely_mistake={"names": ["no_scale"], "en": ["Forgets the scale."], "zh": ["忘了缩放。"],
                                        "test": "test_a[causal]", "evidence": "identical first failure"})
    text = "\n".join(_printed(ex))
    assert text.index("This looks like a known mistake") < text.index("test_a[causal]")
    assert "忘了缩放。" in text and "case: T=1" in text and "case: T=5" not in text
    assert "same kind of failure as test_a[causal] (output vs reference)" in text
    assert "same kind of failure as test_b" in text  # shapes differ only in numbers
    assert "rerun the first failure: grade ex -k test_a[causal]" in text
    assert "case: T=5" in "\n".join(_printed(ex, verbose=True))  # -v tells every story


class _Row:
    def __init__(self, candidate, status, score=1.0, error=""):
        self.candidate, self.status, self.score, self.max_score, self.error, self.seconds = \
            candidate, status, score, 2.0, error, 1.5


class _Stream:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_batch_progress_is_a_live_bar_on_a_terminal_and_lines_in_a_log():
    ticks = iter([0.0, 10.0, 20.0, 0.0, 10.0, 20.0])
    for tty in (True, False):
        stream = _Stream(tty)
        progress = console.BatchProgress(stream, clock_fn=lambda: next(ticks))
        progress(_Row("ann", "pass"), 1, 2)
        progress(_Row("bob", "error", error="archive refused: x"), 2, 2)
        if tty:
            assert stream.text.count("\r\033[K") == 2 and stream.text.endswith("\n")
            assert "[############------------] 1/2 · 0 failed · 0 errors · 10 s left · ann" in stream.text
            assert "2/2 · 0 failed · 1 errors · 0 s left" in stream.text
        else:
            assert stream.text.splitlines() == ["[1/2] ann: pass 1/2 (1.5 s) · 10 s left",
                                                "[2/2] bob: error archive refused: x (1.5 s) · 0 s left"]
