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
    assert "Contracts: 2 kept, 0 broken." in result.stdout


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


def lint_with_imports(tmp_path: Path, imports: list[tuple[str, str]], broken: str) -> str:
    """The contracts' report on the package with ``(module, imported)`` imports
    added: only the contract named ``broken`` breaks. Its text on one line."""
    tree = installed_tree(tmp_path)
    for module, imported in imports:
        source = tree / "pximse" / module
        source.write_text(source.read_text(encoding="utf-8") + f"\nimport {imported}\n",
                          encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0 and "Contracts: 1 kept, 1 broken." in result.stdout
    assert f"{broken} BROKEN" in result.stdout
    return " ".join(result.stdout.split())


def test_an_import_against_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    report = lint_with_imports(tmp_path, [(module, imported) for module, imported, _, _
                                          in EDGES_AGAINST_THE_LAYERS], "One-way layers")
    for module, imported, layer, above in EDGES_AGAINST_THE_LAYERS:
        assert f"{layer} is not allowed to import {above}:" in report, (layer, above)
        importer = "pximse." + module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {imported}" in report


BACKEND_IMPORTS = [
    ("integrations/hydrus/catalog_reads.py", "pximse.store.sqlite.database"),
    ("integrations/digikam/catalog_images.py", "pximse.store.mongo.catalog"),
    ("api/page_reads.py", "pximse.store.mongo"),
    ("cli/migrate.py", "pximse.store.sqlite.catalog"),
    ("library/scan.py", "pximse.store.sqlite.contentlookup"),
    ("search/planner.py", "pximse.store.sqlite.search"),
]


def test_a_backend_imported_above_the_store_breaks_the_contract(tmp_path: Path) -> None:
    """Above the store, the catalogue is reached through the factories' protocol only."""
    report = lint_with_imports(tmp_path, BACKEND_IMPORTS,
                               "Catalogue backends only through the store's factories")
    for module, imported in BACKEND_IMPORTS:
        layer = "pximse." + module.split("/")[0]
        backend = ".".join(imported.split(".")[:3])
        assert f"{layer} is not allowed to import {backend}:" in report, (layer, backend)
        importer = "pximse." + module.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {imported}" in report


def catalogue_probes(source: str) -> list[str]:
    """``getattr``/``hasattr`` on a catalogue, or a reach into a backend's own
    handle (``.db``, ``.mdb``) through one: what a branch on the backend looks like."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr") and node.args
                and "catalog" in ast.unparse(node.args[0])):
            found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Attribute) and node.attr in ("db", "mdb")
                and "catalog" in ast.unparse(node.value)):
            found.append((node.lineno, ast.unparse(node)))
    return [f"{line}: {text}" for line, text in sorted(found)]


def test_nothing_above_the_store_probes_the_catalogue_backend() -> None:
    """Every backend answers the Catalog protocol's calls itself: outside the store
    nothing asks a catalogue what it has (``getattr``/``hasattr``) or reads its
    database handle."""
    sources = [path for folder in ("daemon", "integrations", "tray")
               for path in sorted((REPO / folder).rglob("*.py"))
               if not path.is_relative_to(REPO / "daemon" / "store")]
    assert len(sources) > 100
    assert [f"{path.relative_to(REPO)}:{probe}" for path in sources
            for probe in catalogue_probes(path.read_text(encoding="utf-8"))] == []


def test_the_probe_finder_sees_a_branch_on_the_backend() -> None:
    branchy = ("def f(catalog, self, other):\n"
               "    if hasattr(catalog, 'mdb'):\n"
               "        return catalog.mdb.content\n"
               "    lookup = getattr(self.catalog, 'content_lookup', None)\n"
               "    return self.catalog.db.reader(), getattr(other, 'x', None), other.db\n")
    assert catalogue_probes(branchy) == [
        "2: hasattr(catalog, 'mdb')", "3: catalog.mdb",
        "4: getattr(self.catalog, 'content_lookup', None)", "5: self.catalog.db"]


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
