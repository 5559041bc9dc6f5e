"""`pximse tray` as a user runs it, on Xvfb with trayer as the system tray:
it starts the daemon when none runs and stops it on quit, leaves alone a
daemon it attached to, and says why when the daemon cannot be used."""

from __future__ import annotations

import http.server
import importlib.util
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tray_harness import (
    desktop_with_tray,
    docked_icon,
    free_port,
    start_daemon,
    stop,
    tray_env,
    wait_until,
    write_daemon_config,
)

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pystray") is None,
                       reason="pystray is in the test extra"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def system_tray() -> Iterator[str]:
    """The display (Xvfb, with trayer as its system tray) the trays run on."""
    with desktop_with_tray() as display:
        yield display


def start_tray(display: str, home: Path, config: Path, data_dir: Path,
               *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pximse", "tray", "--config", str(config), "--data-dir",
         str(data_dir), *args],
        env=tray_env(display, home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )


def answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/api/status", timeout=5)
        return True
    except httpx.HTTPError:
        return False


def test_the_tray_starts_a_daemon_and_quitting_stops_it(system_tray: str,
                                                        tmp_path: Path) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, port, images=2)
    url = f"http://127.0.0.1:{port}"
    tray = start_tray(system_tray, tmp_path, config, tmp_path / "data")
    try:
        assert wait_until(lambda: answers(url), 120), tray.stderr
        assert wait_until(lambda: (docked_icon(system_tray) or "").startswith("PxIMSE"), 60)
        [child] = [c for c in psutil.Process(tray.pid).children() if "serve" in c.cmdline()]
        assert str(tmp_path / "data") in child.cmdline()  # the tray's data folder
        # The daemon it started scans the library on its own.
        assert wait_until(lambda: httpx.get(f"{url}/api/status").json()["images"] == 2, 60)

        tray.send_signal(signal.SIGTERM)  # a logout; the menu's Quit does the same
        assert tray.wait(60) == 0
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert not answers(url)
        assert wait_until(lambda: docked_icon(system_tray) is None, 30)
        log = (tmp_path / "logs" / "tray.log").read_text(encoding="utf-8")
        assert "stopping the daemon the tray started" in log
    finally:
        stop(tray)


def test_the_tray_attaches_to_a_running_daemon_and_leaves_it_running(
    system_tray: str, tmp_path: Path
) -> None:
    daemon = start_daemon(tmp_path / "daemon", "--no-models")
    tray = start_tray(system_tray, tmp_path, daemon.config, daemon.data_dir, "--no-start")
    try:
        assert wait_until(lambda: (docked_icon(system_tray) or "").startswith("PxIMSE"), 60), \
            tray.stderr
        assert not psutil.Process(tray.pid).children()
        tray.send_signal(signal.SIGINT)
        assert tray.wait(60) == 0
        assert daemon.status()["version"]  # still there
        assert "attached to the daemon" in (tmp_path / "logs" / "tray.log").read_text()
    finally:
        stop(tray)
        stop(daemon.process)


def test_no_start_without_a_daemon_is_an_error(system_tray: str, tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path, free_port(), images=0)
    tray = start_tray(system_tray, tmp_path, config, tmp_path / "data", "--no-start")
    _, err = tray.communicate(timeout=60)
    assert tray.returncode == 1
    assert "no PxIMSE daemon answers" in err and "--no-start" in err


def test_a_daemon_that_wants_a_token_the_tray_lacks(system_tray: str, tmp_path: Path) -> None:
    port = free_port()
    daemon_config = write_daemon_config(tmp_path / "d", port, images=0,
                                        extra='token = "s3cret"\n')
    daemon = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--no-scan", "--no-models", "--config",
         str(daemon_config), "--data-dir", str(tmp_path / "d" / "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: answers(f"http://127.0.0.1:{port}"), 120)
        tray_config = write_daemon_config(tmp_path / "t", port, images=0)
        tray = start_tray(system_tray, tmp_path, tray_config, tmp_path / "t" / "data")
        _, err = tray.communicate(timeout=60)
        assert tray.returncode == 1
        assert "wants an API token" in err and "server.token" in err
        # With the token, the tray gets in.
        good = start_tray(system_tray, tmp_path, daemon_config, tmp_path / "d" / "data")
        try:
            assert wait_until(lambda: (docked_icon(system_tray) or "").startswith("PxIMSE: "),
                              60), good.communicate(timeout=5) if good.poll() is not None else ''
            assert "idle" in (docked_icon(system_tray) or "") or "index" in (
                docked_icon(system_tray) or "")
        finally:
            good.send_signal(signal.SIGTERM)
            assert good.wait(60) == 0
        assert answers(f"http://127.0.0.1:{port}")  # attached: left running
    finally:
        stop(daemon)


class NotPximse(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = b"<html>some other program</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_another_program_on_the_port_is_named(system_tray: str, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotPximse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = write_daemon_config(tmp_path, server.server_address[1], images=0)
        tray = start_tray(system_tray, tmp_path, config, tmp_path / "data")
        _, err = tray.communicate(timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert tray.returncode == 1
    assert "is another program using PxIMSE's port?" in err
    assert not (tmp_path / "data").exists()  # no daemon was started


def test_a_daemon_that_exits_at_start_is_explained(system_tray: str, tmp_path: Path) -> None:
    # A daemon already uses the data folder, on another port: the one the tray
    # starts on its own port refuses to share the folder, and the tray says why.
    running = start_daemon(tmp_path / "first", "--no-scan", "--no-models")
    try:
        config = write_daemon_config(tmp_path / "second", free_port(), images=0)
        tray = start_tray(system_tray, tmp_path, config, running.data_dir)
        _, err = tray.communicate(timeout=120)
    finally:
        stop(running.process)
    assert tray.returncode == 1
    assert "the daemon exited at start with status 1: " in err
    assert "is already using the data folder" in err  # the daemon's own words
