"""``pximse status`` and ``pximse status --follow`` against a running daemon."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import draw_picture
from helpers.processes import free_port, pximse, write_library

pytestmark = pytest.mark.slow  # every test here takes seconds


def read_json_lines(stream: object, until: str, timeout: float = 60) -> list[dict]:
    """Events from a follower's stdout until one of kind ``until`` arrives."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    fd = stream.fileno()  # type: ignore[attr-defined]
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            got.append(json.loads(line))
            if got[-1]["kind"] == until:
                return got
    raise AssertionError(f"no {until} event in {got}")


def test_status_and_follow_show_the_running_daemon(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 3)
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[[library.roots]]\nname = "lib"\npath = "{library}"\n'
                      f'[server]\nport = {port}\n[watch]\ndebounce_ms = 100\n')
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    env = {**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs")}

    gone = subprocess.run(pximse("status", "--follow", *common), capture_output=True,
                          text=True, env=env, timeout=60)
    assert gone.returncode == 1 and "no PxIMSE daemon is running" in gone.stderr

    daemon = subprocess.Popen(pximse("serve", "--no-models", *common), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    followers: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()
                if body["watch"]["roots"].get("lib") == "watching" and body["images"] == 3:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        plain = subprocess.run(pximse("status", *common), capture_output=True, text=True,
                               env=env, timeout=60)
        assert "3 images" in plain.stdout and "lib: watching" in plain.stdout, plain.stdout

        as_json = subprocess.Popen(pximse("status", "--follow", "--json", *common), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        live = subprocess.Popen(pximse("status", "--follow", *common), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        followers += [as_json, live]
        first = read_json_lines(as_json.stdout, "status")
        assert first[0]["data"]["images"] == 3
        time.sleep(1.0)  # the live follower is connected too
        draw_picture(7).save(library / "arrived.png")
        events = read_json_lines(as_json.stdout, "files")
        assert events[-1]["data"]["added"] == 1
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        out, _ = live.communicate(timeout=60)
        text = out.decode(errors="replace")
        assert "files: 1 added" in text and "the daemon stopped" in text, text
        assert live.returncode == 0
        as_json.wait(60)
    finally:
        for process in [daemon, *followers]:
            if process.poll() is None:
                process.kill()
