"""The tray icon for real: pystray's X backend docked in a real system tray
(trayer on Xvfb), attached to a real daemon. The menu is driven through
pystray's own menu items (what a click on them calls), and every action is
checked on the daemon's side, through its HTTP API.

Only the desktop's launchers are stand-ins: `$BROWSER` and `xdg-open` are
scripts that write down what they were asked to open.
"""

from __future__ import annotations

import gc
import http.server
import importlib.util
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import require_tk
from helpers.tray_harness import (
    Daemon,
    docked_icon,
    start_daemon,
    stop,
    wait_until,
    window_titled,
)

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pystray") is None,
                       reason="pystray is in the test extra"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A display with a system tray; pystray imported for its X backend; the
    browser and xdg-open replaced by scripts that record their arguments."""
    from helpers.tray_harness import start_trayer, start_xvfb

    folder = tmp_path_factory.mktemp("desktop")
    xvfb, display = start_xvfb()
    trayer = start_trayer(display)
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    opened = folder / "opened.txt"
    for name in ("xdg-open", "browser"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $1" >> "{opened}"\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    saved = {key: os.environ.get(key) for key in ("DISPLAY", "PYSTRAY_BACKEND", "BROWSER",
                                                  "PATH")}
    os.environ.update(DISPLAY=display, PYSTRAY_BACKEND="xorg", BROWSER=str(bin_dir / "browser"),
                      PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        yield {"display": display, "opened": opened, "folder": folder}
    finally:
        gc.collect()  # pystray's icons close their display connections while X is up
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop(trayer)
        stop(xvfb)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """`pximse serve` without the start-up scan (so a rescan is what finds the
    library's three pictures) and without the model stages (no weights here)."""
    running = start_daemon(tmp_path_factory.mktemp("daemon"), "--no-scan", "--no-models")
    try:
        yield running
    finally:
        stop(running.process)


def make_app(daemon_url: str, folder: Path, token: str | None = None) -> Any:
    from pximse.tray.app import TrayApp
    from pximse.tray.client import DaemonClient
    from pximse.tray.daemon_process import DaemonHandle

    config = folder / "config-for-the-tray.toml"
    config.write_text("# the tray's config\n", encoding="utf-8")
    return TrayApp(DaemonHandle(DaemonClient(daemon_url, token)), config_path=config,
                   daemon_log=folder / "daemon.log", poll_interval_s=0.5)


def opened_lines(desktop: dict[str, Any]) -> list[str]:
    path: Path = desktop["opened"]
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_the_icon_docks_and_its_menu_reaches_the_daemon(desktop: dict[str, Any],
                                                          daemon: Daemon) -> None:
    require_tk()  # the status window
    from pximse.tray.icon_image import COLOURS

    display = desktop["display"]
    app = make_app(daemon.url, desktop["folder"])
    runner = threading.Thread(target=app.run, name="tray", daemon=True)
    runner.start()
    try:
        # Docked in the system tray, showing the daemon's state in its title.
        assert wait_until(lambda: (docked_icon(display) or "").startswith("PxIMSE: idle"), 120), \
            docked_icon(display)
        assert app.state.kind == "idle"

        # A change made elsewhere (the web page, another client) reaches the icon
        # through the daemon's event stream.
        httpx.post(f"{daemon.url}/api/indexing/pause", timeout=10).raise_for_status()
        assert app.wait_for(lambda state: state.paused, 20), app.state
        httpx.post(f"{daemon.url}/api/indexing/resume", timeout=10).raise_for_status()
        assert app.wait_for(lambda state: not state.paused, 20), app.state

        # Pause: the daemon is paused, the icon turns grey, the item says Resume.
        app.menu_item("Pause indexing")(app.icon)
        assert daemon.status()["indexing"]["paused"] is True
        assert app.state.kind == "paused"
        assert app.icon.icon.getpixel((4, 30))[:3] == COLOURS["paused"]
        assert app.menu_item("Resume indexing").text == "Resume indexing"
        assert wait_until(lambda: "indexing paused" in (docked_icon(display) or ""), 30)

        # Resume.
        app.menu_item("Resume indexing")(app.icon)
        assert daemon.status()["indexing"]["paused"] is False
        assert app.state.kind != "paused"
        assert app.menu_item("Pause indexing")

        # Rescan: the daemon walks the library and finds its three pictures.
        assert daemon.status()["images"] == 0
        app.menu_item("Rescan now")(app.icon)
        assert wait_until(lambda: daemon.status()["images"] == 3, 60)
        assert app.wait_for(lambda state: "3 images" in state.title, 30), app.state

        # The search page, the log and the configuration open in the desktop's apps.
        app.menu_item("Open search page")(app.icon)
        (desktop["folder"] / "daemon.log").write_text("a log line\n")
        app.menu_item("Open log file")(app.icon)
        app.menu_item("Open config")(app.icon)
        expected = [f"browser {daemon.url}/", f"xdg-open {desktop['folder'] / 'daemon.log'}",
                    f"xdg-open {desktop['folder'] / 'config-for-the-tray.toml'}"]
        assert wait_until(lambda: sorted(opened_lines(desktop)) == sorted(expected), 30), \
            opened_lines(desktop)

        # Show status: the status window opens, and follows the daemon. The X
        # backend has no menus: a click on the icon (pystray calls the icon, which
        # runs the default item) opens the window, whose buttons are the menu.
        [default] = [item for item in app.icon.menu.items if item.default]
        assert default.text == "Show status"
        app.icon()  # what a click does
        assert wait_until(lambda: window_titled(display, "PxIMSE status"), 30)
        assert app.window.is_open

        # Quit: the icon goes, the window closes, the daemon it attached to stays.
        app.menu_item("Quit")(app.icon)
        runner.join(30)
        assert not runner.is_alive() and app.stopped.is_set()
        assert wait_until(lambda: not window_titled(display, "PxIMSE status"), 30)
        assert wait_until(lambda: docked_icon(display) is None, 30)
        assert daemon.status()["images"] == 3
    finally:
        app.quit()
        runner.join(10)


def test_the_status_window_buttons_send_the_actions(desktop: dict[str, Any]) -> None:
    require_tk()
    import tkinter

    from pximse.tray.status_window import StatusWindow

    sent: list[str] = []
    root = tkinter.Tk()
    try:
        window = StatusWindow(root, sent.append)
        window.show({"lines": ["Idle · 3 images", "3 images (0 offline)"], "paused": False,
                     "message": "Rescan now: the daemon answered 500"})
        root.update()
        assert window.text.cget("text") == "Idle · 3 images\n3 images (0 offline)"
        assert window.message.cget("text") == "Rescan now: the daemon answered 500"
        window.buttons["pause"].invoke()
        window.show({"lines": [], "paused": True})
        assert window.buttons["pause"].cget("text") == "Resume indexing"
        window.buttons["pause"].invoke()
        for action in ("rescan", "open_page", "open_log", "open_config", "quit"):
            window.buttons[action].invoke()
        assert sent == ["pause", "resume", "rescan", "open_page", "open_log", "open_config",
                        "quit"]
    finally:
        root.destroy()


def test_an_action_from_the_status_window_reaches_the_daemon(desktop: dict[str, Any],
                                                             daemon: Daemon) -> None:
    app = make_app(daemon.url, desktop["folder"])
    try:
        app.refresh()
        app.perform("pause")  # what the window's button sends
        assert daemon.status()["indexing"]["paused"] is True
        app.perform("toggle_pause")
        assert daemon.status()["indexing"]["paused"] is False
    finally:
        app.quit()


class OlderDaemon(http.server.BaseHTTPRequestHandler):
    """A daemon from before the live status API: a status, and 404 for the rest."""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path == "/api/status":
            self._answer(200, {"images": 7, "scan": {"running": False}})
        else:
            self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802
        self._answer(404, {"detail": "Not Found"})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_refusal_is_reported_with_the_daemons_answer(desktop: dict[str, Any]) -> None:
    require_tk()  # the status window
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OlderDaemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = make_app(f"http://127.0.0.1:{server.server_address[1]}", desktop["folder"])
    try:
        app.refresh()
        assert app.state.kind == "idle" and "7 images" in app.state.title
        app.menu_item("Pause indexing")(app.icon)
        assert app.last_message.startswith(
            "Pause indexing: the daemon does not offer POST /api/indexing/pause "
            "(it answered 404 Not Found: Not Found)")
        # Where the platform has no notifications, the status window says it.
        assert wait_until(lambda: window_titled(desktop["display"], "PxIMSE status"), 30)
        app.menu_item("Rescan now")(app.icon)
        assert "POST /api/scan" in app.last_message and "404" in app.last_message
    finally:
        app.quit()
        server.shutdown()
        server.server_close()
    assert wait_until(lambda: not window_titled(desktop["display"], "PxIMSE status"), 30)


def test_an_unreachable_daemon_turns_the_icon_red(desktop: dict[str, Any]) -> None:
    from helpers.tray_harness import free_port

    from pximse.tray.icon_image import COLOURS

    app = make_app(f"http://127.0.0.1:{free_port()}", desktop["folder"])
    try:
        app.refresh()
        assert app.state.kind == "error" and not app.state.reachable
        assert "no PxIMSE daemon answers" in app.state.title
        assert app.icon.icon.getpixel((4, 30))[:3] == COLOURS["error"]
        app.menu_item("Rescan now")(app.icon)
        assert app.last_message.startswith("Rescan now: no PxIMSE daemon answers")
    finally:
        app.quit()


def test_a_started_daemon_that_dies_turns_the_icon_red_and_says_so(
    desktop: dict[str, Any], tmp_path: Path
) -> None:
    from helpers.tray_harness import free_port, write_daemon_config

    from pximse.tray.app import TrayApp
    from pximse.tray.client import DaemonClient
    from pximse.tray.daemon_process import attach_or_start, serve_command

    port = free_port()
    config = write_daemon_config(tmp_path, port, images=0)
    client = DaemonClient(f"http://127.0.0.1:{port}")
    handle = attach_or_start(client, [*serve_command(config, tmp_path / "data"), "--no-models"])
    assert handle.started
    app = TrayApp(handle, config_path=config, daemon_log=tmp_path / "daemon.log")
    try:
        app.refresh()
        assert app.state.kind == "idle"
        assert app.menu_item("Quit").text == "Quit (stops the daemon)"
        assert handle.process is not None
        handle.process.kill()
        handle.process.wait(30)
        app.refresh()
        assert app.state.kind == "error"
        assert app.state.title.startswith("PxIMSE: the daemon stopped (exit status -9)")
    finally:
        app.quit()
        handle.stop()


@pytest.mark.parametrize("quit_after_s", [None, 0.0, 0.02, 0.2, 1.0],
                         ids=["before-run", "at-once", "20ms", "200ms", "1s"])
def test_a_quit_while_the_icon_starts_ends_the_tray(desktop: dict[str, Any],
                                                     quit_after_s: float | None) -> None:
    # A SIGTERM or Quit can come at any moment of the start-up: before the
    # icon's loop runs, while it starts, or once it shows. Each ends the loop
    # (or never starts it) and leaves no icon in the tray.
    from helpers.tray_harness import free_port

    app = make_app(f"http://127.0.0.1:{free_port()}", desktop["folder"])
    ended: list[bool] = []
    if quit_after_s is None:
        app.quit()
    runner = threading.Thread(target=lambda: ended.append(app.run()), name="tray", daemon=True)
    runner.start()
    if quit_after_s is not None:
        time.sleep(quit_after_s)
        app.quit()
    runner.join(30)
    assert not runner.is_alive()
    time.sleep(1.0)  # an icon shown by a loop that missed the Quit would dock by now
    assert wait_until(lambda: docked_icon(desktop["display"]) is None, 10)
    # The loop ended: nothing keeps the process from exiting (pystray's icon,
    # collected at exit, would wait for a loop still running forever).
    assert not [thread for thread in threading.enumerate() if thread.name == "icon"]
    assert ended == [True]


@pytest.mark.slow
def test_an_icon_shown_before_the_tray_starts_docks_once_it_does(
    desktop: dict[str, Any], tmp_path: Path
) -> None:
    # A panel that starts after the icon (or misses its first dock request):
    # the icon asks again until the tray takes it.
    from helpers.tray_harness import free_port, start_trayer, start_xvfb

    xvfb, display = start_xvfb()
    os.environ["DISPLAY"] = display
    trayer = None
    try:
        app = make_app(f"http://127.0.0.1:{free_port()}", tmp_path)
        runner = threading.Thread(target=app.run, name="tray", daemon=True)
        runner.start()
        try:
            time.sleep(2.0)
            assert docked_icon(display) is None  # no tray yet
            trayer = start_trayer(display)
            assert wait_until(lambda: docked_icon(display), 30)
        finally:
            app.quit()
            runner.join(30)
        assert not runner.is_alive()
    finally:
        os.environ["DISPLAY"] = desktop["display"]
        if trayer is not None:
            stop(trayer)
        gc.collect()
        stop(xvfb)
