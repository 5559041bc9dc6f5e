"""`pximse tray` as a user runs it, choosing how to show the icon: through
StatusNotifierItem where the session's bus has a watcher with a host (even
when an X system tray is there too), through the X system tray (XEmbed)
where there is no watcher, and an error that says what to install where
there is neither. Each choice is written to tray.log with its reason.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytest.importorskip("jeepney", reason="jeepney is in the tray extra")
pytest.importorskip("dbus_fast", reason="dbus-fast is in the test extra (the test's panel)")

from helpers.status_notifier_harness import (  # noqa: E402
    ITEM,
    BusClient,
    bus_client,
    private_session_bus,
)
from helpers.tray_harness import (  # noqa: E402
    answers,
    desktop_with_tray,
    docked_icon,
    free_port,
    stop,
    tray_env,
    wait_until,
    write_daemon_config,
)

pytestmark = [pytest.mark.slow, *[
    pytest.mark.skipif(importlib.util.find_spec("pystray") is None,
                       reason="pystray is in the test extra"),
    pytest.mark.slow,
]]

NO_MODELS = '\n[models]\ntagger = ""\nocr = ""\nclip = ""\n'


def session_env(display: str | None, home: Path, bus_address: str,
                **extra: str) -> dict[str, str]:
    """A desktop session's environment: its bus, and no backend forced."""
    env = tray_env(display, home, DBUS_SESSION_BUS_ADDRESS=bus_address, **extra)
    env.pop("PYSTRAY_BACKEND")
    return env


def start_tray(env: dict[str, str], home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    config = write_daemon_config(home, port, images=2, extra=NO_MODELS)
    tray = subprocess.Popen(
        [sys.executable, "-m", "pximse", "tray", "--config", str(config), "--data-dir",
         str(home / "data"), *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return tray, f"http://127.0.0.1:{port}"


def tray_log(home: Path) -> str:
    path = home / "logs" / "tray.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def tooltip(panel: BusClient, item: str) -> str:
    return str(panel.properties(item, "/StatusNotifierItem", ITEM)["ToolTip"][2])


def test_a_session_with_a_statusnotifier_panel_gets_the_item_and_its_menu(
    tmp_path: Path
) -> None:
    # The panel offers both, as XFCE's and KDE's do: the item is preferred.
    with desktop_with_tray() as display, private_session_bus("watcher", "host") as bus, \
            bus_client(bus.address) as panel:
        tray, url = start_tray(session_env(display, tmp_path, bus.address), tmp_path)
        try:
            item = f"org.kde.StatusNotifierItem-{tray.pid}-1"
            assert wait_until(lambda: item in panel.registered_items(), 180), tray_log(tmp_path)
            assert ("showing the icon through StatusNotifierItem: the session bus has a "
                    "StatusNotifierWatcher") in tray_log(tmp_path)
            assert docked_icon(display) is None  # not in the X tray as well
            assert wait_until(lambda: answers(url), 120)
            assert wait_until(lambda: tooltip(panel, item).startswith("PxIMSE: idle · 2 images"),
                              60), tooltip(panel, item)

            panel.click(item, "/MenuBar", "Pause indexing")
            assert wait_until(
                lambda: httpx.get(f"{url}/api/status").json()["indexing"]["paused"], 90)
            assert wait_until(lambda: "indexing paused" in tooltip(panel, item), 90)

            # The tray started the daemon: Quit says it stops it, and does.
            panel.click(item, "/MenuBar", "Quit (stops the daemon)")
            assert tray.wait(90) == 0
            assert not answers(url)
            assert wait_until(lambda: item not in panel.registered_items(), 90)
        finally:
            stop(tray)


def test_a_wayland_session_needs_no_x_display(tmp_path: Path) -> None:
    # Sway with waybar: no X at all, the StatusNotifierWatcher is the only tray.
    with private_session_bus("watcher", "host") as bus, bus_client(bus.address) as panel:
        env = session_env(None, tmp_path, bus.address, WAYLAND_DISPLAY="wayland-1")
        tray, url = start_tray(env, tmp_path)
        try:
            item = f"org.kde.StatusNotifierItem-{tray.pid}-1"
            assert wait_until(lambda: item in panel.registered_items(), 180), tray_log(tmp_path)
            assert wait_until(lambda: answers(url), 120)
            tray.send_signal(signal.SIGTERM)  # a logout
            assert tray.wait(90) == 0
            assert not answers(url)
        finally:
            stop(tray)


def test_without_a_statusnotifier_watcher_the_x_tray_is_used(tmp_path: Path) -> None:
    # GNOME on X without the extension has no tray; an X desktop with a
    # classic notification area (trayer here) and no watcher gets XEmbed.
    with desktop_with_tray() as display, private_session_bus() as bus:
        tray, url = start_tray(session_env(display, tmp_path, bus.address), tmp_path)
        try:
            assert wait_until(lambda: (docked_icon(display) or "").startswith("PxIMSE"), 180)
            assert (f"showing the icon through pystray's xorg backend (XEmbed): an X system "
                    f"tray is on '{display}' and the session bus has no StatusNotifierWatcher"
                    ) in tray_log(tmp_path)
            tray.send_signal(signal.SIGTERM)
            assert tray.wait(90) == 0
        finally:
            stop(tray)


def test_a_session_with_no_tray_at_all_says_what_to_install(tmp_path: Path) -> None:
    with private_session_bus() as bus:
        env = session_env(None, tmp_path, bus.address, WAYLAND_DISPLAY="wayland-1")
        tray, _ = start_tray(env, tmp_path, "--tray-timeout", "1")
        try:
            _, err = tray.communicate(timeout=60)
        finally:
            stop(tray)
    assert tray.returncode == 1
    assert "no StatusNotifierWatcher on the D-Bus session bus (waited 1 s)" in err
    assert "AppIndicator extension" in err and "pximse serve" in err
    assert not (tmp_path / "data").exists()  # no daemon was started for nothing
