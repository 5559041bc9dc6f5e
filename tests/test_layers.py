"""The package's layers import one way: the import-linter contract in pyproject.toml.

import-linter reads the package as installed, so the check runs over a copy
that puts tray/ and integrations/ inside pximse/, as an install does.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(),
                                reason="import-linter is not installed (the test extra)")


def installed_tree(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "daemon", destination / "pximse", ignore=ignore)
    shutil.copytree(REPO / "tray", destination / "pximse" / "tray", ignore=ignore)
    shutil.copytree(REPO / "integrations", destination / "pximse" / "integrations",
                    ignore=ignore)
    return destination


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config",
                           str(REPO / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_the_layers_import_one_way(tmp_path: Path) -> None:
    result = lint_imports(installed_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


EDGES_AGAINST_THE_LAYERS = [
    ("query/ast.py", "pximse.store.records", "pximse.query", "pximse.store"),
    ("store/records.py", "pximse.library.probe", "pximse.store", "pximse.library"),
    ("config/paths.py", "pximse.store.names", "pximse.config", "pximse.store"),
    ("store/backends.py", "pximse.search.planner", "pximse.store", "pximse.search"),
    ("api/deps.py", "pximse.integrations.hydrus.errors", "pximse.api", "pximse.integrations"),
    # The core finds its plug-ins through pximse.plugins; it imports none of them.
    ("cli/common.py", "pximse.tray.cli", "pximse.cli", "pximse.tray"),
    ("service/runtime.py", "pximse.integrations.digikam.follower", "pximse.service",
     "pximse.integrations"),
    ("plugins.py", "pximse.api.app", "pximse.plugins", "pximse.api"),
]


def test_an_import_against_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    tree = installed_tree(tmp_path)
    for module, imported, _, _ in EDGES_AGAINST_THE_LAYERS:
        source = tree / "pximse" / module
        source.write_text(source.read_text(encoding="utf-8") + f"\nimport {imported}\n",
                          encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0 and "Contracts: 0 kept, 1 broken." in result.stdout
    report = " ".join(result.stdout.split())
    for module, imported, layer, above in EDGES_AGAINST_THE_LAYERS:
        assert f"{layer} is not allowed to import {above}:" in report, (layer, above)
        importer = "pximse." + module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {imported}" in report


@pytest.mark.slow
def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/helpers/ and conftest.py, never in a test module."""
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names
                          if name.split(".")[-1].startswith("test_")]
    assert offenders == []
