"""An exercise's hints, read from its README's `<details><summary>Hint N` (or `提示 N`) blocks, in order."""
from __future__ import annotations

import re
from pathlib import Path

LABELS = {"en": "Hint", "zh": "提示"}


def read_hints(readme: Path, lang: str = "en") -> list[tuple[str, str]]:
    """(summary, body) of each hint block in `readme` for `lang`, in the order the README gives them."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except OSError:
        return []
    pattern = re.compile(r"<details>\s*<summary>\s*(" + re.escape(LABELS[lang]) + r"\s*\d+[^<]*)</summary>(.*?)</details>",
                         re.DOTALL)
    return [(summary.strip(), body.strip()) for summary, body in pattern.findall(text)]
