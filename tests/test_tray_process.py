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
from helpers.tray_harness import (
    answers,
    desktop_with_tray,
    docked_icon,
    free_port,
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


@pytest.mark.slow
def test_the_tray_starts_a_daemon_and_quitting_stops_it(system_tray: str,
                                                        tmp_path: Path) -> None:
    port = free_port()
    # No model stages (no weights here): the daemon scans, and has nothing else to do.
    config = write_daemon_config(tmp_path, port, images=2,
                                 extra='\n[models]\ntagger = ""\nocr = ""\nclip = ""\n')
    url = f"http://127.0.0.1:{port}"
    tray = start_tray(system_tray, tmp_path, config, tmp_path / "data")
    try:
        assert wait_until(lambda: answers(url), 180)
        assert wait_until(lambda: (docked_icon(system_tray) or "").startswith("PxIMSE"), 120)
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


@pytest.fixture(scope="module")
def guarded_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    """A running daemon that wants a token: (its config, its data folder, its URL)."""
    folder = tmp_path_factory.mktemp("guarded")
    port = free_port()
    config = write_daemon_config(folder, port, images=0, extra='token = "s3cret"\n')
    daemon = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--no-scan", "--no-models", "--config",
         str(config), "--data-dir", str(folder / "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: answers(url), 120)
        yield config, folder / "data", url
    finally:
        stop(daemon)


def test_no_start_without_a_daemon_is_an_error(system_tray: str, tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path, free_port(), images=0)
    tray = start_tray(system_tray, tmp_path, config, tmp_path / "data", "--no-start")
    _, err = tray.communicate(timeout=120)
    assert tray.returncode == 1
    assert "no PxIMSE daemon answers" in err and "--no-start" in err


def test_a_daemon_that_wants_a_token_the_tray_lacks(
    system_tray: str, tmp_path: Path, guarded_daemon: tuple[Path, Path, str]
) -> None:
    config, data_dir, url = guarded_daemon
    port = url.rsplit(":", 1)[1]
    tray_config = write_daemon_config(tmp_path / "t", int(port), images=0)
    tray = start_tray(system_tray, tmp_path, tray_config, tmp_path / "t" / "data")
    _, err = tray.communicate(timeout=120)
    assert tray.returncode == 1
    assert "wants an API token" in err and "server.token" in err
    assert not (tmp_path / "t" / "data").exists()  # no daemon was started


def test_the_tray_attaches_to_a_running_daemon_and_leaves_it_running(
    system_tray: str, tmp_path: Path, guarded_daemon: tuple[Path, Path, str]
) -> None:
    config, data_dir, url = guarded_daemon  # the token is in the config: the tray gets in
    tray = start_tray(system_tray, tmp_path, config, data_dir)
    try:
        assert wait_until(lambda: (docked_icon(system_tray) or "").startswith("PxIMSE: idle"),
                          120), docked_icon(system_tray)
        assert not psutil.Process(tray.pid).children()  # it started nothing
        tray.send_signal(signal.SIGINT)  # Ctrl+C
        assert tray.wait(60) == 0
        assert answers(url)  # attached: left running
        assert "attached to the daemon" in (tmp_path / "logs" / "tray.log").read_text()
    finally:
        stop(tray)


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
        _, err = tray.communicate(timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert tray.returncode == 1
    assert "is another program using PxIMSE's port?" in err
    assert not (tmp_path / "data").exists()  # no daemon was started


def test_a_daemon_that_exits_at_start_is_explained(
    system_tray: str, tmp_path: Path, guarded_daemon: tuple[Path, Path, str]
) -> None:
    # A daemon already uses the data folder, on another port: the one the tray
    # starts on its own port refuses to share the folder, and the tray says why.
    _, data_dir, _ = guarded_daemon
    config = write_daemon_config(tmp_path, free_port(), images=0)
    tray = start_tray(system_tray, tmp_path, config, data_dir)
    _, err = tray.communicate(timeout=180)
    assert tray.returncode == 1
    assert "the daemon exited at start with status 1: " in err
    assert "is already using the data folder" in err  # the daemon's own words


@pytest.mark.slow
def test_a_killed_tray_leaves_its_daemon_running_and_the_next_tray_attaches(
    system_tray: str, tmp_path: Path
) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, port, images=1,
                                 extra='\n[models]\ntagger = ""\nocr = ""\nclip = ""\n')
    url = f"http://127.0.0.1:{port}"
    first = start_tray(system_tray, tmp_path, config, tmp_path / "data")
    daemons: list[psutil.Process] = []
    try:
        assert wait_until(lambda: answers(url), 180)
        daemons += [c for c in psutil.Process(first.pid).children() if "serve" in c.cmdline()]
        [daemon] = daemons
        first.kill()
        first.wait(30)
        # The daemon's terminal (the dead tray's pipe) is gone; it keeps working and
        # warning all the same.
        (tmp_path / "library" / "broken.png").write_bytes(b"not an image at all, just text")
        httpx.post(f"{url}/api/scan", timeout=30)
        assert wait_until(lambda: any(
            e["path"].endswith("broken.png")
            for e in httpx.get(f"{url}/api/status", timeout=30).json()["recent_errors"]), 60)
        assert daemon.is_running() and daemon.status() != psutil.STATUS_ZOMBIE

        second = start_tray(system_tray, tmp_path, config, tmp_path / "data")
        try:
            assert wait_until(lambda: "attached to the daemon" in
                              (tmp_path / "logs" / "tray.log").read_text(), 120)
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0
            assert answers(url)  # the second tray did not start it: it leaves it
        finally:
            stop(second)
    finally:
        stop(first)
        for daemon in daemons:  # an orphan now: ended by its pid
            if daemon.is_running():
                daemon.terminate()
                daemon.wait(60)


def test_a_tray_stopped_while_it_starts_the_daemon_leaves_none_behind(
    system_tray: str, tmp_path: Path
) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, port, images=0,
                                 extra='\n[models]\ntagger = ""\nocr = ""\nclip = ""\n')
    tray = start_tray(system_tray, tmp_path, config, tmp_path / "data")
    daemons: list[psutil.Process] = []
    try:
        def starting() -> bool:
            daemons[:] = [c for c in psutil.Process(tray.pid).children()
                          if "serve" in c.cmdline()]
            return bool(daemons)

        assert wait_until(starting, 120)
        tray.send_signal(signal.SIGTERM)  # a logout during the login's start-up
        assert tray.wait(60) == 0
        assert daemons and all(not d.is_running() or d.status() == psutil.STATUS_ZOMBIE
                               for d in daemons)
        assert not answers(f"http://127.0.0.1:{port}")
    finally:
        stop(tray)
        for daemon in daemons:
            if daemon.is_running():
                daemon.terminate()
                daemon.wait(60)
