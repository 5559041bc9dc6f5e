"""Watching the library for real on this machine's file system: creates, slow
writes, renames, folder moves within and across roots, deletes, a 5k-file
burst, a root that goes away and comes back, and the fallback to polling when
the OS refuses to watch. Every wait is on a condition, with a timeout."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.pictures import png_bytes
from helpers.waiting import wait_for
from helpers.watched import Watched
from PIL import Image

from pximse.config import RootConfig
from pximse.library.watch import describe_watch_error, looks_complete

TIMEOUT = 60.0


@pytest.fixture
def roots(tmp_path: Path) -> list[RootConfig]:
    made = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        made.append(RootConfig(name=name, path=tmp_path / name))
    return made


@pytest.fixture
def watched(tmp_path: Path, roots: list[RootConfig]) -> Iterator[Watched]:
    w = Watched(tmp_path, roots)
    yield w
    w.close()


def test_a_new_file_is_catalogued_and_a_deleted_one_removed(
    watched: Watched, roots: list[RootConfig]
) -> None:
    path = roots[0].path / "pixiv" / "12345_67890_p0.png"
    path.parent.mkdir()
    path.write_bytes(png_bytes(1))
    wait_for(lambda: watched.state(path) == "ok", what="the new file")
    wait_for(lambda: watched.total("added") == 1, what="the batch's report")
    assert watched.total("new_images") == 1
    row = watched.catalog.db.reader().execute(
        "SELECT c.source, c.post_id FROM content c JOIN file f ON f.content_id = c.id"
        " WHERE f.path = ?", (str(path),)).fetchone()
    assert row == ("pixiv", "67890")  # the filename source is searchable too

    path.unlink()
    wait_for(lambda: watched.state(path) is None, what="the removal")
    wait_for(lambda: watched.total("removed") == 1, what="the batch's report")


def test_a_file_written_slowly_is_indexed_once_complete(
    watched: Watched, roots: list[RootConfig]
) -> None:
    data = png_bytes(2, (200, 150))
    path = roots[0].path / "download.png"
    seen: list[str | None] = []
    with open(path, "wb") as out:
        for start in range(0, len(data), len(data) // 5 + 1):
            out.write(data[start:start + len(data) // 5 + 1])
            out.flush()
            time.sleep(0.35)  # longer than the watcher's quiet time
            seen.append(watched.state(path))
    wait_for(lambda: watched.state(path) == "ok", what="the finished download")
    assert set(seen[:-1]) <= {None}  # never recorded half-written
    assert not [e for r in watched.reports for e in r.errors]
    assert watched.total("new_images") == 1


def test_a_rename_and_a_folder_move_reuse_the_content_without_reading(
    watched: Watched, roots: list[RootConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = roots[0].path / "album"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i}.png").write_bytes(png_bytes(100 + i))
    wait_for(lambda: watched.count("state = 'ok'") == 40, what="the album")
    before = {p.name: watched.sha(p) for p in folder.iterdir()}
    images = watched.total("new_images")

    from pximse.library import scan

    hashed: list[str] = []
    real = scan.read_new_file
    monkeypatch.setattr(scan, "read_new_file",
                        lambda job: hashed.append(job[0]) or real(job))

    (folder / "0.png").rename(folder / "renamed.png")
    wait_for(lambda: watched.state(folder / "renamed.png") == "ok", what="the rename")
    wait_for(lambda: watched.state(folder / "0.png") is None, what="the old name")
    assert watched.sha(folder / "renamed.png") == before["0.png"]

    moved_within = roots[0].path / "sorted" / "album"
    moved_within.parent.mkdir()
    folder.rename(moved_within)
    wait_for(lambda: watched.count("path LIKE ? AND state = 'ok'",
                                   f"{moved_within}/%") == 40, what="the folder move")
    wait_for(lambda: watched.count("path LIKE ?", f"{folder}/%") == 0, what="old paths")

    across = roots[1].path / "album"
    shutil.move(str(moved_within), str(across))
    wait_for(lambda: watched.count("path LIKE ? AND state = 'ok'",
                                   f"{across}/%") == 40, what="the move to another root")
    wait_for(lambda: watched.count("path LIKE ?", f"{moved_within}/%") == 0, what="old paths")

    after = {p.name: watched.sha(p) for p in across.iterdir()}
    assert after["renamed.png"] == before["0.png"]
    assert all(after[name] == sha for name, sha in before.items() if name != "0.png")
    assert watched.total("new_images") == images  # nothing new for the models
    # The rename and the folder move within the root at least (across roots, the two
    # sides may land in different batches and count as removed and added).
    wait_for(lambda: watched.total("moved") >= 41, what="the batches' reports")
    root_ids = {row[0] for row in watched.catalog.db.reader().execute(
        "SELECT r.name FROM file f JOIN root r ON r.id = f.root_id")}
    assert root_ids == {"two"}
    assert len(hashed) <= 40  # a move across roots may land in two batches: then hashed


@pytest.mark.slow
def test_a_burst_of_5000_files_is_absorbed_in_batches(
    tmp_path: Path, roots: list[RootConfig]
) -> None:
    watched = Watched(tmp_path, roots, workers=2)
    try:
        _burst(watched, roots)
    finally:
        watched.close()


def _burst(watched: Watched, roots: list[RootConfig]) -> None:
    blobs = [png_bytes(i, (16, 16)) for i in range(5000)]
    burst = roots[0].path / "burst"
    burst.mkdir()
    started = time.monotonic()
    for i, blob in enumerate(blobs):
        (burst / f"{i:05d}.png").write_bytes(blob)
    wait_for(lambda: watched.count("state = 'ok'") == 5000, timeout=300, what="5000 files")
    elapsed = time.monotonic() - started
    wait_for(lambda: watched.total("added") == 5000, what="the last batch's report")
    assert watched.total("changed") == 0  # none was caught half-written
    assert watched.watcher.batches < 200, watched.watcher.batches  # not one per event
    print(f"5000 files absorbed in {elapsed:.1f}s, {watched.watcher.batches} batches")


@pytest.mark.slow
def test_a_missing_root_goes_offline_and_comes_back_without_reindexing(
    watched: Watched, roots: list[RootConfig], tmp_path: Path
) -> None:
    for i in range(5):
        (roots[0].path / f"{i}.png").write_bytes(png_bytes(300 + i))
    wait_for(lambda: watched.count("state = 'ok'") == 5, what="the files")
    images = watched.total("new_images")
    away = tmp_path / "unmounted"
    roots[0].path.rename(away)
    wait_for(lambda: watched.count("state = 'offline'") == 5, what="offline files")
    assert ("one", "offline", f"{roots[0].path} is missing") in watched.modes
    away.rename(roots[0].path)
    wait_for(lambda: watched.count("state = 'ok'") == 5, timeout=90, what="files back online")
    assert watched.watcher.modes["one"] == "watching"
    assert watched.total("new_images") == images
    (roots[0].path / "new.png").write_bytes(png_bytes(400))  # watched again
    wait_for(lambda: watched.state(roots[0].path / "new.png") == "ok", what="a new file")


def test_a_refused_watch_falls_back_to_polling_with_a_clear_warning(
    tmp_path: Path, roots: list[RootConfig], caplog: pytest.LogCaptureFixture
) -> None:
    from watchfiles import watch as real_watch

    calls: list[bool] = []

    def refusing(*paths: Any, **options: Any) -> Any:
        calls.append(options["force_polling"])
        if not options["force_polling"]:
            raise OSError(f"OS file watch limit reached. about {list(paths)}")
        return real_watch(*paths, **options)

    w = Watched(tmp_path, roots[:1], watch=refusing, poll_delay_ms=200)
    try:
        assert calls[:2] == [False, True]
        mode, why = w.watcher.modes["one"], w.modes[-1][2] or ""
        assert mode == "polling" and "fs.inotify.max_user_watches" in why
        assert "cannot be watched and is polled instead" in why
        assert "is polled every 0.2s" in caplog.text
        path = roots[0].path / "polled.png"
        path.write_bytes(png_bytes(5))
        wait_for(lambda: w.state(path) == "ok", what="the polled file")
    finally:
        w.close()


def test_the_real_inotify_limit_falls_back_to_polling(tmp_path: Path) -> None:
    """Linux's watch limit, lowered for real inside a user namespace of our own."""
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        pytest.skip("needs Linux and unshare")
    probe = subprocess.run(["unshare", "-U", "-r", "sh", "-c",
                            "echo 4 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available here: {probe.stderr.decode()}")
    root = tmp_path / "deep"
    for i in range(12):
        (root / f"folder{i}").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import logging, sys, time
        from pathlib import Path
        from pximse.config import RootConfig
        from pximse.library.watch import LibraryWatcher
        from pximse.store.sqlite.catalog import SqliteCatalog
        logging.basicConfig(level=logging.WARNING)
        root = RootConfig(name="deep", path=Path({str(root)!r}))
        catalog = SqliteCatalog({str(tmp_path / "cat.sqlite3")!r})
        modes = []
        w = LibraryWatcher(catalog, [root], thumbnail_dir=Path({str(tmp_path / "t")!r}),
                           on_mode=lambda r, mode, why: modes.append((mode, why)),
                           poll_delay_ms=200, debounce_ms=100)
        w.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(m == "polling" for m, _ in modes):
            time.sleep(0.05)
        print(modes[-1][0] if modes else "none")
        print(modes[-1][1] if modes else "")
        w.stop()
    """)
    done = subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c",
         f"echo 4 > /proc/sys/user/max_inotify_watches && exec {sys.executable} -c \"$0\"",
         script],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    lines = done.stdout.splitlines()
    assert lines and lines[0] == "polling", done.stdout + done.stderr
    assert "fs.inotify.max_user_watches" in lines[1]
    assert "cannot be watched and is polled instead" in lines[1]
    assert "fs.inotify.max_user_watches" in done.stderr


def test_looks_complete_knows_a_cut_off_image(tmp_path: Path) -> None:
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp"),
                     ("BMP", "bmp")):
        out = io.BytesIO()
        Image.new("RGB", (40, 30), (200, 10, 10)).save(out, format=fmt)
        whole, cut = tmp_path / f"whole.{ext}", tmp_path / f"cut.{ext}"
        whole.write_bytes(out.getvalue())
        cut.write_bytes(out.getvalue()[: len(out.getvalue()) * 2 // 3])
        assert looks_complete(str(whole)) is True, fmt
        assert looks_complete(str(cut)) is False, fmt
    (tmp_path / "notes.txt").write_text("hello")
    assert looks_complete(str(tmp_path / "notes.txt")) is None


def test_watch_errors_say_what_to_do() -> None:
    limit = describe_watch_error(OSError("OS file watch limit reached."), "/lib")
    assert "max_user_watches" in limit and "/lib" in limit
    other = describe_watch_error(RuntimeError("boom"), "/lib")
    assert other == "watching /lib failed: RuntimeError: boom"
