"""Before/after table of `grade validate`'s verdicts, from two saved outputs of it.

`python -m bench.caught_by BEFORE.txt AFTER.txt [--changed]` prints a Markdown table: for every
exercise and mutant, the test that caught it before and after (parametrisation dropped), and
for the reference and the stub, their outcome; then counts. A mutant missing after (renamed or
dropped) or no longer caught is listed, never hidden.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

EXERCISE = re.compile(r"^(\d\d_\w+)\s+(ok|FAILED)\s*$")
CHECK = re.compile(r"^\s+(ok|FAIL)\s+(mutant \w+|reference \(seed \d+\)|stub|alternative \w+): (.*)$")
CAUGHT = re.compile(r"caught by (\w+)")


def parse(text: str) -> dict[tuple[str, str], str]:
    """(exercise, subject) -> outcome: the catching test for a mutant, else the check's detail."""
    found, exercise = {}, None
    for line in text.splitlines():
        if m := EXERCISE.match(line):
            exercise = m.group(1)
        elif (m := CHECK.match(line)) and exercise:
            ok, subject, detail = m.groups()
            caught = CAUGHT.search(detail)
            outcome = caught.group(1) if caught else re.sub(r" \(\d+\.\d s\)$", "", detail)
            found[(exercise, subject)] = outcome if ok == "ok" else f"FAIL: {outcome}"
    return found


def rows(before: dict, after: dict) -> list[tuple[str, str, str, str]]:
    keys = sorted(set(before) | set(after))
    return [(e, s, before.get((e, s), "(absent)"), after.get((e, s), "(absent)")) for e, s in keys]


def main(argv: list[str]) -> int:
    before, after = (parse(Path(p).read_text(encoding="utf-8")) for p in argv[:2])
    table = rows(before, after)
    if "--changed" in argv:
        table = [r for r in table if r[2] != r[3]]
    print("| exercise | subject | before | after |\n|---|---|---|---|")
    for r in table:
        print("| " + " | ".join(x.replace("|", "/")[:90] for x in r) + " |")
    mutants = [r for r in rows(before, after) if r[1].startswith("mutant")]
    lost = [r for r in mutants if r[3] == "(absent)" or r[3].startswith("FAIL")]
    same = sum(r[2] == r[3] for r in mutants)
    print(f"\n{len(mutants)} mutants: {same} caught by the same test, {len(mutants) - same - len(lost)} by another, "
          f"{len(lost)} absent or not caught after")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
