"""SQLAlchemy and the SQL store stay inside ``vertex_track/store/``.

Every other module reaches the database through the ``MetadataStore``
protocol (``vertex_track/store/base.py``), so a second backend needs no change
above the store. Imports inside functions count; ``if TYPE_CHECKING:`` blocks
do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vertex_track"

FORBIDDEN = ("sqlalchemy", "vertex_track.store.sql")


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import that runs, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _violations(root: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("store/"):
            continue
        for line, target in _imports(path, root):
            if any(target == f or target.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"vertex_track/{rel}:{line} imports {target}")
    return sorted(set(found))


def test_sqlalchemy_only_in_store() -> None:
    assert _violations() == []


def test_the_walk_sees_relative_imports_in_functions(tmp_path: Path) -> None:
    # The check must be able to fail: a module importing the SQL store inside a
    # function, and SQLAlchemy outside TYPE_CHECKING; store/ itself may.
    root = tmp_path / "vertex_track"
    (root / "cli").mkdir(parents=True)
    (root / "store" / "sql").mkdir(parents=True)
    (root / "cli" / "probe.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import sqlalchemy\n"
        "def f():\n    from ..store.sql import tables\n    import sqlalchemy.orm\n"
        "from ..store import get_store\n"
    )
    (root / "store" / "sql" / "store.py").write_text("import sqlalchemy\nfrom . import tables\n")
    assert _violations(root) == [
        "vertex_track/cli/probe.py:5 imports vertex_track.store.sql",
        "vertex_track/cli/probe.py:5 imports vertex_track.store.sql.tables",
        "vertex_track/cli/probe.py:6 imports sqlalchemy.orm",
    ]
