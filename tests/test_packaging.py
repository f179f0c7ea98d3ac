"""What ``pip install vertex-track`` installs: a wheel built from this checkout.

The wheel is built once (``pip wheel``, a few seconds) from a copy of the
repository, so the build never writes into the working tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache",
    ".hypothesis", "*.db", "*.db-wal", "*.db-shm",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names in the wheel."""
    src = tmp_path_factory.mktemp("checkout") / "vertex-track"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (built,) = out.glob("vertex_track-*.whl")
    with zipfile.ZipFile(built) as z:
        return z.namelist()


def _package_files(names: list[str]) -> set[str]:
    return {n for n in names if ".dist-info/" not in n}


def test_only_vertex_track_is_installed_at_the_top_level(wheel: list[str]) -> None:
    # flows/, examples/, benchmarks/ and tests/ sit beside the package; none may
    # become an importable top-level name (a `flows` module would shadow users' own).
    assert {n.split("/", 1)[0] for n in _package_files(wheel)} == {"vertex_track"}


def test_every_file_of_the_package_is_in_the_wheel(wheel: list[str]) -> None:
    """Data files the code reads (the filter grammar, py.typed) ship with the modules."""
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "vertex_track").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert source - _package_files(wheel) == set()
    assert "vertex_track/py.typed" in wheel
    assert [n for n in wheel if n.endswith(".lark")], "the filter grammar is not in the wheel"


def test_every_package_data_glob_matches_a_file() -> None:
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, globs in package_data.items():
        folder = ROOT / package.replace(".", "/")
        for pattern in globs:
            assert list(folder.glob(pattern)), f"package-data {package}: {pattern!r} matches nothing"


def test_the_command_line_entry_point(wheel: list[str]) -> None:
    assert PYPROJECT["project"]["scripts"] == {"vertex-track": "vertex_track.cli:main"}
    assert "vertex_track/cli/__init__.py" in wheel


def test_every_dependency_has_a_lower_bound() -> None:
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    requirements += PYPROJECT["build-system"]["requires"]
    unbounded = []
    for text in requirements:
        req = Requirement(text)
        if req.name == project["name"]:
            continue  # an extra of this package (`vertex-track[pipelines]`)
        if not any(s.operator in (">=", "==", "~=", ">") for s in req.specifier):
            unbounded.append(text)
    assert unbounded == []
