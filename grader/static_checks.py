"""Static checks of a submission's source (parsed with ast, never run): the interface's names,
the exercise's forbidden APIs (matched precisely, through imports and aliases), and the means
the policy in `grader.policy` refuses (private internals, computed names, dynamic code)."""
from __future__ import annotations

import ast
import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from grader import policy
from grader.worker import tripwires  # resolve(): the same name lookup the guards use
from grader.source import SourceError, read_source


@dataclass(frozen=True)
class Finding:
    """One problem found in the source. kind: syntax | missing | forbidden | policy."""

    kind: str
    message: str
    line: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def scan_file(path: Path, forbidden: tuple[str, ...] = (), required: tuple[str, ...] = (),
              allow_imports: tuple[str, ...] = ()) -> list[Finding]:
    """`scan` of a file's text; a file that cannot be read is itself a finding."""
    try:
        source = read_source(path)
    except SourceError as e:
        return [Finding("missing", f"cannot read your submission: {e}")]
    return scan(source, forbidden, required, allow_imports)


def scan(source: str, forbidden: tuple[str, ...] = (), required: tuple[str, ...] = (),
         allow_imports: tuple[str, ...] = ()) -> list[Finding]:
    """Every finding for `source`. forbidden: dotted API names (a module forbids all under it);
    required: top-level names; allow_imports: modules the exercise adds to the allowlist."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [Finding("syntax", f"your file does not parse: {e.msg} (line {e.lineno})", e.lineno or 0)]
    except ValueError as e:  # e.g. null bytes
        return [Finding("syntax", f"your file does not parse: {e}")]
    checker = _Checker(tree, Forbidden(tuple(forbidden)), policy.ALLOWED_IMPORTS | set(allow_imports),
                       [d for d in policy.DENIED_MODULES if not any(_under(d, a) for a in allow_imports)])
    return _missing_names(tree, required) + checker.run()


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


# -- the exercise's forbidden APIs ------------------------------------------------------------
class Forbidden:
    """Matches dotted paths against forbidden APIs: by prefix (a forbidden module covers all
    under it) or by identity (torch re-exports one function under several paths)."""

    def __init__(self, apis: tuple[str, ...]):
        self.apis = apis
        # torch.logsumexp(x) and x.logsumexp() are one operator; F.unfold and Tensor.unfold are not,
        # so only top-level torch functions have method twins.
        self.tensor_twins = {api.split(".")[1]: api for api in apis
                             if api.count(".") == 1 and api.startswith("torch.") and _is_tensor_method(api.split(".")[1])}

    def match(self, dotted: str) -> str | None:
        for api in self.apis:
            if _under(dotted, api):
                return api
        target = _resolve(dotted)
        if target is None or isinstance(target, (bool, int, float, str)):
            return None
        return next((api for api in self.apis if _resolve(api) is target), None)


def _is_tensor_method(name: str) -> bool:
    import torch

    return not name.startswith("_") and callable(getattr(torch.Tensor, name, None))


@functools.lru_cache(maxsize=4096)
def _resolve(dotted: str):
    """The object at a dotted path under an allowed package (trusted code only), else None."""
    parts = dotted.split(".")
    if parts[0] not in policy.ALLOWED_IMPORTS or any(p.startswith("_") for p in parts):
        return None
    try:
        return tripwires.resolve(dotted)
    except Exception:  # a package that fails to import is not a forbidden API
        return None


# -- the walk ---------------------------------------------------------------------------------
class _Checker:
    """One pass over a module's tree: imports first (they bind aliases), then every node."""

    def __init__(self, tree: ast.Module, forbidden: Forbidden, allowed: set[str], denied: list[str]):
        self.tree, self.forbidden, self.allowed, self.denied = tree, forbidden, allowed, denied
        self.aliases: dict[str, str] = {}  # local name -> dotted path of a module or an API
        self.own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        self.findings: list[Finding] = []
        self._seen: set[tuple[int, str]] = set()

    def run(self) -> list[Finding]:
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.check_import(node)
        self._follow_assignments()
        inner = self._inside_allowed_paths()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and id(node) not in inner:
                self.check_attribute(node)
            elif isinstance(node, ast.Name):
                self.check_name(node)
            elif isinstance(node, ast.Call):
                self.check_call(node)
        return self.findings

    def add(self, kind: str, message: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", 0)
        if (line, message) not in self._seen:
            self._seen.add((line, message))
            self.findings.append(Finding(kind, message, line))

    # imports ------------------------------------------------------------------------------
    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom) and (node.level or not node.module):
            return self.add("policy", "relative imports are not allowed (a solution is a single file)", node)
        for alias in node.names:
            if alias.name == "*":
                self.add("policy", f"'from {node.module} import *' hides which names you use; import them by name", node)
                continue
            if isinstance(node, ast.Import):
                dotted, bound = alias.name, alias.asname or alias.name.split(".")[0]
                self.aliases[bound] = alias.name if alias.asname else bound
            else:
                dotted, bound = f"{node.module}.{alias.name}", alias.asname or alias.name
                self.aliases[bound] = dotted
            self.check_path(dotted, node, imported=True)

    def _follow_assignments(self) -> None:
        """`f = F.linear` or `nn2 = torch.nn`: the new name stands for the same path."""
        for _ in range(3):
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    path = self.dotted(node.value)
                    if path and node.targets[0].id not in self.aliases:
                        self.aliases[node.targets[0].id] = path

    def _inside_allowed_paths(self) -> set[int]:
        """ids of the inner links of chains that name an allowed path (`torch.jit` in
        `torch.jit.is_scripting`): they are part of an allowed use, not uses of their own."""
        inner = set()
        for node in ast.walk(self.tree):
            path = self.dotted(node) if isinstance(node, ast.Attribute) else None
            if path and any(_under(path, ok) for ok in policy.ALLOWED_PATHS):
                link = node.value
                while isinstance(link, ast.Attribute):
                    inner.add(id(link))
                    link = link.value
        return inner

    # paths, attributes, names, calls ------------------------------------------------------
    def dotted(self, node: ast.AST) -> str | None:
        """The dotted path an expression names, when it is rooted at an imported name."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def check_path(self, dotted: str, node: ast.AST, imported: bool = False) -> None:
        root = dotted.split(".")[0]
        if imported and root not in self.allowed:
            self.add("policy", f"imports {root}, which is not on the import allowlist of this exercise", node)
            return
        if any(_under(dotted, ok) for ok in policy.ALLOWED_PATHS):
            return self._check_forbidden(dotted, node)
        if any(p.startswith("_") and p not in policy.ALLOWED_DUNDERS for p in dotted.split(".")[1:]):
            self.add("policy", f"reaches {dotted}: private internals are not allowed", node)
        denied = next((d for d in self.denied if _under(dotted, d)), None)
        if denied:
            self.add("policy", f"uses {denied}, which no solution may use", node)
        if root == "sys" and dotted != "sys" and dotted.split(".")[1] not in policy.SYS_ATTRIBUTES:
            self.add("policy", f"uses {dotted}: only plain facts of sys are allowed", node)
        self._check_forbidden(dotted, node)

    def _check_forbidden(self, dotted: str, node: ast.AST) -> None:
        api = self.forbidden.match(dotted)
        if api:
            self.add("forbidden", f"uses {api}, which this exercise forbids", node)

    def check_attribute(self, node: ast.Attribute) -> None:
        name, root = node.attr, _root(node)
        path = self.dotted(node)
        if path:
            self.check_path(path, node)
        if name.startswith("__") and name.endswith("__"):
            if name not in policy.ALLOWED_DUNDERS:
                self.add("policy", f"uses .{name}: introspection of namespaces and objects is not allowed", node)
        elif name.startswith("_") and root not in policy.OWN_RECEIVERS and root not in self.own and not path:
            self.add("policy", f"uses .{name}: private attributes of other objects are not allowed", node)
        if name in policy.DENIED_ATTRIBUTES:
            self.add("policy", f"uses .{name}: frame and code introspection is not allowed", node)
        if name in self.forbidden.tensor_twins and not path and root not in policy.OWN_RECEIVERS:
            self.add("forbidden", f"uses Tensor.{name}, the method twin of {self.forbidden.tensor_twins[name]}, "
                     "which this exercise forbids", node)

    def check_name(self, node: ast.Name) -> None:
        if node.id in policy.DENIED_BUILTINS and node.id not in self.own:
            self.add("policy", f"uses {node.id}: code run from text or namespaces reached by name is not allowed", node)
        elif node.id.startswith("__") and node.id.endswith("__") and node.id not in policy.ALLOWED_DUNDER_NAMES:
            self.add("policy", f"uses {node.id}, which no solution may use", node)
        elif node.id == "getattr" and not self._is_callee(node):
            self.add("policy", "passes getattr around as a value: call it directly with a name", node)

    def check_call(self, node: ast.Call) -> None:
        if not (isinstance(node.func, ast.Name) and node.func.id == "getattr" and "getattr" not in self.own):
            return
        if len(node.args) < 2:
            return
        target, name = node.args[0], node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            self.check_attribute(ast.copy_location(ast.Attribute(value=target, attr=name.value, ctx=ast.Load()), node))
        elif self.dotted(target) or not isinstance(target, (ast.Name, ast.Attribute)) or _root(target) is None:
            self.add("policy", "getattr with a computed name on a module, a class or an expression hides "
                     "which API runs (on self or a variable of yours it is fine)", node)

    def _is_callee(self, node: ast.Name) -> bool:
        return any(isinstance(c, ast.Call) and c.func is node for c in ast.walk(self.tree))


def _under(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def _root(node: ast.AST) -> str | None:
    """The name an attribute chain starts from (`super` for super().x), if any."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super":
        return "self"
    return node.id if isinstance(node, ast.Name) else None
