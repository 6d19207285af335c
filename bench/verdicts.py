"""Benchmark helper: the cost of one mutant's verdict as `grade validate` pays it.

`python -m bench.verdicts EXERCISE [MUTANT ...]` grades the reference once (which starts the
fork server and imports everything: reported apart), then times grade_exercise(...,
stop_at_first_failure=True, shrink=False, cheap_first=True) (validate's verdict without
--diagnoses) on each mutant (default: all of the exercise's, kept as mistakes data or as whole
files) in the same RunContext, and prints one JSON object.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from grader import clock, mistakes
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.session import RunContext, Settings
from grader.validate import mistakes_of


def main(argv: list[str]) -> None:
    exercise = load_exercise(Path(argv[0]))
    wanted = set(argv[1:])
    known = [m for m in mistakes_of(exercise) if not wanted or m.name in wanted]
    ctx, folder = RunContext(Settings(device="cpu")), tempfile.TemporaryDirectory(prefix="bench-mistakes-")
    mutants = [mistakes.write(m, ctx.reference_path(exercise), Path(folder.name)) for m in known]
    try:
        start = clock.monotonic()
        reference = grade_exercise(exercise, ctx, ctx.reference_path(exercise), own_files=True)
        out = {"reference_seconds": clock.monotonic() - start, "reference_status": reference.status, "mutants": []}
        for mutant in mutants:
            start = clock.monotonic()
            result = grade_exercise(exercise, ctx, mutant, stop_at_first_failure=True, shrink=False, cheap_first=True)
            caught = [t.name for t in result.tests if t.status in ("fail", "error")]
            out["mutants"].append({"name": mutant.stem, "seconds": clock.monotonic() - start,
                                   "tests_run": len(result.tests), "caught_by": caught[0] if caught else None})
    finally:
        ctx.close()
        folder.cleanup()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
