"""One process works on a data folder: ``pximse index`` beside a running daemon
hands the work to it; beside another holder it waits; and it cleans up what a
killed process left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.pictures import png_bytes
from helpers.processes import free_port, pximse, write_library
from helpers.serve import Serve
from helpers.waiting import wait_for

from pximse.service.lock import DaemonLock, DataFolderLocked, read_lock_info

pytestmark = pytest.mark.slow


def test_index_beside_a_daemon_hands_the_work_to_it(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 10)
    port = free_port()
    (tmp_path / "port.json").write_text(str(port))
    config = tmp_path / "config.toml"
    config.write_text(f'[[library.roots]]\nname = "lib"\npath = "{library}"\n'
                      f'[server]\nport = {port}\n[models]\ntagger = ""\nocr = ""\nclip = ""\n'
                      '[watch]\nenabled = false\n')
    serve = Serve(tmp_path, config)
    try:
        wait_for(lambda: (serve.status() or {}).get("images") == 10, what="the first scan")
        (library / "more").mkdir()
        for i in range(25):  # not watched: only a scan finds these
            (library / "more" / f"{i}.png").write_bytes(png_bytes(1000 + i))
        done = subprocess.run(
            pximse("index", "--json", "--config", str(config), "--data-dir", str(serve.data)),
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs")})
        assert done.returncode == 0, done.stderr
        assert f"runs on this data folder at http://127.0.0.1:{port}" in done.stderr
        report = json.loads(done.stdout)
        assert report["new_images"] == 25 and report["unchanged"] == 10
        assert (serve.status() or {})["images"] == 35
        log = (tmp_path / "logs" / "daemon.log").read_text()
        assert "scan (requested) finished" in log  # the daemon did it, once
    finally:
        serve.process.send_signal(signal.SIGTERM)
        serve.process.wait(60)


def test_index_waits_for_another_holder_then_works(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 5)
    data = tmp_path / "data"
    thumbs = data / "thumbnails" / "ab"
    thumbs.mkdir(parents=True)
    leftover = thumbs / f".{'ab' * 32}.webp.x1y2z3.tmp"  # what a kill -9 leaves
    leftover.write_bytes(b"half a thumbnail")
    holder = DaemonLock(data, command="index")
    holder.acquire()
    process = subprocess.Popen(
        pximse("index", "--no-models", "--config", str(tmp_path / "c.toml"),
               "--data-dir", str(data), str(library)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # said at once, then waits
        assert f"pximse index (pid {os.getpid()}) holds the data folder" in first
        time.sleep(1.0)
        assert process.poll() is None  # waiting, not working beside the holder
        assert leftover.exists() and not (data / "catalog.sqlite3").exists()
        holder.release()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "5 new images" in out
    assert not leftover.exists()
    assert read_lock_info(data) is None  # released

    # While an index holds the folder, a daemon is told who holds it.
    with DaemonLock(data, command="index"):
        with pytest.raises(DataFolderLocked) as refused:
            DaemonLock(data, url="http://127.0.0.1:1/").acquire()
    assert "pximse index" in str(refused.value) and "wait for it to finish" in str(refused.value)
