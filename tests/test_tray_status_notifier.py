"""The tray icon as a StatusNotifierItem, as a panel sees it: on a private
session bus with a StatusNotifierWatcher (and a host) of the test's own, the
tray registers its item, and the test reads what a panel reads -- the
item's properties and its dbusmenu layout -- and clicks the menu the way a
panel does (``Event(id, "clicked")``). Every action is checked on the side
of a real daemon (`pximse serve`), through its HTTP API.

The desktop's launchers are stand-ins, as in the X tests: `$BROWSER` and
`xdg-open` are scripts that write down what they were asked to open.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("jeepney", reason="jeepney is in the tray extra")
pytest.importorskip("dbus_fast", reason="dbus-fast is in the test extra (the test's panel)")

from helpers.status_notifier_harness import (  # noqa: E402
    ITEM,
    WATCHER,
    BusClient,
    bus_client,
    pixel,
    private_session_bus,
    serve_notifications,
)
from helpers.tray_harness import Daemon, free_port, running_daemon, wait_until  # noqa: E402

from pximse.tray.icon_image import COLOURS  # noqa: E402

pytestmark = pytest.mark.slow

MENU_LABELS = ["Open search page", "Pause indexing", "Rescan now", "Show status", None,
               "Open log file", "Open config", None, "Quit"]
"""The menu a panel draws (None: a separator)."""


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    """A session bus whose panel hosts StatusNotifierItems."""
    with private_session_bus("watcher", "host") as bus:
        yield bus


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("daemon"), "--no-scan", "--no-models") as run:
        yield run


@pytest.fixture(scope="module")
def launchers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`$BROWSER` and `xdg-open` replaced by scripts; returns the file they write."""
    folder = tmp_path_factory.mktemp("launchers")
    opened = folder / "opened.txt"
    for name in ("xdg-open", "browser"):
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $1" >> "{opened}"\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    saved = {key: os.environ.get(key) for key in ("BROWSER", "PATH")}
    os.environ.update(BROWSER=str(folder / "browser"),
                      PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        yield opened
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_app(daemon_url: str, folder: Path, bus_address: str) -> Any:
    from pximse.tray.app import TrayApp
    from pximse.tray.backend import statusnotifier_backend
    from pximse.tray.client import DaemonClient
    from pximse.tray.daemon_process import DaemonHandle

    config = folder / "config-for-the-tray.toml"
    config.write_text("# the tray's config\n", encoding="utf-8")
    return TrayApp(DaemonHandle(DaemonClient(daemon_url)), config_path=config,
                   daemon_log=folder / "daemon.log", poll_interval_s=0.5,
                   backend=statusnotifier_backend(bus_address, "the test's watcher"))


@contextmanager
def running(app: Any) -> Iterator[threading.Thread]:
    """The app's loop on a thread, quit at the end of the block, which checks
    that the loop ended."""
    runner = threading.Thread(target=app.run, name="tray", daemon=True)
    runner.start()
    try:
        yield runner
    finally:
        app.quit()
        runner.join(10)
    assert not runner.is_alive()


def item_properties(client: BusClient, app: Any) -> dict[str, Any]:
    return client.properties(app.icon.bus_name, "/StatusNotifierItem", ITEM)


def tooltip(client: BusClient, app: Any) -> str:
    return str(item_properties(client, app)["ToolTip"][2])


def labels(entries: list[dict[str, Any]]) -> list[str | None]:
    return [None if entry.get("type") == "separator" else entry["label"] for entry in entries]


def test_the_item_shows_the_daemon_and_its_menu_reaches_it(
    session: Any, daemon: Daemon, launchers: Path, tmp_path: Path
) -> None:
    app = make_app(daemon.url, tmp_path, session.address)
    with running(app) as runner, bus_client(session.address) as panel:
        # Registered with the watcher, by its bus name.
        assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)
        props = item_properties(panel, app)
        assert props["Id"] == "pximse" and props["Title"] == "PxIMSE"
        assert props["Category"] == "ApplicationStatus"
        assert props["ItemIsMenu"] is False and props["Menu"] == "/MenuBar"
        assert wait_until(lambda: tooltip(panel, app).startswith("PxIMSE: idle · 0 images"),
                          30), tooltip(panel, app)
        props = item_properties(panel, app)
        assert props["Status"] == "Active"
        # The picture at the sizes panels draw, in the idle colour.
        assert sorted(p[0] for p in props["IconPixmap"]) == [16, 22, 24, 32, 48, 64]
        assert all(len(data) == w * h * 4 for w, h, data in props["IconPixmap"])
        assert pixel(props["IconPixmap"], 64, 4, 30) == (*COLOURS["idle"], 255)
        assert pixel(props["IconPixmap"], 22, 1, 11)[:3] == COLOURS["idle"]

        # The menu as a panel draws it.
        revision, entries = panel.menu_layout(app.icon.bus_name, "/MenuBar")
        assert labels(entries) == MENU_LABELS
        assert all(entry.get("enabled", True) and entry["visible"] for entry in entries)

        # Pause: the daemon pauses; the picture turns grey, the tooltip says
        # so, and the item becomes Resume -- each announced to the panel.
        panel.signals.clear()
        panel.click(app.icon.bus_name, "/MenuBar", "Pause indexing")
        assert wait_until(lambda: daemon.status()["indexing"]["paused"] is True, 90)
        assert wait_until(lambda: "indexing paused" in tooltip(panel, app), 90)
        props = item_properties(panel, app)
        assert pixel(props["IconPixmap"], 64, 4, 30) == (*COLOURS["paused"], 255)
        assert props["Status"] == "Active"
        later, entries = panel.menu_layout(app.icon.bus_name, "/MenuBar")
        assert later > revision and labels(entries)[1] == "Resume indexing"
        sent = {(interface, member) for interface, member, _ in panel.signals}
        assert {(ITEM, "NewIcon"), (ITEM, "NewToolTip"),
                ("com.canonical.dbusmenu", "LayoutUpdated"),
                ("com.canonical.dbusmenu", "ItemsPropertiesUpdated")} <= sent, sent

        # Resume.
        panel.click(app.icon.bus_name, "/MenuBar", "Resume indexing")
        assert wait_until(lambda: daemon.status()["indexing"]["paused"] is False, 90)
        assert wait_until(lambda: labels(panel.menu_layout(
            app.icon.bus_name, "/MenuBar")[1])[1] == "Pause indexing", 90)

        # A pause made elsewhere (the web page) reaches the item too.
        httpx.post(f"{daemon.url}/api/indexing/pause", timeout=10).raise_for_status()
        assert wait_until(lambda: "indexing paused" in tooltip(panel, app), 90)
        httpx.post(f"{daemon.url}/api/indexing/resume", timeout=10).raise_for_status()
        assert wait_until(lambda: "idle" in tooltip(panel, app), 90)

        # Rescan: the daemon finds the library's three pictures.
        panel.click(app.icon.bus_name, "/MenuBar", "Rescan now")
        assert wait_until(lambda: daemon.status()["images"] == 3, 60)
        assert wait_until(lambda: "3 images" in tooltip(panel, app), 90), tooltip(panel, app)

        # A click on the icon opens the search page; the log and the config
        # open in the desktop's apps.
        panel.call(app.icon.bus_name, "/StatusNotifierItem", ITEM, "Activate", "ii", [0, 0])
        (tmp_path / "daemon.log").write_text("a log line\n")
        panel.click(app.icon.bus_name, "/MenuBar", "Open log file")
        panel.click(app.icon.bus_name, "/MenuBar", "Open config")
        expected = [f"browser {daemon.url}/", f"xdg-open {tmp_path / 'daemon.log'}",
                    f"xdg-open {tmp_path / 'config-for-the-tray.toml'}"]
        assert wait_until(lambda: launchers.exists() and sorted(
            launchers.read_text().splitlines()) == sorted(expected), 90)

        # Quit: the item leaves the bus (the watcher drops it); the daemon
        # it attached to keeps running.
        panel.click(app.icon.bus_name, "/MenuBar", "Quit")
        runner.join(90)
        assert not runner.is_alive() and app.stopped.is_set()
        assert wait_until(lambda: not panel.name_has_owner(app.icon.bus_name), 90)
        assert wait_until(lambda: app.icon.bus_name not in panel.registered_items(), 90)
        assert daemon.status()["images"] == 3


