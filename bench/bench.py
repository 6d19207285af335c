"""`make bench`: the grader's costs measured side by side in one run, as ratios to a baseline.

Rows (each a fresh subprocess: its wall time, the CPU time of its whole process tree, and the
memory of that tree sampled from /proc every 0.1 s):
  import-torch      python -c "import torch"                         the floor of any run
  grade-17          grade 17_self_attention's reference               (1) ratio to import-torch
  inprocess-17      the same tests, plain pytest, no sandbox          (2) grade-17 / inprocess-17
  verdicts-17       each mutant of 17 graded as validate does         (3) seconds per verdict
  validate-3        grade validate of three exercises (-j 1 and -j 2) (3)
  grade-all         every reference of the catalog                    (4) --full only
  validate-all      grade validate exercises (one seed)               (4) --full only
Short rows run --repeat times (the fastest counts), long ones once, all interleaved. The load
(`uptime`) is recorded before and after every row: on a shared machine, compare ratios and CPU
seconds, not wall seconds across runs. --baseline DIR runs every row in another checkout too
(e.g. the commit before a change), right after it runs here. Writes out/bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.memory import TreeSampler

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
GRADE = [PY, "-m", "grader.cli"]
THREE = ("01_simple_network", "17_self_attention", "33_conv2d")
ONCE = ("verdicts-17", "validate-3", "validate-3-j2", "grade-all", "validate-all")  # long rows run once
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-p", "no:anyio", "--import-mode=importlib", "-o", "addopts=",
               "-W", "ignore::DeprecationWarning"]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(name: str, argv: list[str], out: Path, tree: Path = REPO) -> dict:
    """Run argv once in `tree` (a checkout of the grader); wall seconds, exit status, memory of
    its process tree, load before and after."""
    before, log_path = load(), out / f"bench-{name}-{time.monotonic_ns()}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys([str(tree), str(REPO)])))
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)  # its usage includes every descendant reaped below it
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    row = {"name": name, "seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
           "rc": rc, "load_before": before, "load_after": load(), "command": " ".join(argv), "tree": str(tree),
           "log": str(log_path), **sampler.stop()}
    print(f"  {name:<20} {seconds:7.2f} s  cpu {row['cpu_seconds']:7.2f} s  rc {rc}  load {before} -> {row['load_after']}", flush=True)
    return row


def three_exercises(out: Path, tree: Path) -> Path:
    """A folder holding three exercises of `tree` (links: discovery resolves them)."""
    folder = out / f"bench-three-{tree.name}"
    folder.mkdir(parents=True, exist_ok=True)
    for ex in THREE:
        link = folder / ex
        if not link.exists():
            link.symlink_to(tree / "exercises" / ex)
    return folder


def reference_copies(out: Path, tree: Path) -> Path:
    """Copies of `tree`'s reference solutions, graded as submissions (the grader refuses the
    references themselves, and links to them, as a submission)."""
    folder = out / f"bench-submissions-{tree.name}"
    folder.mkdir(parents=True, exist_ok=True)
    for ref in (tree / "solutions").glob("*.py"):
        (folder / ref.name).write_bytes(ref.read_bytes())
    return folder.resolve()


def commands(out: Path, full: bool, tree: Path) -> dict[str, list[str]]:
    """Every row's command line, to run in `tree`."""
    copies = reference_copies(out, tree)
    ex17, ref17 = "exercises/17_self_attention", str(copies / "17_self_attention.py")
    jobs = ["-j", "2"] if validate_has_jobs(tree) else []
    rows = {
        "import-torch": [PY, "-c", "import torch"],
        "grade-17": [*GRADE, ex17, "--submission", ref17, "--json", str(out / "bench-grade-17.json")],
        "inprocess-17": [PY, "-m", "pytest", ex17, "-p", "no:grader", "-p", "bench.inprocess", "--submission", ref17,
                         f"--rootdir={ex17}", *PYTEST_ARGS],
        "verdicts-17": [PY, "-m", "bench.verdicts", ex17],
        "validate-3": [*GRADE, "validate", str(three_exercises(out, tree))],
    }
    if jobs:
        rows["validate-3-j2"] = [*GRADE, "validate", str(three_exercises(out, tree)), *jobs]
    if full:
        rows["grade-all"] = [*GRADE, "exercises", "--submission", str(copies), "--json", str(out / "bench-grade-all.json")]
        rows["validate-all"] = [*GRADE, "validate", "exercises", *jobs]
    return rows


