"""The architecture's rules, enforced: web → services → lvscf; pulse alone talks to the kernel.

Two kinds of check.  The import graph is read from the source with :mod:`ast`
(every ``import``, including those inside functions and under
``TYPE_CHECKING``, because a module that needs another only for its types
still depends on it), so a rule holds for code no test happens to run.  The
runtime checks import in a fresh interpreter, so modules imported by other
tests cannot hide what a package really pulls in.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "piranha_web"
KERNEL = "piranha_web.pulse.kernel"
WEB_MAY_IMPORT_OF_PULSE = {"piranha_web.pulse", "piranha_web.pulse.reconcile", "piranha_web.pulse.statusfile",
                           "piranha_web.pulse.runtime", "piranha_web.pulse.runtime.states",
                           "piranha_web.pulse.runtime.channel", "piranha_web.pulse.runtime.preview",
                           "piranha_web.pulse.runtime.exposition"}


# --- the static import graph ------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every module name ``module`` imports, absolute, as written (not yet resolved to files)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target
            # ``from pkg import name`` imports the submodule pkg.name when there is one
            yield from (f"{target}.{alias.name}" for alias in node.names)


def _is_ancestor(package: str, module: str) -> bool:
    """``module`` itself or a package that contains it."""
    return module == package or module.startswith(package + ".")


@cache
def _graph() -> dict[str, set[str]]:
    """Module -> the modules of the package (or third-party top-level names) it imports.

    A module's imports from its own enclosing packages are left out: Python
    runs every enclosing ``__init__`` before the module itself, so such an
    edge adds no ordering (Flask's blueprint pattern, ``from . import bp`` in
    ``routes.py``, is one).
    """
    sources = _sources()
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        edges: set[str] = set()
        for name in _imports(module, path):
            if name in sources:
                edges.add(name)
            elif not name.startswith("piranha_web"):
                edges.add(name.split(".")[0])
        graph[module] = {e for e in edges if not _is_ancestor(e, module)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """(a shortest cycle, all its modules) per strongly connected component of more than one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [(_one_cycle(graph, set(c)), c) for c in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the message."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"not a cycle: {component}")


def _importers_of(prefix: str, *, outside: str) -> dict[str, set[str]]:
    """Modules not under ``outside`` that import ``prefix`` (a package or a third-party name)."""
    found = {}
    for module, edges in _graph().items():
        if module == outside or module.startswith(outside + "."):
            continue
        hits = {e for e in edges if e == prefix or e.startswith(prefix + ".")}
        if hits:
            found[module] = hits
    return found


def test_the_graph_sees_the_package() -> None:
    graph = _graph()
    assert "piranha_web.pulse.daemon" in graph and "piranha_web.app" in graph
    assert "piranha_web.pulse.reconcile" in graph["piranha_web.pulse.daemon"]
    assert "pyroute2" in graph["piranha_web.pulse.kernel.syncd"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert _cycles(graph) == [(["a", "b", "c", "a"], ["a", "b", "c"])]


def _describe(cycles: list[tuple[list[str], list[str]]]) -> str:
    return "\n".join(
        " -> ".join(cycle) + (f"  (all of: {', '.join(members)})" if len(members) + 1 > len(cycle) else "")
        for cycle, members in cycles)


def test_no_import_cycle_inside_piranha_web() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + _describe(cycles)


def test_pyroute2_only_in_pulse_kernel() -> None:
    assert _importers_of("pyroute2", outside=KERNEL) == {}


def test_the_web_imports_only_the_planner_and_the_status_schema_of_pulse() -> None:
    found = _importers_of("piranha_web.pulse", outside="piranha_web.pulse")
    wrong = {m: hits - WEB_MAY_IMPORT_OF_PULSE for m, hits in found.items() if hits - WEB_MAY_IMPORT_OF_PULSE}
    assert wrong == {}


def test_lvscf_imports_neither_flask_nor_sqlalchemy() -> None:
    for module, edges in _graph().items():
        if module.startswith("piranha_web.lvscf"):
            outside = {e for e in edges if not e.startswith("piranha_web")}
            assert not outside & {"flask", "sqlalchemy", "flask_sqlalchemy", "werkzeug", "wtforms",
                                  "pyroute2"}, module


# --- what an import really loads ---------------------------------------------

def _modules(subpackage: str) -> list[str]:
    prefix = f"piranha_web.{subpackage}"
    return [m for m in _sources() if m == prefix or m.startswith(prefix + ".")]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_lvscf_is_pure_python() -> None:
    loaded = _top(_imported_after(_modules("lvscf")))
    assert not loaded & {"flask", "sqlalchemy", "pyroute2", "werkzeug"}


def test_pulse_never_imports_the_web_stack() -> None:
    loaded = _top(_imported_after(_modules("pulse")))
    assert not loaded & {"flask", "sqlalchemy", "werkzeug", "wtforms"}


def test_the_console_never_touches_the_kernel() -> None:
    app = PACKAGE / "app.py"
    if not app.exists():
        pytest.fail("piranha_web/app.py is missing")
    loaded = _imported_after(["piranha_web.app"])
    assert "pyroute2" not in _top(loaded)
    pulse_modules = {m for m in loaded if m.startswith("piranha_web.pulse.")}
    # Only the pure planner and the status schema may be shared.
    assert pulse_modules <= WEB_MAY_IMPORT_OF_PULSE
