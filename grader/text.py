"""Making untrusted text safe to print and to write: no lone surrogates, terminal escapes or control characters."""
from __future__ import annotations

import dataclasses
import re

# ANSI/VT escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-character ESC forms.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
# What may not reach a terminal or a UTF-8/XML file: C0 controls other than tab and newline, DEL, C1
# controls, lone surrogates, bidirectional overrides (they reorder what a reader sees) and noncharacters.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff]")


def clean(text: str) -> str:
    """`text` with escape sequences removed, line endings made "\\n", anything unsafe replaced by U+FFFD."""
    if not isinstance(text, str):
        text = str(text)
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub("\ufffd", text)


def clean_all(value):
    """`value` with every string inside it cleaned: dataclasses (in place), dicts, lists and tuples."""
    if isinstance(value, str):
        return clean(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            setattr(value, f.name, clean_all(getattr(value, f.name)))
        return value
    if isinstance(value, dict):
        return {clean_all(k): clean_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean_all(v) for v in value) if type(value) in (list, tuple) else [clean_all(v) for v in value]
    return value
