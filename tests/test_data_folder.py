"""The data folder under pressure: a full disk stops the work with one clear
message and resumes it by itself, the catalogue stays consistent, the
write-ahead log stays bounded while readers hold snapshots, and the files a
killed process leaves behind are cleaned up.

A full disk is a real one: a small tmpfs mounted as the data folder (skipped,
with the reason, where the sandbox does not allow mounting)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Mounts
from helpers.pictures import png_bytes
from helpers.processes import pximse

from pximse.data_folder import MIN_FREE_BYTES, DataFolderProblem, data_folder_problem
from pximse.store.sqlite import database
from pximse.store.sqlite.catalog import FileRecord, ScanBatch, SqliteCatalog

pytestmark = pytest.mark.slow  # every test here takes seconds


def fill(folder: Path, leave: int = 64 << 10) -> Path:
    """Fill the disk under ``folder`` until ``leave`` bytes are free (0: to the brim)."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        chunk = b"\0" * (1 << 16)
        remaining = max(0, free - leave)
        while remaining > 0:
            try:
                remaining -= os.write(fd, chunk[: min(len(chunk), remaining)])
            except OSError:  # full
                break
    finally:
        os.close(fd)
    return filler


# -- the write-ahead log ------------------------------------------------------------


def test_the_wal_stays_bounded_while_readers_hold_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_EVERY_S", 0.2)
    monkeypatch.setattr(database, "WAL_CHECKPOINT_BYTES", 1 << 20)
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    root = catalog.ensure_root("lib", "/lib")
    wal = tmp_path / "catalog.sqlite3-wal"
    stop = threading.Event()

    def reader(offset: float) -> None:
        # Two readers whose snapshots overlap: at every moment one is open, so
        # SQLite's own checkpoints can never start the log over.
        conn = sqlite3.connect(tmp_path / "catalog.sqlite3", isolation_level=None)
        time.sleep(offset)
        while not stop.is_set():
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM file").fetchone()
            time.sleep(0.06)
            conn.execute("COMMIT")
            time.sleep(0.01)
        conn.close()

    threads = [threading.Thread(target=reader, args=(i * 0.035,)) for i in range(2)]
    for thread in threads:
        thread.start()
    largest = 0
    shrinks, last = 0, 0
    try:
        for batch in range(150):
            catalog.apply_scan_batch(ScanBatch(root, files=[
                FileRecord(f"/lib/{batch}/{i:04d}-{'x' * 80}.png", i, i, "skipped", None,
                           "not-image") for i in range(300)]))
            size = wal.stat().st_size
            shrinks += size < last
            largest, last = max(largest, size), size
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    written = catalog.db.reader().execute("SELECT count(*) FROM file").fetchone()[0]
    catalog.close()
    assert written == 150 * 300
    db_size = (tmp_path / "catalog.sqlite3").stat().st_size
    print(f"largest WAL {largest / 1e6:.1f} MB for a {db_size / 1e6:.1f} MB catalogue")
    # Without the checkpoints it only grows, with every batch (15 MB by the end). A
    # checkpoint can wait for a reader on a busy machine, so the bound has room.
    assert shrinks >= 2
    assert largest < 12 << 20


def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    catalog.db._writer.execute("PRAGMA max_page_count = 1")  # any growth: "disk is full"
    pages = catalog.db._writer.execute("PRAGMA page_count").fetchone()[0]
    catalog.db._writer.execute(f"PRAGMA max_page_count = {pages}")
    root = catalog.ensure_root("lib", "/lib")
    with pytest.raises(sqlite3.OperationalError) as failed:
        catalog.apply_scan_batch(ScanBatch(root, files=[
            FileRecord(f"/lib/{i}.png", i, i, "skipped") for i in range(5000)]))
    problem = data_folder_problem(failed.value, tmp_path)
    assert problem is not None and problem.kind == "full"
    assert not catalog.db._writer.in_transaction
    catalog.db._writer.execute("PRAGMA max_page_count = 1073741823")
    catalog.apply_scan_batch(ScanBatch(root, files=[FileRecord("/lib/a.png", 1, 1, "skipped")]))
    assert catalog.status()["files"] == 1
    catalog.close()


