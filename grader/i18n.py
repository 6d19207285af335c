"""The words of the console and the report in English or Chinese (`--lang`; default from the locale).

Labels are written in English in the code and the templates (`_("Grading report")`); ZH holds
their Chinese. A label without a Chinese entry stays English (tests/test_i18n.py checks none is
missing from the report and the console)."""
from __future__ import annotations

import os

LANGS = ("en", "zh")

ZH = {
    # the report
    "Grading report": "评分报告", "points": "分", "exercise passed": "个练习通过",
    "exercises passed": "个练习通过", "tests in": "项测试，用时", "Run": "运行", "Versions": "版本",
    "Exercises": "练习", "Status": "状态", "Exercise": "练习", "Difficulty": "难度", "Score": "得分",
    "Passed": "通过", "Time": "时间", "Category": "类别", "Test": "测试", "Points": "分数",
    "Message": "信息", "Diagnostics": "诊断", "Falsifying example (Hypothesis)": "反例（Hypothesis）",
    "Captured output": "捕获的输出", "Loss curve": "损失曲线", "Reproduce": "复现命令",
    "Static checks": "静态检查", "No findings.": "未发现问题。", "Line": "行", "Kind": "类型",
    "Finding": "发现", "Not applicable to this exercise": "本练习不适用的类别",
    "No tests ran for this exercise.": "本练习没有运行任何测试。", "No exercises were graded.": "没有评分任何练习。",
    "The grader could not grade": "评分器无法评分",
    "The grader could not grade this exercise.": "评分器无法评分本练习。",
    "This is not a verdict on the submission.": "这不是对提交的评判。",
    "this looks like a known mistake": "看起来是一个常见错误",
    "This looks like a known mistake": "看起来是一个常见错误",
    "(one of these)": "（以下之一）", "submission": "提交", "limits": "限制", "score": "得分",
    "passed": "通过", "failed": "失败", "error": "错误", "errors": "错误", "skipped": "跳过", "not run": "未运行",
    "not submitted": "未提交",
    # the console
    "rerun the first failure": "重新运行第一个失败的测试", "same kind of failure as": "与此同类的失败：",
    "tests passed": "项测试通过", "more tests": "项测试", "practice": "练习记录", "attempt": "第几次尝试",
    "hints used": "个提示已用",
    "the grader could not grade this exercise": "评分器无法评分本练习",
}


def default_lang(environ=os.environ) -> str:
    """zh when the locale says Chinese (LC_ALL, LC_MESSAGES, then LANG), else en."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def translator(lang: str):
    """The function `_(label)` for `lang`: the label in that language."""
    if lang == "zh":
        return lambda label: ZH.get(label, label)
    return lambda label: label
