"""Reading a submission's source exactly as Python does: PEP 263 coding lines, a UTF-8 BOM, any newlines.

Shared by both sides (see grader/worker/__init__.py): the static gate reads the file, the worker its copy.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from grader.limits import MAX_SOURCE_BYTES


class SourceError(ValueError):
    """The file cannot be read as Python source (missing, unreadable, binary, undecodable)."""


def read_source(path: str | Path) -> str:
    """The text Python would compile for the file at `path` (newlines made "\\n").

    Raises SourceError with a one-line reason the candidate can act on."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    return decode(data, str(path))


def decode(data: bytes, where: str = "the submission") -> str:
    """Decode source bytes the way the import system does; refuse what is not Python source."""
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(f"{where} is not a Python source file (larger than {MAX_SOURCE_BYTES >> 20} MiB)")
    if b"\0" in data:
        raise SourceError(f"{where} is not a Python source file (it holds binary data: NUL bytes)")
    try:
        return importlib.util.decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as e:  # bytes invalid in the encoding, unknown encoding
        reason = e.msg if isinstance(e, SyntaxError) else str(e)
        raise SourceError(f"{where} is not a Python source file: {reason} (Python reads UTF-8 unless a "
                          "'# -*- coding: NAME -*-' line names another encoding)") from None
