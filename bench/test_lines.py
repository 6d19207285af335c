"""Issue 13's measures of test code: lines per exercise suite, lines copied between suites, mutant lines.

`python -m bench.test_lines [--json] [ROOT]` (ROOT defaults to the current folder) prints:
- per exercise, the non-blank, non-comment lines of its `exercises/<id>/test_*.py` (target: median <= 160);
- the duplicated share: lines that are "countable" (stripped, at least 12 characters, not an import,
  a `def` line, a category mark `@pytest.mark.category(...)` or closing brackets only) and appear
  verbatim (stripped) in ANOTHER exercise's test files, as a share of all the code lines counted
  above (the issue's 14% before; target < 5%), per exercise and in total; the share among
  countable lines only is given too ("of countable");
- the non-blank, non-comment lines under tests/mutants/ (.toml and .py; target < 3000).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

MIN_CHARS = 12
CLOSING = re.compile(r"^[\)\]\}:,;\s]+$")
TARGETS = {"median_lines": 160, "duplicated_share": 0.05, "mutant_lines": 3000}


def code_lines(path: Path) -> list[str]:
    """The stripped lines of `path` that are neither blank nor comments."""
    stripped = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def countable(line: str) -> bool:
    """A stripped code line the duplication measure counts."""
    return not (len(line) < MIN_CHARS or line.startswith(("import ", "from ", "def ", "async def "))
                or line.startswith("@pytest.mark.category(") or CLOSING.match(line))


def suites(root: Path) -> dict[str, list[str]]:
    """{exercise id: code lines of its test_*.py files}."""
    return {d.name: [line for f in sorted(d.glob("test_*.py")) for line in code_lines(f)]
            for d in sorted((root / "exercises").iterdir()) if d.is_dir() and any(d.glob("test_*.py"))}


def measure(root: Path) -> dict:
    """Every number the report prints, as one dict."""
    by_exercise = suites(root)
    seen_in: dict[str, set[str]] = {}
    for ex, lines in by_exercise.items():
        for line in lines:
            seen_in.setdefault(line, set()).add(ex)
    rows = {}
    for ex, lines in by_exercise.items():
        counted = [line for line in lines if countable(line)]
        copied = [line for line in counted if len(seen_in[line]) > 1]
        rows[ex] = {"lines": len(lines), "countable": len(counted), "duplicated": len(copied)}
    counted = sum(r["countable"] for r in rows.values())
    copied = sum(r["duplicated"] for r in rows.values())
    total = sum(r["lines"] for r in rows.values())
    mutant_files = sorted(p for p in (root / "tests" / "mutants").rglob("*") if p.suffix in (".py", ".toml"))
    return {
        "exercises": rows,
        "total_lines": total,
        "median_lines": statistics.median(r["lines"] for r in rows.values()) if rows else 0,
        "countable_lines": counted,
        "duplicated_lines": copied,
        "duplicated_share": copied / total if total else 0.0,
        "duplicated_share_of_countable": copied / counted if counted else 0.0,
        "mutant_files": len(mutant_files),
        "mutant_lines": sum(len(code_lines(p)) for p in mutant_files),
        "targets": TARGETS,
    }


def render(m: dict) -> str:
    """The table people read."""
    out = [f"{'exercise':34} {'lines':>6} {'countable':>9} {'duplicated':>10} {'share':>6}"]
    for ex, r in m["exercises"].items():
        share = r["duplicated"] / r["lines"] if r["lines"] else 0.0
        out.append(f"{ex:34} {r['lines']:6} {r['countable']:9} {r['duplicated']:10} {share:6.1%}")
    out.append(f"{'total':34} {m['total_lines']:6} {m['countable_lines']:9} {m['duplicated_lines']:10} "
               f"{m['duplicated_share']:6.1%}")
    out.append(f"median lines per exercise: {m['median_lines']:g} (target <= {TARGETS['median_lines']})")
    out.append(f"duplicated share: {m['duplicated_share']:.1%} of code lines (target < "
               f"{TARGETS['duplicated_share']:.0%}); {m['duplicated_share_of_countable']:.1%} of countable lines")
    out.append(f"mutant code lines: {m['mutant_lines']} in {m['mutant_files']} files "
               f"(target < {TARGETS['mutant_lines']})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.test_lines", description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".", help="the project's root folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    m = measure(Path(args.root))
    print(json.dumps(m, indent=2) if args.json else render(m))


if __name__ == "__main__":
    main(sys.argv[1:])
