"""The distribution: one `pximse` namespace from daemon/, tray/ and integrations/,
in a regular install as in the editable one the tests run from."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import copy_source

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"pximse": "daemon", "pximse.tray": "tray", "pximse.integrations": "integrations"}


def declared_packages() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared() -> None:
    found = set()
    for package, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == set(declared_packages())


def test_editable_install_maps_the_folders() -> None:
    import pximse
    import pximse.integrations.hydrus
    import pximse.tray

    assert Path(pximse.__file__).parent == ROOT / "daemon"
    assert Path(pximse.tray.__file__).parent == ROOT / "tray"
    assert Path(pximse.integrations.hydrus.__file__).parent == ROOT / "integrations" / "hydrus"


@pytest.mark.slow
def test_wheel_holds_one_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(copy_source(tmp_path / "src"))],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("pximse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "pximse/__init__.py",
        "pximse/cli/__init__.py",
        "pximse/default_config.toml",
        "pximse/query/parse.py",
        "pximse/store/sqlite/schema.py",
        "pximse/tray/__init__.py",
        "pximse/integrations/digikam/__init__.py",
    ):
        assert expected in names
    assert not any(name.startswith(("daemon/", "tests/", "tray/")) for name in names)
