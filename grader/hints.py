"""An exercise's README read for practice: its statement in one language, and its hints in order
(the `<details><summary>Hint N` or `提示 N` blocks)."""
from __future__ import annotations

import re
from pathlib import Path

LABELS = {"en": "Hint", "zh": "提示"}


DETAILS = re.compile(r"<details>.*?</details>\s*", re.DOTALL)
SEPARATOR = re.compile(r"^---\s*$", re.MULTILINE)  # the English half, then the Chinese one


def statement(readme: Path, lang: str = "en") -> str:
    """The README's half for `lang` (English before the `---` line, Chinese after), hints left out."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except OSError:
        return ""
    halves = SEPARATOR.split(text, maxsplit=1)
    half = halves[-1] if lang == "zh" and len(halves) > 1 else halves[0]
    return DETAILS.sub("", half).strip()


def read_hints(readme: Path, lang: str = "en") -> list[tuple[str, str]]:
    """(summary, body) of each hint block in `readme` for `lang`, in the order the README gives them."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except OSError:
        return []
    pattern = re.compile(r"<details>\s*<summary>\s*(" + re.escape(LABELS[lang]) + r"\s*\d+[^<]*)</summary>(.*?)</details>",
                         re.DOTALL)
    return [(summary.strip(), body.strip()) for summary, body in pattern.findall(text)]
