"""--lang zh|en: the console's and the report's words in Chinese or English; every label the
templates and the console use has its Chinese; the default follows the locale."""
from __future__ import annotations

import re

import pytest

from grader import console, i18n
from grader.report import render_report
from grader.results import ExerciseResult, RunResult, TestResult
from tests.conftest import REPO

LABEL = re.compile(r"""_\(\s*["']([^"']+)["']\s*\)""")


@pytest.mark.parametrize("source", ["grader/templates/report.html.j2", "grader/console.py"])
def test_every_label_has_its_chinese(source):
    labels = set(LABEL.findall((REPO / source).read_text(encoding="utf-8")))
    assert labels and not labels - set(i18n.ZH), sorted(labels - set(i18n.ZH))


@pytest.mark.parametrize("environ, lang", [({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LC_ALL": "zh_TW", "LANG": "en_US"}, "zh"),
                                           ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN"}, "en"), ({}, "en")])
def test_the_default_follows_the_locale(environ, lang):
    assert i18n.default_lang(environ) == lang


def _run() -> RunResult:
    failure = TestResult("test_a", "x::test_a", "equivalence", "fail", message="output vs reference: 1 of 4", points=2)
    ex = ExerciseResult("17_x", "Attention", "注意力", "easy", "s.py", tests=[failure],
                        likely_mistake={"names": ["no_scale"], "en": ["Forgets the scale."], "zh": ["忘了缩放。"],
                                        "test": "test_a", "evidence": "same"}).finish()
    return RunResult("2026-11-29T10:00:00+00:00", {"seed": 0}, {}, [ex], 1.0)


def test_the_report_in_chinese():
    page = render_report(_run(), "zh")
    assert '<html lang="zh">' in page and "评分报告" in page and "看起来是一个常见错误" in page and "得分" in page
    assert "Grading report" not in page and "Grading report" in render_report(_run(), "en")


def test_the_console_in_chinese_puts_the_chinese_sentence_first():
    lines = []
    console.print_exercise(_run().exercises[0], False, lines.append, "zh")
    text = "\n".join(lines)
    assert "看起来是一个常见错误" in text and "得分" in text and "提交" in text
    assert text.index("忘了缩放。") < text.index("Forgets the scale.")
