"""PxIMSE as a user runs it: real processes, killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from helpers.processes import free_port, pximse, write_library

pytestmark = pytest.mark.slow


def test_serve_scans_on_start_and_answers(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 30)
    config = tmp_path / "config.toml"
    port = free_port()
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
    )
    process = subprocess.Popen(
        pximse("serve", "--no-models", "--config", str(config),
               "--data-dir", str(tmp_path / "data")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()
                if status["scan"].get("last"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert status is not None and status["images"] == 30, status
        assert status["scan"]["last"]["new_images"] == 30
        found = httpx.get(f"http://127.0.0.1:{port}/api/search",
                          params={"q": "userid:0 order:+postid", "limit": 5}).json()
        assert found["total"] == 30 and found["items"][0]["post_id"] == "1000"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode is not None


def test_a_killed_index_resumes_and_the_catalogue_stays_consistent(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 400, size=(400, 300))
    common = ["--config", str(tmp_path / "c.toml"), "--data-dir", str(tmp_path / "data")]
    catalog = tmp_path / "data" / "catalog.sqlite3"
    process = subprocess.Popen(pximse("index", "--no-models", *common, str(library)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        if catalog.exists():
            try:
                with sqlite3.connect(catalog, timeout=1) as conn:
                    written = conn.execute("SELECT count(*) FROM content").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if written >= 50:
                break
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=20)

    resumed = subprocess.run(pximse("index", "--no-models", *common, "--json", str(library)),
                             capture_output=True, text=True, check=True)
    report = json.loads(resumed.stdout)
    assert report["new_images"] + report["unchanged"] + report["linked"] == 400
    assert report["new_images"] <= 400 - min(written, 400) or written == 0

    with sqlite3.connect(catalog) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM content WHERE state = 1").fetchone()[0] == 400
        assert conn.execute("SELECT count(*) FROM file").fetchone()[0] == 400
        orphans = conn.execute(
            "SELECT count(*) FROM file WHERE state = 'ok' AND content_id NOT IN"
            " (SELECT id FROM content)").fetchone()[0]
        assert orphans == 0
    again = json.loads(subprocess.run(pximse("index", "--no-models", *common, "--json",
                                             str(library)),
                                      capture_output=True, text=True, check=True).stdout)
    assert (again["unchanged"], again["new_images"]) == (400, 0)
