"""`pximse tray` where the icon cannot be shown: a clear message, a non-zero
exit, never a hang -- and no daemon started for nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import require_programs
from helpers.tray_harness import free_port, start_trayer, start_xvfb, stop, tray_env

from pximse.tray.display import NoDisplay, NoTrayHost, check_display, wait_for_tray_host

# Not imported here: pystray connects to the display when imported.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pystray") is None,
                                reason="pystray is in the test extra")


def run_tray(env: dict[str, str], home: Path, *args: str,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    config = home / "config.toml"
    config.write_text(f"[server]\nport = {free_port()}\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pximse", "tray", "--config", str(config),
         "--data-dir", str(home / "data"), *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_without_a_display_it_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_tray(tray_env(None, tmp_path), tmp_path)
    assert done.returncode == 1
    assert "no graphical display: DISPLAY is not set" in done.stderr
    assert "pximse serve" in done.stderr  # what to do instead
    assert time.monotonic() - started < 30
    assert not (tmp_path / "data").exists()  # no daemon was started


def test_a_display_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    done = run_tray(tray_env(":987", tmp_path), tmp_path)
    assert done.returncode == 1
    assert "cannot open the X display ':987'" in done.stderr


def test_a_display_without_a_system_tray_fails_after_the_grace_period(tmp_path: Path) -> None:
    xvfb, display = start_xvfb()  # an X server of its own: no tray host on it
    try:
        started = time.monotonic()
        done = run_tray(tray_env(display, tmp_path), tmp_path, "--tray-timeout", "1")
        elapsed = time.monotonic() - started
    finally:
        stop(xvfb)
    assert done.returncode == 1, done.stderr
    assert f"no system tray on the display '{display}' (waited 1 s)" in done.stderr
    assert "trayer" in done.stderr and "pximse serve" in done.stderr
    assert elapsed < 45
    assert not (tmp_path / "data").exists()
    # At login nobody sees stderr: the reason is in the log file too.
    assert "no system tray" in (tmp_path / "logs" / "tray.log").read_text(encoding="utf-8")


def test_the_checks_themselves() -> None:
    with pytest.raises(NoDisplay, match="DISPLAY is not set"):
        check_display(env={}, platform="linux")
    check_display(env={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux")  # the D-Bus tray
    check_display(env={}, platform="win32")
    xvfb, display = start_xvfb()
    try:
        check_display(env={"DISPLAY": display}, platform="linux")
        started = time.monotonic()
        with pytest.raises(NoTrayHost, match="no system tray"):
            wait_for_tray_host(0.3, env={"DISPLAY": display})
        assert time.monotonic() - started < 10
        # A tray that appears during the grace period (a panel starting after
        # the icon at login) is waited for.
        require_programs("trayer", package="trayer")  # here: the timer's thread cannot skip
        trayers: list[subprocess.Popen[bytes]] = []
        later = threading.Timer(0.5, lambda: trayers.append(start_trayer(display)))
        later.start()
        try:
            wait_for_tray_host(60, env={"DISPLAY": display})
            later.join()
            assert trayers and trayers[0].poll() is None
        finally:
            later.join()
            for trayer in trayers:
                stop(trayer)
    finally:
        stop(xvfb)
