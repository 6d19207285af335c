"""Static checks of a submission's source (parsed with ast, never run): forbidden APIs,
dynamic code execution, and the names the exercise's interface requires."""
from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.source import SourceError, read_source

DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__"}
DYNAMIC_ATTRS = {"import_module", "__import__"}
IDENTIFIER_LIKE = re.compile(r"[\w.:]+")  # "cross_entropy", "torch.nn.functional.dropout"; not prose


@dataclass(frozen=True)
class Finding:
    """One problem found in the source. kind: syntax | missing | forbidden | dynamic."""

    kind: str
    message: str
    line: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def scan_file(path: Path, forbidden: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> list[Finding]:
    """`scan` of a file's text; a file that cannot be read is itself a finding."""
    try:
        source = read_source(path)
    except SourceError as e:
        return [Finding("missing", f"cannot read your submission: {e}")]
    return scan(source, forbidden, required)


def scan(source: str, forbidden: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> list[Finding]:
    """Every finding for `source`. forbidden: dotted API names; required: top-level names."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [Finding("syntax", f"your file does not parse: {e.msg} (line {e.lineno})", e.lineno or 0)]
    findings = _missing_names(tree, required)
    findings += _forbidden_uses(tree, forbidden)
    findings += _dynamic_code(tree)
    return findings


def _missing_names(tree: ast.Module, required: tuple[str, ...]) -> list[Finding]:
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    return [Finding("missing", f"the interface requires '{name}', which your file does not define")
            for name in required if name not in defined]


def _forbidden_uses(tree: ast.Module, forbidden: tuple[str, ...]) -> list[Finding]:
    """Any mention of a forbidden API's final name: as an attribute, an import, an identifier-like
    string, or a bare name the file does not define itself (its own `def dropout` is allowed)."""
    leaf_to_api = {api.rsplit(".", 1)[-1]: api for api in forbidden}
    docstrings = _docstring_nodes(tree)
    own = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    findings, seen = [], set()
    for node in ast.walk(tree):
        leaf = None if id(node) in docstrings else _mentioned_name(node, leaf_to_api, own)
        line = getattr(node, "lineno", 0)
        if leaf and (leaf, line) not in seen:
            seen.add((leaf, line))
            findings.append(Finding("forbidden", f"uses {leaf_to_api[leaf]}, which this exercise forbids", line))
    return findings


def _docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of docstring constants: prose may name a forbidden API without using it."""
    owners = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return {id(o.body[0].value) for o in owners
            if o.body and isinstance(o.body[0], ast.Expr) and isinstance(o.body[0].value, ast.Constant)}


def _mentioned_name(node: ast.AST, leaf_to_api: dict[str, str], own: set[str]) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr in leaf_to_api and _root_name(node) != "self":
        return node.attr  # self.linear is the candidate's own attribute, not F.linear
    if isinstance(node, ast.Name) and node.id in leaf_to_api and node.id not in own:
        return node.id
    if isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1] in leaf_to_api:
        return node.name.rsplit(".", 1)[-1]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and IDENTIFIER_LIKE.fullmatch(node.value):
        return next((leaf for leaf in leaf_to_api if leaf in node.value), None)
    return None


def _root_name(node: ast.Attribute) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dynamic_code(tree: ast.Module) -> list[Finding]:
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) and fn.id in DYNAMIC_CALLS else None
        if isinstance(fn, ast.Attribute) and fn.attr in DYNAMIC_ATTRS:
            name = fn.attr
        if name:
            findings.append(Finding("dynamic", f"calls {name}(): dynamic code hides which APIs run, "
                                    "so it is not allowed in a graded solution", node.lineno))
    return findings
