"""ruff and mypy pass on the code, each seeing the one `pximse` namespace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_source

pytestmark = pytest.mark.slow  # every test here takes seconds

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_ruff() -> None:
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "daemon", "tray", "integrations", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_on_an_installed_copy(tmp_path: Path) -> None:
    """mypy cannot follow setuptools' editable import hook, so it checks a regular
    install of the same package (what `make typecheck` does)."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(copy_source(tmp_path / "src"))],
        check=True, capture_output=True,
    )
    result = subprocess.run(
        [str(BIN / "mypy"), "-p", "pximse", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=target, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