def test_a_problem_asks_for_attention_and_is_notified(session: Any, tmp_path: Path) -> None:
    app = make_app(f"http://127.0.0.1:{free_port()}", tmp_path, session.address)
    with running(app), bus_client(session.address) as panel:
        notifications = serve_notifications(panel)
        assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)
        assert wait_until(lambda: "no PxIMSE daemon answers" in tooltip(panel, app), 90)
        props = item_properties(panel, app)
        assert props["Status"] == "NeedsAttention"
        assert pixel(props["IconPixmap"], 64, 4, 30) == (*COLOURS["error"], 255)
        assert props["AttentionIconPixmap"] == []  # the picture itself turned red

        # An action the daemon cannot carry out is told as a notification.
        panel.click(app.icon.bus_name, "/MenuBar", "Rescan now")
        assert wait_until(lambda: notifications.shown, 90)
        [(summary, body)] = notifications.shown
        assert summary == "PxIMSE"
        assert body.startswith("Rescan now: no PxIMSE daemon answers")


def test_a_panel_that_restarts_gets_the_item_again(tmp_path: Path) -> None:
    with private_session_bus("watcher", "host") as bus, bus_client(bus.address) as panel:
        app = make_app(f"http://127.0.0.1:{free_port()}", tmp_path, bus.address)
        with running(app):
            assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)
            bus.command("drop")  # the panel exits, and its watcher with it
            assert not panel.name_has_owner(WATCHER)
            bus.command("watcher")  # and comes back, knowing no item
            bus.command("host")
            assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)


def test_an_item_shown_before_the_panel_registers_once_it_comes(tmp_path: Path) -> None:
    # At login the icon may start first: it waits for the watcher.
    with private_session_bus() as bus, bus_client(bus.address) as panel:
        app = make_app(f"http://127.0.0.1:{free_port()}", tmp_path, bus.address)
        with running(app):
            assert wait_until(lambda: panel.name_has_owner(app.icon.bus_name), 90)
            bus.command("watcher")
            bus.command("host")
            assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)


def test_a_session_bus_that_goes_away_ends_the_icon(tmp_path: Path) -> None:
    # The session ended (its bus with it): the icon's loop ends, and with it
    # the tray, rather than waiting for calls that can no longer come.
    with private_session_bus("watcher", "host") as bus, bus_client(bus.address) as panel:
        app = make_app(f"http://127.0.0.1:{free_port()}", tmp_path, bus.address)
        ended: list[bool] = []
        runner = threading.Thread(target=lambda: ended.append(app.run()), daemon=True)
        runner.start()
        assert wait_until(lambda: app.icon.bus_name in panel.registered_items(), 90)
    runner.join(60)
    assert not runner.is_alive() and ended == [True]
    app.quit()
