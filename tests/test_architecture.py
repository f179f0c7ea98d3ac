"""The package's layers point only down, its module graph has no cycle, and its modules stay small.

The module graph is read from the source (an AST walk), so it holds every import a module can make:
module level and inside functions, relative imports resolved, ``importlib.import_module`` with a
literal name. Only imports under ``if TYPE_CHECKING:`` are left out, since they never run.
``from pkg import name`` is an import of ``pkg.name`` when that is a module, else of ``pkg``.

Layers, bottom to top (an import may point to the same or a lower layer):

0. leaves: ``exceptions``, ``_time``, ``_json``, ``types``, ``_random``, ``processes``, ``_version``
1. ``validation``, ``config``, ``context``
2. ``query`` (backend-neutral: grammar, parser, typed AST)
3. ``store`` and ``artifacts`` (siblings: neither imports the other)
4. ``resources`` (with ``resource_base``), ``executions``
5. ``lineage``, ``experiments``, ``tracking``, ``runs``
6. ``pipelines``, ``maintenance``
7. ``cli``, ``ui``, ``serve`` (front ends)
8. ``vertex_track`` (the package ``__init__``: public re-exports only)
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "vertex_track"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE
MAX_LINES = 600

LAYERS: list[tuple[str, frozenset[str]]] = [
    ("leaves", frozenset({"exceptions", "_time", "_json", "types", "_random", "processes", "_version"})),
    ("validation/config/context", frozenset({"validation", "config", "context"})),
    ("query", frozenset({"query"})),
    ("store/artifacts", frozenset({"store", "artifacts"})),
    ("resources/executions", frozenset({"resources", "resource_base", "executions"})),
    ("lineage/experiments/tracking/runs", frozenset({"lineage", "experiments", "tracking", "runs"})),
    ("pipelines/maintenance", frozenset({"pipelines", "maintenance", "openlineage"})),
    ("cli/ui/serve", frozenset({"cli", "ui", "serve"})),
]
PACKAGE_LAYER = "package __init__"
# Same layer, but neither may import the other.
SIBLINGS: list[frozenset[str]] = [frozenset({"store", "artifacts"})]

Graph = Mapping[str, Iterable[str]]


# -- reading the module graph ------------------------------------------------------------------


def discover_modules(package_dir: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Map every module under ``package_dir`` to its file and whether it is a package."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join([package, *parts])] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _nearest_module(name: str, modules: Mapping[str, object]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_imports(module: str, path: Path, is_package: bool, modules: Mapping[str, object]) -> set[str]:
    """The modules of the package that ``module`` (at ``path``) imports at run time."""
    package = module if is_package else module.rpartition(".")[0]
    root = module.split(".")[0]
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                targets.add(candidate if candidate in modules else base)
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets.add(node.args[0].value)
    resolved = set()
    for target in targets:
        if target == root or target.startswith(root + "."):
            found = _nearest_module(target, modules)
            if found is not None and found != module:
                resolved.add(found)
    return resolved


def import_graph(package_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports at run time."""
    modules = discover_modules(package_dir, package)
    return {
        name: module_imports(name, path, is_package, modules)
        for name, (path, is_package) in modules.items()
    }


# -- the checks --------------------------------------------------------------------------------


def _shortest_cycle_through(start: str, graph: Graph, members: set[str]) -> list[str]:
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target in members and target not in seen:
                    seen.add(target)
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