def validate_has_jobs(tree: Path) -> bool:
    """Whether this version of `grade validate` takes -j (the bench also runs on older ones)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    text = subprocess.run([*GRADE, "validate", "--help"], cwd=tree, env=env, capture_output=True, text=True).stdout
    return "--jobs" in text


def run(names: list[str], repeat: int, out: Path, full: bool, baseline: Path | None) -> dict[str, list[dict]]:
    """Every row `repeat` times, interleaved (a change in load hits every row alike); with a
    baseline tree, each row runs there right after it runs here (as row@baseline)."""
    trees = {"": REPO, **({"@baseline": baseline} if baseline else {})}
    rows = {suffix: commands(out, full, tree) for suffix, tree in trees.items()}
    results: dict[str, list[dict]] = {}
    for _ in range(repeat):
        for name in names:
            for suffix, tree in trees.items():
                label = name + suffix
                if name in rows[suffix] and not (name in ONCE and results.get(label)):
                    results.setdefault(label, []).append(measure(label, rows[suffix][name], out, tree))
    return results


def best(samples: list[dict]) -> dict:
    """The fastest run of a row (the least disturbed by other load); its memory is the max seen."""
    row = dict(min(samples, key=lambda r: r["seconds"]))
    for key in ("peak_tree_rss_mib", "peak_tree_pss_mib", "peak_worker_uss_mib"):
        seen = [s[key] for s in samples if s[key] is not None]
        row[key] = max(seen) if seen else None
    row["all_seconds"] = [s["seconds"] for s in samples]
    return row


def details(name: str, row: dict) -> str:
    """What the row produced, read from its output: tests passed, verdict times, exercises validated."""
    log = Path(row["log"]).read_text(errors="replace")
    if name.startswith("verdicts-17"):
        data = json.loads(log.strip().splitlines()[-1])
        row["verdicts"] = data
        secs = sorted(m["seconds"] for m in data["mutants"])
        caught = sum(m["caught_by"] is not None for m in data["mutants"])
        return (f"{len(secs)} mutants, {caught} caught; per verdict median {secs[len(secs) // 2]:.2f} s, "
                f"max {secs[-1]:.2f} s (warm-up reference run {data['reference_seconds']:.1f} s)") if secs else "no mutants"
    tail = [line for line in log.splitlines() if line.strip()][-1:] or [""]
    return tail[0].strip()[:90]


def ratios(table: dict[str, dict]) -> dict[str, float]:
    """The ratios the targets speak of, for this tree and the baseline."""
    pairs = [("grade-17", "import-torch"), ("grade-17", "inprocess-17"), ("validate-3", "validate-3-j2")]
    found = {}
    for suffix in ("", "@baseline"):
        for a, b in pairs:
            if a + suffix in table and b + suffix in table:
                found[f"{a} / {b}{suffix}"] = round(table[a + suffix]["seconds"] / table[b + suffix]["seconds"], 2)
    for name in [n for n in table if not n.endswith("@baseline") and n + "@baseline" in table]:
        for key, label in (("seconds", "wall"), ("cpu_seconds", "cpu")):
            found[f"{name}: baseline / this ({label})"] = round(table[name + "@baseline"][key] / table[name][key], 2)
    return found


def print_table(table: dict[str, dict], found: dict[str, float]) -> None:
    print(f"\n{'row':<20} {'seconds':>8} {'cpu s':>8} {'rc':>3} {'tree RSS':>9} {'tree PSS':>9} {'worker USS':>10}  load before  details")
    for name, row in table.items():
        uss = f"{row['peak_worker_uss_mib']} MiB" if row["peak_worker_uss_mib"] is not None else "-"
        print(f"{name:<20} {row['seconds']:8.2f} {row['cpu_seconds']:8.2f} {row['rc']:3d} {row['peak_tree_rss_mib']:5d} MiB {row['peak_tree_pss_mib']:5d} MiB"
              f" {uss:>10}  {row['load_before']:<12} {row['details']}")
    print()
    for label, value in found.items():
        print(f"{label:<38} {value:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also grade and validate the whole catalog (long)")
    parser.add_argument("--only", default="", help="comma-separated rows to run (default: all)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each short row; the fastest counts")
    parser.add_argument("--out", type=Path, default=REPO / "out")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. 'before')")
    parser.add_argument("--baseline", type=Path, help="another checkout of the grader (e.g. `git worktree add "
                        "/tmp/base <commit>`): every row also runs there, right after it runs here")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else [*commands(args.out, args.full, REPO)]
    print(f"bench on {os.cpu_count()} CPUs, load {load()}", flush=True)
    samples = run(names, args.repeat, args.out, args.full, args.baseline and args.baseline.resolve())
    table = {name: best(s) for name, s in samples.items()}
    for name, row in table.items():
        row["details"] = details(name, row)
    found = ratios(table)
    print_table(table, found)
    record = {"label": args.label, "baseline": str(args.baseline or ""), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": _commit(),
              "cpus": os.cpu_count(), "platform": platform.platform(), "load_end": load(), "rows": table, "ratios": found}
    (args.out / "bench.json").write_text(json.dumps(record, indent=2))
    print(f"\nwritten: {args.out / 'bench.json'}")
    return 0 if all(r["rc"] == 0 for r in table.values()) else 1


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
