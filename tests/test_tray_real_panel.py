"""`pximse tray` in a real desktop panel: XFCE's (xfce4-panel, whose status
tray hosts StatusNotifierItems and docks XEmbed icons too), on Xvfb with a
private session bus. What a user sees is checked on the screen: the icon's
colours in the panel, its menu opened with a right click and used with the
keyboard (libdbusmenu draws it from the tray's dbusmenu), a left click that
opens the search page.

Debian's xfce4-panel (`make system-deps`); skipped where it is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("jeepney", reason="jeepney is in the tray extra")
pytest.importorskip("dbus_fast", reason="dbus-fast is in the test extra (the test's panel)")

from helpers.status_notifier_harness import WATCHER, bus_client, private_session_bus  # noqa: E402
from helpers.tray_harness import Daemon, running_daemon, start_xvfb, stop, wait_until  # noqa: E402

from pximse.tray.icon_image import COLOURS  # noqa: E402

pytestmark = [pytest.mark.slow, *[
    pytest.mark.skipif(shutil.which("xfce4-panel") is None,
                       reason="xfce4-panel is not installed (make system-deps installs it)"),
    pytest.mark.skipif(importlib.util.find_spec("pystray") is None,
                       reason="pystray is in the test extra"),
    pytest.mark.slow,
]]

PANEL_HEIGHT = 40
"""The top of the screen, where xfce4-panel's default panel lies."""


def colour_in_panel(display: str, colour: tuple[int, int, int]) -> tuple[int, int] | None:
    """The middle of the pixels of ``colour`` in the panel, or None."""
    import Xlib.display
    import Xlib.X

    connection = Xlib.display.Display(display)
    try:
        root = connection.screen().root
        width = root.get_geometry().width
        data = root.get_image(0, 0, width, PANEL_HEIGHT, Xlib.X.ZPixmap, 0xFFFFFFFF).data
    finally:
        connection.close()
    blue, green, red = colour[2], colour[1], colour[0]
    points = [(offset // 4 % width, offset // 4 // width) for offset in range(0, len(data), 4)
              if data[offset] == blue and data[offset + 1] == green
              and data[offset + 2] == red]
    if len(points) < 50:  # the icon, not a stray pixel of the same colour
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return (min(xs) + max(xs)) // 2, (min(ys) + max(ys)) // 2


def click(display: str, x: int, y: int, button: int) -> None:
    """A mouse click where the user would make it (XTest)."""
    import Xlib.display
    import Xlib.X
    from Xlib.ext import xtest

    connection = Xlib.display.Display(display)
    try:
        xtest.fake_input(connection, Xlib.X.MotionNotify, x=x, y=y)
        connection.sync()
        time.sleep(0.3)
        xtest.fake_input(connection, Xlib.X.ButtonPress, button)
        connection.sync()
        time.sleep(0.1)
        xtest.fake_input(connection, Xlib.X.ButtonRelease, button)
        connection.sync()
    finally:
        connection.close()


def press(display: str, *keys: str) -> None:
    import Xlib.display
    import Xlib.X
    from Xlib import XK
    from Xlib.ext import xtest

    connection = Xlib.display.Display(display)
    try:
        for key in keys:
            code = connection.keysym_to_keycode(XK.string_to_keysym(key))
            xtest.fake_input(connection, Xlib.X.KeyPress, code)
            connection.sync()
            time.sleep(0.1)
            xtest.fake_input(connection, Xlib.X.KeyRelease, code)
            connection.sync()
            time.sleep(0.2)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("daemon"), "--no-scan", "--no-models") as run:
        yield run


def test_the_icon_and_its_menu_in_xfces_panel(daemon: Daemon, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    xvfb, display = start_xvfb()
    try:
        with private_session_bus() as bus, bus_client(bus.address) as client:
            env = {key: value for key, value in os.environ.items()
                   if key not in ("PYSTRAY_BACKEND", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")}
            env.update(DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=bus.address,
                       HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"),
                       PXIMSE_LOG_DIR=str(tmp_path / "logs"), BROWSER=str(browser))
            panel = subprocess.Popen(["xfce4-panel", "--disable-wm-check"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tray: subprocess.Popen[Any] | None = None
            try:
                assert wait_until(lambda: client.name_has_owner(WATCHER), 60)
                tray = subprocess.Popen(
                    [sys.executable, "-m", "pximse", "tray", "--no-start", "--config",
                     str(daemon.config), "--data-dir", str(daemon.data_dir)],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # XFCE's panel offers both trays: the item is chosen, and drawn.
                assert wait_until(lambda: colour_in_panel(display, COLOURS["idle"]), 120)
                log = (tmp_path / "logs" / "tray.log").read_text(encoding="utf-8")
                assert "showing the icon through StatusNotifierItem" in log
                where = colour_in_panel(display, COLOURS["idle"])
                assert where is not None
                x, y = where

                # The menu, as the panel draws it: a right click, then the second
                # item (Pause indexing) with the keyboard.
                for _ in range(3):  # a loaded machine may draw the menu after the keys came
                    click(display, x, y, 3)
                    time.sleep(2.0)
                    press(display, "Down", "Down", "Return")
                    if wait_until(lambda: daemon.status()["indexing"]["paused"], 30):
                        break
                    press(display, "Escape")
                assert daemon.status()["indexing"]["paused"]
                # The panel redraws the icon grey.
                assert wait_until(lambda: colour_in_panel(display, COLOURS["paused"]), 90)
                assert colour_in_panel(display, COLOURS["idle"]) is None

                # Resumed elsewhere (the web page): the icon follows.
                httpx.post(f"{daemon.url}/api/indexing/resume", timeout=10).raise_for_status()
                assert wait_until(lambda: colour_in_panel(display, COLOURS["idle"]), 90)

                # A left click opens the search page.
                click(display, x, y, 1)
                assert wait_until(lambda: opened.exists()
                                  and opened.read_text().strip() == f"{daemon.url}/", 90)

                # Quit (a logout): the icon leaves the panel.
                tray.send_signal(signal.SIGTERM)
                assert tray.wait(90) == 0
                assert wait_until(lambda: colour_in_panel(display, COLOURS["idle"]) is None, 90)
            finally:
                if tray is not None:
                    stop(tray)
                stop(panel)
    finally:
        stop(xvfb)
