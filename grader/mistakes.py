"""Known mistakes of an exercise, kept as data: a name, what is wrong in English and Chinese,
and the change itself as small edits of the reference (tests/mutants/<id>.toml).

    [scale_by_d_model]
    en = "Scores are divided by sqrt(d_model) instead of sqrt(head_dim)."
    zh = "注意力分数除以了 sqrt(d_model)，而不是 sqrt(head_dim)。"
    edits = [["/ math.sqrt(self.head_dim)", "/ math.sqrt(self.d_model)"]]

`edits` is a list of [old, new] pairs applied in order; each old text must occur exactly once
in the text so far, so an edit that no longer fits the reference is reported, never guessed.
`append` is code added after the (edited) reference; it may redefine what the reference defined
(the mistakes that reach a forbidden operation indirectly are kept this way).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CJK = re.compile(r"[\u4e00-\u9fff]")
KEYS = {"en", "zh", "edits", "append"}


class MistakeError(Exception):
    """A mistake file that cannot be read, or a mistake that no longer applies to the reference."""


@dataclass(frozen=True)
class Mistake:
    name: str
    en: str  # one sentence: what is wrong
    zh: str  # the same sentence in Chinese
    edits: tuple[tuple[str, str], ...] = ()
    append: str = ""

    def apply(self, reference: str) -> str:
        """The reference with this mistake made; MistakeError when an edit no longer fits."""
        text = reference
        for number, (old, new) in enumerate(self.edits, 1):
            found = text.count(old)
            if found != 1:
                raise MistakeError(f"{self.name}: edit {number} no longer applies: its old text "
                                   f"occurs {found} times in the reference (needs exactly 1): {old[:80]!r}")
            text = text.replace(old, new)
        return text + ("\n\n" + self.append if self.append else "")

    def problems(self) -> list[str]:
        """What makes this entry incomplete: a missing explanation or no change at all."""
        found = []
        if not self.en.strip():
            found.append(f"{self.name}: no English sentence (en)")
        if not CJK.search(self.zh):
            found.append(f"{self.name}: no Chinese sentence (zh)")
        if not self.edits and not self.append.strip():
            found.append(f"{self.name}: neither edits nor append: it is the reference itself")
        return found


def path_for(root: Path, exercise_id: str) -> Path:
    return root / "tests" / "mutants" / f"{exercise_id}.toml"


def write(mistake: Mistake, reference: Path, folder: Path) -> Path:
    """The mistake as a submission file `folder/<name>.py` (MistakeError if it no longer applies)."""
    path = folder / f"{mistake.name}.py"
    path.write_text(mistake.apply(reference.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def load(path: Path) -> list[Mistake]:
    """The mistakes in `path`, in file order ([] when there is no file)."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MistakeError(f"{path}: not valid TOML: {e}") from None
    return [_mistake(path, name, entry) for name, entry in data.items()]


def _mistake(path: Path, name: str, entry) -> Mistake:
    if not isinstance(entry, dict) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise MistakeError(f"{path}: [{name}] must be a table named in snake_case")
    unknown = set(entry) - KEYS
    if unknown:
        raise MistakeError(f"{path}: [{name}] has unknown keys {sorted(unknown)} (allowed: {sorted(KEYS)})")
    edits = entry.get("edits", [])
    if not all(isinstance(e, list) and len(e) == 2 and all(isinstance(s, str) for s in e) for e in edits):
        raise MistakeError(f"{path}: [{name}] edits must be a list of [old, new] string pairs")
    return Mistake(name, str(entry.get("en", "")), str(entry.get("zh", "")),
                   tuple((old, new) for old, new in edits), str(entry.get("append", "")))
