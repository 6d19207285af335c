"""Likely mistake: a failing candidate whose first failure is exactly a known mistake's first
failure (the same test, on the same seed, with the same message: the same values, worst error and
place) is told which mistake it looks like, in English and Chinese.

Each known mistake's first failure (its fingerprint) is found by grading the mistake (the
reference with its edits: the exercise's own code) until its first failure, as a candidate is
graded (failing examples shrunk), and cached on disk by everything it depends on. A correct
solution fails nothing, and an unknown bug fails differently: neither is diagnosed."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from grader import credit, mistakes, variants
from grader.discovery import Exercise
from grader.results import ExerciseResult

VALUELESS = tuple(variants.FILLS)  # value-free variants (and indirect_* attacks) are not mistakes to name
CACHE_ENV = "GRADER_CACHE_DIR"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_LINE = re.compile(r"\bline \d+\b|:\d+:")


@dataclass(frozen=True)
class Fingerprint:
    test: str  # the first failing test, with its parameters
    message: str  # its message, normalised


@dataclass
class Diagnosis:
    """The known mistake(s) whose first failure the candidate's equals."""

    names: list[str]
    en: list[str]
    zh: list[str]
    test: str  # where both first failed
    evidence: str  # why the match is sure

    def to_dict(self) -> dict:
        return asdict(self)


def is_nameable(mistake: mistakes.Mistake) -> bool:
    return not mistake.name.startswith("indirect_") and mistake.name not in VALUELESS


def normalise(message: str, submission: str) -> str:
    """A message without what differs between two files making the same mistake: their paths,
    line numbers and object addresses."""
    text = message.replace(submission, "<submission>") if submission else message
    return _LINE.sub("", _ADDRESS.sub("0x", text)).strip()


def fingerprint(result: ExerciseResult) -> Fingerprint | None:
    """The first test this result failed (not one left uncredited), or None."""
    for t in result.tests:
        if t.status in ("fail", "error") and t.message != credit.NOT_CREDITED:
            return Fingerprint(t.name, normalise(t.message, result.submission))
    return None


def match(found: Fingerprint | None, known: dict[str, Fingerprint], catalog: list[mistakes.Mistake]) -> Diagnosis | None:
    """The diagnosis of a candidate whose first failure is `found`, given each mistake's fingerprint."""
    if found is None:
        return None
    same = [m for m in catalog if known.get(m.name) == found]
    if not same:
        return None
    evidence = (f"its first failure, {found.test}, is exactly this mistake's (same values and message)"
                + ("" if len(same) == 1 else f"; {len(same)} known mistakes fail identically there"))
    return Diagnosis([m.name for m in same], [m.en for m in same], [m.zh for m in same], found.test, evidence)


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / ("" if os.environ.get(CACHE_ENV) else "pytorch-interview-grader") / "fingerprints"


@functools.lru_cache(maxsize=1)
def _grader_digest() -> str:
    """The grader's own code (its checks word the messages a fingerprint holds)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(exercise: Exercise, reference: Path, mistake: mistakes.Mistake, seed: int, select: str | None,
              device: str = "cpu") -> str:
    """Everything a mistake's first failure depends on: the grader's code, the reference, the
    exercise's files (tests, support, toml), the mistake, the seed, the selection and the device."""
    digest = hashlib.sha256(f"{_grader_digest()}\0{seed}\0{select}\0{device}\0{mistake!r}\0".encode())
    for path in [reference, *sorted(p for p in exercise.path.iterdir() if p.suffix in (".py", ".toml"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def _cache_path(exercise: Exercise, ctx, mistake: mistakes.Mistake, seed: int) -> Path:
    key = cache_key(exercise, ctx.reference_path(exercise), mistake, seed, ctx.settings.select, str(ctx.device))
    return cache_dir() / f"{exercise.id}-{key}.json"


def remember(exercise: Exercise, ctx, mistake: mistakes.Mistake, seed: int, fp: Fingerprint) -> None:
    """Cache a fingerprint found elsewhere (`grade validate` finds every mistake's)."""
    _store(_cache_path(exercise, ctx, mistake, seed), fp)


def fingerprints(exercise: Exercise, ctx, seed: int) -> dict[str, Fingerprint]:
    """Each nameable known mistake's fingerprint on `seed` (from the cache, else by grading it)."""
    from grader.runner import grade_exercise

    reference = ctx.reference_path(exercise)
    found = {}
    with tempfile.TemporaryDirectory(prefix="grader-fingerprints-") as folder:
        for m in filter(is_nameable, _catalog(exercise)):
            path = _cache_path(exercise, ctx, m, seed)
            if path.is_file():
                found[m.name] = Fingerprint(**json.loads(path.read_text(encoding="utf-8")))
                continue
            try:
                submission = mistakes.write(m, reference, Path(folder))
            except mistakes.MistakeError:
                continue  # validate reports it; a mistake that no longer applies names nothing
            result = grade_exercise(exercise, ctx, submission, stop_at_first_failure=True, shrink=True, seed=seed,
                                    own_files=True)
            fp = fingerprint(result)
            if fp is not None and not result.error:
                found[m.name] = fp
                _store(path, fp)
    return found


def _store(path: Path, fp: Fingerprint) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(fp), ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _catalog(exercise: Exercise) -> list[mistakes.Mistake]:
    try:
        return mistakes.load(mistakes.path_for(exercise.root, exercise.id))
    except mistakes.MistakeError:
        return []


def diagnose(exercise: Exercise, ctx, result: ExerciseResult, seed: int) -> Diagnosis | None:
    """The likely mistake of a failing result, or None (passed, could not run, or no clear match)."""
    if result.status != "fail" or result.error:
        return None
    found = fingerprint(result)
    if found is None:
        return None
    catalog = [m for m in _catalog(exercise) if is_nameable(m)]
    return match(found, fingerprints(exercise, ctx, seed), catalog) if catalog else None
