"""Setting up: what `make` tells a newcomer when the virtualenv cannot be made."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@needs_make
def test_make_says_to_run_make_clean_when_the_venv_has_no_pip(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "venv", f"VENV={venv}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "half-made: it has no pip" in proc.stdout
    assert "Run 'make clean'" in proc.stdout


@needs_make
def test_make_names_the_debian_venv_package_when_venv_fails(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "venv", f"VENV={venv}", f"PYTHON={tmp_path}/python3.11"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "sudo apt install python3.11-venv" in proc.stdout
    assert not venv.exists()  # no half-made venv left behind for the next run


def test_license_is_an_spdx_expression_setuptools_reads_without_warning() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    # PEP 639 strings are read by setuptools 77 and later; older ones reject them.
    assert "setuptools>=77" in project["build-system"]["requires"]
