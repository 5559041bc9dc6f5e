"""exiftool and exiv2 for the XMP sidecar tests, and a small library they tag."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pximse.cli import main
from pximse.library.scan import scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog

needs_tools = pytest.mark.skipif(
    shutil.which("exiftool") is None or shutil.which("exiv2") is None,
    reason="exiftool and exiv2 are needed (make system-deps)",
)

MODEL = "wd-test"
_RECORD = re.compile(r"^((?:Xmp|Iptc|Exif)\.\S+)\s+(\S+)\s+(\d+)  (.*)$")


def content_id(catalog: SqliteCatalog, path: Path) -> int:
    row = catalog.db.reader().execute(
        "SELECT content_id FROM file WHERE path = ?", (str(path),)
    ).fetchone()
    return int(row[0])


def exiv2_xmp(path: Path) -> dict[str, list[str] | str]:
    """Every Xmp.* key of a file as exiv2 prints it: lists split into items (the
    test tags hold no ", "), language alternatives without their lang="..."."""
    out = subprocess.run(["exiv2", "-pa", str(path)], capture_output=True, text=True,
                         check=False).stdout
    keys: dict[str, list[str] | str] = {}
    last: str | None = None
    for line in out.splitlines():
        match = _RECORD.match(line)
        if match is None:  # the next line of a value with a newline in it
            if last is not None and isinstance(keys[last], str):
                keys[last] = f"{keys[last]}\n{line}"
            continue
        key, kind, _count, value = match.groups()
        last = None
        if not key.startswith("Xmp."):
            continue
        if kind in ("XmpBag", "XmpSeq"):
            keys[key] = value.split(", ") if value else []
        elif kind == "LangAlt":
            keys[key] = re.sub(r'^lang="[^"]*" ', "", value)
        else:
            keys[key] = value
        last = key
    return keys


def exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-q", *args], check=True)


def library_builder(library: Path, make_image, make_config):
    """Three images in a library; ``build(extra, roots)`` gives a configuration
    and a scanned catalogue."""
    make_image(library / "a.png", seed=1)
    make_image(library / "sub" / "b.jpg", seed=2)
    make_image(library / "c.png", seed=3)

    def build(extra: str = "[xmp]\nwrite = true\n", roots: dict[str, Path] | None = None):
        config = make_config(roots or {"lib": library}, extra)
        catalog = SqliteCatalog(config.catalog_path)
        scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
        return config, catalog

    return build


def tag(catalog: SqliteCatalog, path: Path, tags: dict[str, float], origin: str = MODEL,
        kind: int = 0) -> None:
    catalog.set_tags(content_id(catalog, path), origin, kind, tags)


def invoke(config, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["xmp", *args[:1], "--config", str(config.config_path), "--data-dir",
               str(config.data_dir), *args[1:]], env={}, catch_exceptions=False)
    return result.exit_code, result.output
