"""The trust boundary in the layout: what the worker side imports (grader/worker/, followed through
every `grader.*` import, including those inside functions) never reaches a module that decides,
records or reports verdicts; only the worker package itself and the modules listed in SHARED."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import grader
from grader.worker import remote_ops

GRADER = Path(grader.__file__).parent
WORKER = "grader.worker"

# The modules both sides need, each saying so in its docstring ("Shared by both sides").
SHARED = {
    "grader.wire",      # the by-value frame format: the worker encodes, the grader decodes
    "grader.channel",   # framed messages over the control socket
    "grader.clock",     # time, for the channel's deadlines
    "grader.source",    # reading source as Python does (the worker reads the grader's copy)
    "grader.limits",    # every limit's default
    "grader.tasks",     # models wrapped around the candidate's module for convergence tests
    "grader.training",  # the training loop `candidate.lib.fit` runs
    "grader.outputs",   # a tuple of output tensors as one vector (what `candidate.lib.grads` differentiates)
}

# The deciding side: verdicts, their data, the trusted state of a run, the reports. None of them,
# nor anything under them (grader.kit.*), may be reachable from the worker side.
VERDICT = (
    "grader.compare", "grader.credit", "grader.constraints", "grader.static_checks", "grader.policy",
    "grader.gradcheck", "grader.diagnostics", "grader.tolerances", "grader.results", "grader.runner",
    "grader.validate", "grader.report", "grader.plots", "grader.kit",
    "grader.harness_tests", "grader.pytest_plugin", "grader.proxy", "grader.session", "grader.supervisor",
    "grader.mistakes", "grader.variants", "grader.batch", "grader.cli", "grader.console",
    "grader.leaderboard", "grader.gradescope", "grader.progress", "grader.mastery", "grader.categories",
    "grader.archives", "grader.pack", "grader.job_summary", "grader.interview", "grader.dashboard",
)


def module_file(name: str) -> Path | None:
    """The file of grader module `name` (a package's __init__.py), or None if it is not one."""
    parts = name.split(".")[1:]
    base = GRADER.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def grader_imports(source: str, name: str) -> set[str]:
    """Every grader module the source of module `name` imports, wherever the import statement is
    (inside functions and `if TYPE_CHECKING:` too), with the packages each import loads on the way."""
    package = name if module_file(name) and module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}")}
    found = {m for m in found if m == "grader" or m.startswith("grader.")}
    return {parent for m in found for parent in _with_parents(m)}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def reachable(start: str) -> dict[str, str | None]:
    """Every grader module importing `start` may load: module -> the module that imports it."""
    seen: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name)
        assert path is not None, f"{name} (imported by {seen[name]}) is not a module of the grader"
        for imported in sorted(grader_imports(path.read_text(encoding="utf-8"), name)):
            if imported not in seen:
                seen[imported] = name
                todo.append(imported)
    return seen


def chain(seen: dict[str, str | None], name: str) -> str:
    links = [name]
    while seen[links[-1]] is not None:
        links.append(seen[links[-1]])
    return " <- ".join(links)


WORKER_MODULES = sorted(
    ".".join(("grader", *path.relative_to(GRADER).with_suffix("").parts)).removesuffix(".__init__")
    for path in (GRADER / "worker").rglob("*.py")
)


def test_the_worker_package_holds_the_worker_side():
    assert {"grader.worker", "grader.worker.zygote", "grader.worker.serve", "grader.worker.confine",
            "grader.worker.tripwires", "grader.worker.optrace", "grader.worker.remote_ops"} <= set(WORKER_MODULES)


@pytest.mark.parametrize("module", WORKER_MODULES)
def test_worker_side_reaches_only_itself_and_the_shared_modules(module):
    seen = reachable(module)
    verdicts = [m for m in seen if any(m == v or m.startswith(v + ".") for v in VERDICT)]
    assert not verdicts, "the worker side reaches the deciding side: " + "; ".join(chain(seen, m) for m in verdicts)
    others = [m for m in seen if m != "grader" and m not in SHARED and not (m == WORKER or m.startswith(WORKER + "."))]
    assert not others, ("the worker side imports a module that is neither its own nor listed as shared: "
                        + "; ".join(chain(seen, m) for m in others))


@pytest.mark.parametrize("module", sorted(SHARED))
def test_shared_modules_say_so_and_stay_shared(module):
    path = module_file(module)
    assert path is not None, f"{module} is listed as shared but does not exist"
    assert "Shared by both sides" in (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""), module
    seen = reachable(module)
    assert set(seen) <= SHARED | {"grader"}, [chain(seen, m) for m in set(seen) - SHARED - {"grader"}]


def test_the_verdict_list_names_real_modules():
    """A renamed verdict module must be renamed here too, or the check above would miss it."""
    missing = [v for v in VERDICT if module_file(v) is None]
    assert not missing, missing


def test_what_the_worker_builds_by_name_is_shared():
    """`candidate.lib.make` imports dotted paths at run time: its grader roots must be shared modules."""
    roots = {root.rstrip(".") for root in remote_ops.MAKE_ROOTS if root.startswith("grader.")}
    assert roots and roots <= SHARED, roots


@pytest.mark.parametrize("line", [
    "from grader import compare",
    "import grader.results",
    "from grader.runner import grade_exercise",
    "def later():\n    from grader.kit import checks",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from grader.session import RunContext",
    "from .. import credit",
])
def test_the_walker_finds_a_verdict_import_however_it_is_written(line):
    found = grader_imports(line, "grader.worker.serve")
    assert any(m == v or m.startswith(v + ".") for m in found for v in VERDICT), found


def test_the_walker_follows_imports_through_shared_modules():
    seen = reachable("grader.worker.serve")
    assert {"grader.wire", "grader.channel", "grader.clock", "grader.limits", "grader.worker.confine",
            "grader.worker.remote_ops", "grader.training", "grader.tasks", "grader.worker.tripwires"} <= set(seen)
    assert chain(seen, "grader.clock").endswith("grader.worker.serve")