def find_cycles(graph: Graph) -> list[list[str]]:
    """The shortest cycle through each module on one, each a closed path starting at its least name.

    Cycles are found in the strongly connected components of ``graph`` (Tarjan).

    A module importing its own ancestor package's ``__init__`` counts as a cycle too: importing
    the module runs that ``__init__`` first.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles: list[list[str]] = []
    for component in components:
        for member in sorted(component):
            cycle = _shortest_cycle_through(member, graph, component)[:-1]
            first = cycle.index(min(cycle))
            closed = [*cycle[first:], *cycle[:first], min(cycle)]
            if closed not in cycles:
                cycles.append(closed)
    for importer in sorted(graph):
        for imported in sorted(graph[importer]):
            ancestor_cycle = [imported, importer, imported]
            if importer.startswith(imported + ".") and ancestor_cycle not in cycles:
                cycles.append(ancestor_cycle)
    return sorted(cycles)


def layer_of(module: str, package: str = PACKAGE) -> tuple[int, str]:
    """The layer (index, name) of ``module``; an unknown top-level name is a failure to fix here."""
    if module == package:
        return len(LAYERS), PACKAGE_LAYER
    top = module.split(".")[1]
    for number, (name, members) in enumerate(LAYERS):
        if top in members:
            return number, name
    raise AssertionError(f"{module} is in no layer: add {top!r} to LAYERS in tests/test_architecture.py")


def layer_violations(graph: Graph, package: str = PACKAGE) -> list[str]:
    """Every import that points up a layer or across siblings, as ``importer -> imported`` lines."""
    violations = []
    for importer in sorted(graph):
        low, low_name = layer_of(importer, package)
        for imported in sorted(graph[importer]):
            high, high_name = layer_of(imported, package)
            if high > low:
                violations.append(
                    f"{importer} ({low}: {low_name}) -> {imported} ({high}: {high_name}) imports upward"
                )
            elif importer != package and imported != package:
                tops = frozenset({importer.split(".")[1], imported.split(".")[1]})
                if len(tops) == 2 and tops in SIBLINGS:
                    violations.append(
                        f"{importer} ({low}: {low_name}) -> {imported} ({high}: {high_name}) "
                        "imports its sibling"
                    )
    return violations


def oversized_modules(package_dir: Path = PACKAGE_DIR, limit: int = MAX_LINES) -> list[str]:
    sizes = {
        str(path.relative_to(package_dir.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(package_dir.rglob("*.py"))
    }
    return [f"{path}: {lines} lines" for path, lines in sizes.items() if lines > limit]


# -- the tests on vertex_track -----------------------------------------------------------------


def test_module_graph_has_no_cycle() -> None:
    cycles = [" -> ".join(cycle) for cycle in find_cycles(import_graph())]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_imports_point_only_down_the_layers() -> None:
    violations = layer_violations(import_graph())
    assert violations == [], "imports against the layer order:\n" + "\n".join(violations)


def test_every_module_is_in_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_no_module_exceeds_the_size_limit() -> None:
    assert oversized_modules() == [], f"modules over {MAX_LINES} lines: split them along their seams"


# -- the checker itself can fail ---------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "vertex_track" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "vertex_track"


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    package_dir = _write(tmp_path, {
        "__init__.py": "from .resources import thing\n",
        "exceptions.py": "",
        "config.py": "",
        "resources.py": (
            "from __future__ import annotations\n"
            "from typing import TYPE_CHECKING\n"
            "from . import exceptions\n"
            "if TYPE_CHECKING:\n"
            "    from .cli import app\n"
            "else:\n"
            "    import vertex_track.config\n"
            "def thing():\n"
            "    from .tracking import helper\n"
            "    return helper\n"
        ),
        "tracking/__init__.py": "from ..store import get_store\ndef helper(): ...\n",
        "tracking/auto.py": "from vertex_track.tracking import helper\n",
        "store/__init__.py": "def get_store(): ...\n",
        "cli/__init__.py": "",
        "cli/app.py": "import importlib\nimportlib.import_module('vertex_track.tracking.auto')\n",
    })
    graph = import_graph(package_dir, "vertex_track")
    assert graph["vertex_track.resources"] == {
        "vertex_track.exceptions", "vertex_track.config", "vertex_track.tracking",
    }
    assert graph["vertex_track.tracking"] == {"vertex_track.store"}
    assert graph["vertex_track.tracking.auto"] == {"vertex_track.tracking"}
    assert graph["vertex_track.cli.app"] == {"vertex_track.tracking.auto"}
    assert graph["vertex_track"] == {"vertex_track.resources"}


def test_the_checker_reports_cycles_in_order() -> None:
    graph = {
        "vertex_track.cli.a": {"vertex_track.cli.b"},
        "vertex_track.cli.b": {"vertex_track.cli.c"},
        "vertex_track.cli.c": {"vertex_track.cli.a", "vertex_track.exceptions"},
        "vertex_track.exceptions": set(),
        "vertex_track.tracking": set(),
        "vertex_track.tracking.auto": {"vertex_track.tracking"},
    }
    assert find_cycles(graph) == [
        ["vertex_track.cli.a", "vertex_track.cli.b", "vertex_track.cli.c", "vertex_track.cli.a"],
        ["vertex_track.tracking", "vertex_track.tracking.auto", "vertex_track.tracking"],
    ]
    assert find_cycles({"vertex_track.cli.a": {"vertex_track.exceptions"}}) == []


def test_the_checker_reports_upward_and_sibling_imports() -> None:
    graph = {
        "vertex_track.resources": {"vertex_track.tracking.values", "vertex_track.store"},
        "vertex_track.artifacts.cache": {"vertex_track.store.base"},
        "vertex_track.tracking.values": {"vertex_track.resources"},
        "vertex_track.store": set(),
        "vertex_track.store.base": set(),
    }
    assert layer_violations(graph) == [
        "vertex_track.artifacts.cache (3: store/artifacts) -> vertex_track.store.base "
        "(3: store/artifacts) imports its sibling",
        "vertex_track.resources (4: resources/executions) -> vertex_track.tracking.values "
        "(5: lineage/experiments/tracking/runs) imports upward",
    ]


def test_a_module_outside_every_layer_is_named() -> None:
    with pytest.raises(AssertionError, match="vertex_track.misc is in no layer: add 'misc' to LAYERS"):
        layer_of("vertex_track.misc")


def test_the_size_check_names_the_offenders(tmp_path: Path) -> None:
    package_dir = _write(tmp_path, {"big.py": "x = 1\n" * 601, "small.py": "x = 1\n" * 600})
    assert oversized_modules(package_dir) == ["vertex_track/big.py: 601 lines"]