def test_data_folder_problems_are_recognised_wherever_raised(tmp_path: Path) -> None:
    full = data_folder_problem(OSError(28, "No space left on device"), tmp_path)
    assert isinstance(full, DataFolderProblem) and full.kind == "full"
    assert str(tmp_path) in full.message and "needs at least 64.0 MB free" in full.message
    assert full.needed_bytes == MIN_FREE_BYTES
    wrapped = RuntimeError("saving failed")
    wrapped.__cause__ = OSError(30, "Read-only file system")
    problem = data_folder_problem(wrapped, tmp_path)
    assert problem is not None and problem.kind == "read-only"
    assert data_folder_problem(ValueError("not an image"), tmp_path) is None
    assert data_folder_problem(sqlite3.OperationalError("no such table: x"), tmp_path) is None


# -- a full disk -----------------------------------------------------------------------


def write_library(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"{i}.png").write_bytes(png_bytes(i, (160, 120)))


def test_pximse_index_on_a_full_disk_says_so_and_resumes_after(
    tmp_path: Path, mounts: Mounts
) -> None:
    data = mounts.tmpfs(tmp_path / "data", size="80m")
    library = tmp_path / "lib"
    write_library(library, 60)
    filler = fill(data)
    env = {**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs")}
    command = pximse("index", "--data-dir", str(data), "--config", str(tmp_path / "c.toml"),
                     "--no-models", str(library))
    failed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert failed.returncode == 1, failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert "Traceback" not in failed.stderr and len(lines) == 1, failed.stderr
    assert f"the disk that holds the data folder {data} is full" in lines[0]
    assert "needs at least 64.0 MB free" in lines[0]

    filler.unlink()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(data / "catalog.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM file WHERE state = 'ok'").fetchone() == (60,)
        assert conn.execute("SELECT count(*) FROM file WHERE state = 'error'").fetchone() == (0,)


def test_the_daemon_waits_on_a_full_disk_and_goes_on_by_itself(
    tmp_path: Path, mounts: Mounts
) -> None:
    from helpers.serve import serve_with_tagger, tagger_rows
    from helpers.waiting import wait_for

    from tray.state import state_from_status

    data = mounts.tmpfs(tmp_path / "data", size="80m")
    library = tmp_path / "lib"
    write_library(library, 20)
    serve = serve_with_tagger(tmp_path, library, batch_size=4, indexing="paused = true")
    try:
        wait_for(lambda: (serve.status() or {}).get("images") == 20, what="the first scan")
        filler = fill(data, leave=0)
        assert serve.post("/api/indexing/resume") == {"paused": False}
        body = wait_for(lambda: (s := serve.status()) and s.get("data_folder") and s,
                        what="the full disk in the status")
        wait_for(lambda: (serve.status() or {}).get("indexing", {}).get("stages", {})
                 .get("tagger", {}).get("state") == "waiting for room",
                 what="the indexer to wait for room")
        for i in range(3):  # the watcher meets the full disk too
            (library / f"new-{i}.png").write_bytes(png_bytes(500 + i, (160, 120)))
        problem = body["data_folder"]
        assert problem["kind"] == "full" and problem["needed_bytes"] == MIN_FREE_BYTES
        assert f"the disk that holds the data folder {data} is full" in problem["message"]
        listed = [e for e in body["recent_errors"] if e["reason"] == "data folder"]
        assert len(listed) == 1 and listed[0]["message"] == problem["message"]
        tray = state_from_status(body)
        assert tray.kind == "error" and "is full" in tray.title
        time.sleep(2.0)
        assert (serve.status() or {}).get("data_folder")  # still waiting, nothing failed

        filler.unlink()  # room again: everything goes on by itself
        wait_for(lambda: len(tagger_rows(data)) == 23 and (serve.status() or {})
                 .get("data_folder") is None, what="the work to resume")
        status = serve.status() or {}
        assert status["files"] == 23 and status["errors"] == 0
        serve.process.send_signal(signal.SIGTERM)
        assert serve.process.wait(60) in (0, -signal.SIGTERM)
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
    with sqlite3.connect(data / "catalog.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM stage WHERE status = 'error'"
                            ).fetchone() == (0,)
