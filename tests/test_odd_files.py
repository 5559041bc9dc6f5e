"""What a real file system holds besides ordinary images: names that are not
valid UTF-8, named pipes, sockets, symlink loops, folders deleted while a scan
reads them. Each is indexed or skipped with its reason; none stops a scan or a
watcher batch, and none makes the watcher wait."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_watch import Watched, png_bytes, wait_for

from pximse.config import RootConfig, ScanConfig
from pximse.library import scan as scan_module
from pximse.library.pathtext import os_path, readable, stored_path
from pximse.library.scan import scan_roots
from pximse.library.watch import looks_complete
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog

ODD = b"caf\xe9 \xff\xfe.png"  # Latin-1 bytes: not UTF-8
ODD_FOLDER = b"\xc0\xc1 folder"


def odd(folder: Path, name: bytes = ODD) -> str:
    """The path Python gives for a name that is not UTF-8 (surrogate-escaped)."""
    return os.fsdecode(os.path.join(os.fsencode(folder), name))


def scan(catalog: SqliteCatalog, root: Path, tmp_path: Path, **config: object
         ) -> scan_module.ScanReport:
    return scan_roots(catalog, [RootConfig(name="lib", path=root)],
                      thumbnail_dir=tmp_path / "thumbs",
                      config=ScanConfig(workers=1, **config))  # type: ignore[arg-type]


# -- names that are not UTF-8 --------------------------------------------------


def test_stored_paths_are_lossless_and_ordinary_paths_unchanged() -> None:
    for path in ("/lib/a.png", "/lib/日本語/ページ.png", odd(Path("/lib"), ODD),
                 "/lib/\udcff\udc80", "/lib/\ud800 lone high (Windows)"):
        stored = stored_path(path)
        stored.encode("utf-8")  # any catalogue takes it
        assert os_path(stored) == path
    assert stored_path("/lib/日本語/ページ.png") == "/lib/日本語/ページ.png"
    folder = odd(Path("/lib"), ODD_FOLDER)
    child = os.path.join(folder, "x.png")
    assert stored_path(child).startswith(stored_path(folder) + "/")  # prefixes still work
    assert readable(odd(Path("/lib"), ODD)) == "/lib/caf\\xe9 \\xff\\xfe.png"
    assert readable(stored_path(odd(Path("/lib"), ODD))) == "/lib/caf\\xe9 \\xff\\xfe.png"


def test_a_name_that_is_not_utf8_is_indexed_beside_the_others(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    for i in range(20):
        (library / f"{i}.png").write_bytes(png_bytes(i))
    Path(odd(library)).write_bytes(png_bytes(100))
    os.mkdir(odd(library, ODD_FOLDER))
    inside = os.path.join(odd(library, ODD_FOLDER), "inside.png")
    Path(inside).write_bytes(png_bytes(101))

    report = scan(catalog, library, tmp_path)

    assert report.errors == 0 and report.new_images == 22
    assert set(catalog.file_ids([odd(library), inside])) == {odd(library), inside}
    page = catalog.search(parse_query(""), limit=100)
    assert page.total == 22
    shown = {item.path for item in page.items}
    assert str(library / "caf\\xe9 \\xff\\xfe.png") in shown  # readable, not mangled
    json.dumps([item.__dict__ for item in page.items], ensure_ascii=False).encode("utf-8")
    sha = next(i.id for i in page.items if i.path == str(library / "caf\\xe9 \\xff\\xfe.png"))
    found = catalog.file_for(sha)
    assert found is not None and found[0] == odd(library)  # the real name, to open it
    assert Path(found[0]).read_bytes() == png_bytes(100)
    detail = catalog.image(sha)
    assert detail is not None and detail.paths[0].path.endswith("caf\\xe9 \\xff\\xfe.png")
    json.dumps(catalog.status(), ensure_ascii=False).encode("utf-8")

    # A rescan sees the same files, unchanged; a rename of the odd file is a move.
    again = scan(catalog, library, tmp_path)
    assert (again.unchanged, again.new_images, again.removed) == (22, 0, 0)
    os.rename(odd(library), odd(library, b"\xe9t\xe9.png"))
    moved = scan(catalog, library, tmp_path)
    assert (moved.linked, moved.removed, moved.new_images) == (1, 1, 0)


def test_an_odd_name_in_an_error_message_is_stored_readably(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    Path(odd(library)).write_bytes(png_bytes(1, (400, 300))[:1000])  # cut off
    report = scan(catalog, library, tmp_path)
    assert report.errors == 1
    [error] = catalog.status()["recent_errors"]
    assert error["path"] == str(library / "caf\\xe9 \\xff\\xfe.png")
    assert "caf\\xe9" in error["message"] and "incomplete" in error["message"]


def test_the_watcher_indexes_an_odd_name_and_its_batch_mates(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    watched = Watched(tmp_path, [RootConfig(name="lib", path=root)])
    try:
        Path(odd(root)).write_bytes(png_bytes(1))
        (root / "good.png").write_bytes(png_bytes(2))
        wait_for(lambda: watched.count("state = 'ok'") == 2, what="both files")
        assert set(watched.catalog.file_ids([odd(root), str(root / "good.png")])) == {
            odd(root), str(root / "good.png")}
        assert watched.watcher.modes["lib"] == "watching"  # not dropped to polling
        (root / "later.png").write_bytes(png_bytes(3))  # and still watched
        wait_for(lambda: watched.state(root / "later.png") == "ok", what="a later file")
    finally:
        watched.close()
