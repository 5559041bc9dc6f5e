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
from typing import Any

import pytest
from helpers.pictures import png_bytes
from helpers.waiting import wait_for
from helpers.watched import Watched

from pximse.config import RootConfig, ScanConfig
from pximse.library import scan as scan_module
from pximse.library.scan import scan_roots
from pximse.library.watch import looks_complete
from pximse.query.parse import parse_query
from pximse.store.pathtext import os_path, readable, stored_path
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
    [recorded] = catalog.recorded_files(sha)  # what the API serves the file from
    assert recorded[0] == odd(library) and recorded[4] == str(library)
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


@pytest.mark.slow
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


# -- pipes, sockets and devices -------------------------------------------------


def _with_timeout(work, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it blocks."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        # Unblock a reader stuck on a FIFO so that the thread can end.
        raise AssertionError(f"blocked for more than {seconds}s")
    return result[0]


def release(pipe: Path) -> None:
    """Open the pipe as a writer for a moment, so that a reader blocked on it (a
    failing test) returns."""
    try:
        os.close(os.open(pipe, os.O_RDWR | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.fixture
def special_files(library: Path) -> Iterator[dict[Path, str]]:
    made = {library / "pipe.png": "a named pipe (FIFO)"}
    os.mkfifo(library / "pipe.png")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(library / "socket.jpg"))
    made[library / "socket.jpg"] = "a socket"
    try:
        os.mknod(library / "null.png", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null
        made[library / "null.png"] = "a character device"
    except (PermissionError, OSError):
        pass  # creating a device node needs privileges; the pipe and socket still count
    yield made
    server.close()
    release(library / "pipe.png")


def test_pipes_sockets_and_devices_are_skipped_with_their_kind(
    catalog: SqliteCatalog, library: Path, tmp_path: Path, special_files: dict[Path, str]
) -> None:
    (library / "good.png").write_bytes(png_bytes(1))
    report = _with_timeout(lambda: scan(catalog, library, tmp_path))
    assert report.new_images == 1 and report.errors == 0
    assert report.skipped == len(special_files)
    rows = dict(catalog.db.reader().execute(
        "SELECT path, error FROM file WHERE state = 'skipped' AND reason = 'special'"))
    assert rows == {str(path): f"{kind}, not a regular file: not read"
                    for path, kind in special_files.items()}
    again = _with_timeout(lambda: scan(catalog, library, tmp_path))
    assert again.unchanged == len(special_files) + 1 and again.skipped == 0


def test_looks_complete_never_waits_on_a_pipe(library: Path) -> None:
    os.mkfifo(library / "pipe.png")
    try:
        assert _with_timeout(lambda: looks_complete(str(library / "pipe.png")), 5) is None
    finally:
        release(library / "pipe.png")


def test_the_watcher_skips_a_new_pipe_and_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    watched = Watched(tmp_path, [RootConfig(name="lib", path=root)])
    try:
        os.mkfifo(root / "download.png")
        (root / "good.png").write_bytes(png_bytes(2))
        wait_for(lambda: watched.state(root / "good.png") == "ok", timeout=20,
                 what="the file written beside the pipe")
        wait_for(lambda: watched.state(root / "download.png") == "skipped", timeout=20,
                 what="the pipe, recorded as skipped")
        (root / "later.png").write_bytes(png_bytes(3))
        wait_for(lambda: watched.state(root / "later.png") == "ok", timeout=20,
                 what="a later file")
        started = time.monotonic()
        watched.watcher.stop()
        assert time.monotonic() - started < 10
    finally:
        release(root / "download.png")
        watched.close()


# -- symlink loops ----------------------------------------------------------------


def test_symlink_loops_are_walked_once(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    (library / "sub").mkdir()
    for i in range(3):
        (library / f"{i}.png").write_bytes(png_bytes(i))
    (library / "sub" / "deep.png").write_bytes(png_bytes(9))
    os.symlink(".", library / "self")
    os.symlink("..", library / "sub" / "up")
    os.symlink("sub", library / "again")  # a second way into one folder

    report = _with_timeout(lambda: scan(catalog, library, tmp_path, follow_symlinks=True))

    assert report.files == 4 and report.new_images == 4
    assert sorted(report.loops) == sorted(
        str(p) for p in (library / "self", library / "sub" / "up", library / "again")
    ) or sorted(report.loops) == sorted(
        str(p) for p in (library / "self", library / "again" / "up", library / "sub"))
    assert catalog.status()["files"] == 4
    again = _with_timeout(lambda: scan(catalog, library, tmp_path, follow_symlinks=True))
    assert (again.unchanged, again.new_images, again.removed) == (4, 0, 0)


def test_the_watcher_does_not_follow_a_link_to_a_folder_above(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "a").mkdir(parents=True)
    (root / "top.png").write_bytes(png_bytes(1))
    watched = Watched(tmp_path, [RootConfig(name="lib", path=root)])
    watched.watcher.scan_config = ScanConfig(workers=1, follow_symlinks=True)
    try:
        moved_in = tmp_path / "incoming"
        (moved_in / "b").mkdir(parents=True)
        (moved_in / "b" / "new.png").write_bytes(png_bytes(2))
        os.symlink("../..", moved_in / "b" / "up")  # will point at lib/a
        os.rename(moved_in, root / "a" / "incoming")
        wait_for(lambda: watched.state(root / "a" / "incoming" / "b" / "new.png") == "ok",
                 what="the folder moved in")
        time.sleep(1.0)
        assert watched.count() == 2  # no copies of lib/a through the link
    finally:
        watched.close()


# -- files and folders deleted while a scan reads them ------------------------------


@pytest.fixture(params=["one read", "hash then decode"])
def either_read_path(request: pytest.FixtureRequest, catalog: SqliteCatalog,
                     monkeypatch: pytest.MonkeyPatch) -> SqliteCatalog:
    """The catalogue, scanned by the one-read path (hash and decode in one read)
    or by the path of catalogues that offer no content lookup."""
    if request.param == "hash then decode":
        monkeypatch.setattr(catalog, "content_lookup", lambda: None)
    return catalog


def after_the_walk(monkeypatch: pytest.MonkeyPatch, change) -> None:  # type: ignore[no-untyped-def]
    """Run ``change()`` once the scan has listed the files and checked their kind,
    before any is opened."""
    real = scan_module._special_files

    def listed_then_changed(todo):  # type: ignore[no-untyped-def]
        found = real(todo)
        change()
        return found

    monkeypatch.setattr(scan_module, "_special_files", listed_then_changed)


def test_files_deleted_during_a_scan_are_not_errors(
    either_read_path: SqliteCatalog, library: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = either_read_path
    for folder in ("keep", "one", "two"):
        for i in range(10):
            (library / folder).mkdir(exist_ok=True)
            (library / folder / f"{i}.png").write_bytes(png_bytes(hash((folder, i)) % 1000))
    scan(catalog, library, tmp_path)
    for folder in ("one", "two"):  # changed, so the next scan reads them again
        for i in range(10):
            (library / folder / f"{i}.png").write_bytes(png_bytes(2000 + i))
    (library / "new.png").write_bytes(png_bytes(3000))  # new: never in the catalogue

    def delete() -> None:
        import shutil

        shutil.rmtree(library / "one")  # the walk listed them; then they went
        shutil.rmtree(library / "two")
        (library / "new.png").unlink()

    after_the_walk(monkeypatch, delete)
    report = scan(catalog, library, tmp_path)
    assert report.errors == 0 and report.removed == 20 and report.new_images == 0
    assert catalog.status()["errors"] == 0 and catalog.status()["files"] == 10
    monkeypatch.undo()
    later = scan(catalog, library, tmp_path)
    assert (later.unchanged, later.removed, later.errors) == (10, 0, 0)


def test_a_file_swapped_for_a_pipe_after_the_walk_is_skipped_unread(
    either_read_path: SqliteCatalog, library: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download tool can replace a file by a named pipe between the walk and the
    read: the pipe is opened without waiting, recorded as skipped with its kind,
    and its neighbours are indexed."""
    catalog = either_read_path
    (library / "good.png").write_bytes(png_bytes(1))
    (library / "soon-a-pipe.png").write_bytes(png_bytes(2))

    def swap() -> None:
        (library / "soon-a-pipe.png").unlink()
        os.mkfifo(library / "soon-a-pipe.png")

    after_the_walk(monkeypatch, swap)
    try:
        report = _with_timeout(lambda: scan(catalog, library, tmp_path))
    finally:
        release(library / "soon-a-pipe.png")
    assert (report.new_images, report.skipped, report.errors) == (1, 1, 0)
    [(reason, error)] = catalog.db.reader().execute(
        "SELECT reason, error FROM file WHERE state = 'skipped'").fetchall()
    assert (reason, error) == ("special", "a named pipe (FIFO), not a regular file: not read")


def test_a_folder_deleted_during_the_walk_is_gone_not_unreadable(
    catalog: SqliteCatalog, library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pximse.library import walk

    (library / "gone").mkdir()
    (library / "gone" / "a.png").write_bytes(png_bytes(1))
    (library / "kept.png").write_bytes(png_bytes(2))
    scan(catalog, library, tmp_path)
    (library / "gone" / "b.png").write_bytes(png_bytes(3))
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("gone"):
            import shutil

            shutil.rmtree(path)
        return real_scandir(path)

    monkeypatch.setattr(walk.os, "scandir", scandir)
    report = scan(catalog, library, tmp_path)
    assert report.unreadable == [] and report.errors == 0
    assert report.removed == 1 and catalog.status()["files"] == 1


def test_error_texts_are_readable(catalog: SqliteCatalog, library: Path, tmp_path: Path) -> None:
    from pximse.error_text import one_line
    from pximse.models.worker import WorkerError

    (library / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(400))
    (library / "garbage.webp").write_bytes(b"RIFF\x00\x01\x00\x00WEBPVP8 " + os.urandom(300))
    scan(catalog, library, tmp_path)
    messages = [e["message"] for e in catalog.status()["recent_errors"]]
    assert len(messages) == 2
    for message in messages:
        assert "object at 0x" not in message and "_io." not in message, message
    traceback_text = WorkerError("ocr failed:\nTraceback (most recent call last):\n"
                                 '  File "x.py", line 1\nMemoryError: 6.2 GiB for one array')
    assert one_line(traceback_text) == "ocr failed: MemoryError: 6.2 GiB for one array"


def test_the_api_serves_and_shows_a_file_whose_name_is_not_utf8(
    library: Path, make_config: Any, tmp_path: Path
) -> None:
    from helpers.api_client import api_client

    from pximse.api.app import create_app

    Path(odd(library)).write_bytes(png_bytes(7))
    config = make_config({"main": library})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    with api_client(create_app(config, catalog)) as client:
        [item] = client.get("/api/search", params={"q": ""}).json()["items"]
        assert item["path"] == str(library / "caf\\xe9 \\xff\\xfe.png")
        served = client.get(f"/api/images/{item['id']}/file")
        assert served.status_code == 200 and served.content == png_bytes(7)
        assert client.get("/api/status").status_code == 200
    catalog.close()
