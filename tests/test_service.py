"""The resident daemon for real: ``pximse serve`` as a process, with a tiny ONNX
tagger so that there is indexing to pause, to interrupt with ``kill -9``, and
to resume; one daemon per data folder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import draw_picture
from helpers.processes import free_port, pximse, write_library
from helpers.serve import Serve, tagger_rows
from helpers.waiting import wait_for
from helpers.wd14_model import NAME, build_model, make_weights

from pximse.service.lock import DaemonLock, DataFolderLocked, read_lock_info

pytestmark = pytest.mark.slow  # every test here takes seconds


def test_kill_9_mid_indexing_loses_nothing_and_redoes_nothing(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 160, size=(400, 300))
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    port = free_port()
    (tmp_path / "port.json").write_text(str(port))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\n'
        'clip = ""\nbatch_size = 2\n[indexing]\ncpu_share = 0.1\n'
    )
    first = Serve(tmp_path, config)
    try:
        def stage() -> dict[str, Any]:
            return ((first.status() or {}).get("indexing") or {}).get("stages", {}) \
                .get("tagger") or {}

        wait_for(lambda: stage().get("done", 0) >= 4, what="indexing to start")
        assert stage()["total"] == 160 and stage()["state"] == "running"

        # Pause holds the worker between batches; resume goes on.
        assert first.post("/api/indexing/pause") == {"paused": True}
        time.sleep(1.0)  # the batch in hand finishes
        held = len(tagger_rows(first.data))
        time.sleep(1.5)
        assert len(tagger_rows(first.data)) == held
        assert first.status()["indexing"]["paused"] is True  # type: ignore[index]

        # A second daemon on the same data folder refuses, and says why.
        second = subprocess.run(
            pximse("serve", "--config", str(config), "--data-dir", str(first.data),
                   "--port", str(free_port())),
            capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"(pid {first.process.pid}" in second.stderr
        assert "already using the data folder" in second.stderr

        assert first.post("/api/indexing/resume") == {"paused": False}
        wait_for(lambda: len(tagger_rows(first.data)) > held + 2, what="indexing to resume")

        workers = psutil.Process(first.process.pid).children(recursive=True)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(30)
    finally:
        if first.process.poll() is None:
            first.process.kill()
    # The worker finishes its batch and leaves with the daemon.
    psutil.wait_procs(workers, timeout=60)
    assert not [w for w in workers if w.is_running() and w.status() != "zombie"]
    done = tagger_rows(first.data)
    assert 0 < len(done) < 160
    info = json.loads((first.data / "daemon.lock").read_text())
    assert info["pid"] == first.process.pid  # left behind by the crash: stale

    # While it was down: a new file and a deleted one.
    (library / "0_1000_p0.png").unlink()
    draw_picture(5000).save(library / "new_2000_p0.png")

    config.write_text(config.read_text().replace("cpu_share = 0.1", "cpu_share = 1.0"))
    restarted = Serve(tmp_path, config)
    try:
        wait_for(lambda: (restarted.status() or {}).get("indexing", {}).get("stages", {})
                 .get("tagger", {}).get("state") == "idle", what="indexing to finish")
        body = restarted.status()
        assert body is not None
        assert body["files"] == 160 and body["images_online"] == 160
        on_disk = {str(p) for p in library.iterdir()}
        with sqlite3.connect(f"file:{restarted.data / 'catalog.sqlite3'}?mode=ro",
                             uri=True) as conn:
            catalogued = {row[0] for row in conn.execute(
                "SELECT path FROM file WHERE state = 'ok'")}
            deleted = conn.execute(
                "SELECT c.id FROM content c WHERE c.state != 1").fetchall()
        assert catalogued == on_disk
        after = tagger_rows(restarted.data)
        kept = {cid: ns for cid, ns in done.items() if cid not in {row[0] for row in deleted}}
        assert all(after[cid] == ns for cid, ns in kept.items())  # nothing redone
        present = {cid for cid in after} - {row[0] for row in deleted}
        assert len(present) == 160  # and everything on disk is done
        assert body["models"]["last"]["images"] == 160 - len(kept)  # only what was left
        log = (tmp_path / "logs" / "daemon.log").read_text(errors="replace") \
            if (tmp_path / "logs" / "daemon.log").exists() else ""
        assert "did not shut down cleanly" in log + (tmp_path / "serve.log").read_text()

        restarted.process.send_signal(signal.SIGTERM)
        assert restarted.process.wait(60) is not None
    finally:
        if restarted.process.poll() is None:
            restarted.process.kill()
    assert read_lock_info(restarted.data) is None
    assert (restarted.data / "daemon.lock").read_text() == ""  # a clean stop empties it


def test_the_lock_refuses_a_second_holder_and_takes_over_a_stale_one(tmp_path: Path) -> None:
    stale = tmp_path / "daemon.lock"
    stale.write_text(json.dumps({"pid": 999999, "url": "http://127.0.0.1:1/"}))
    with DaemonLock(tmp_path, url="http://127.0.0.1:8741/") as lock:
        assert lock.stale is not None and lock.stale["pid"] == 999999
        info = read_lock_info(tmp_path)
        assert info is not None and info["pid"] == os.getpid()
        with pytest.raises(DataFolderLocked) as refused:
            DaemonLock(tmp_path).acquire()
        assert "http://127.0.0.1:8741/" in str(refused.value)
        assert str(tmp_path) in str(refused.value)
    assert read_lock_info(tmp_path) is None
    with DaemonLock(tmp_path) as again:
        assert again.stale is None  # the clean release left nothing behind
