"""How `pximse tray` picks the way to show its icon, and the pieces of the
StatusNotifier path that need no daemon: the pixmaps' byte order, dbusmenu
labels, where the session bus is."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("jeepney", reason="jeepney is in the tray extra")
pytest.importorskip("dbus_fast", reason="dbus-fast is in the test extra (the test's panel)")

from helpers.status_notifier_harness import private_session_bus  # noqa: E402

from pximse.tray.backend import BACKEND_CHOICES, choose_backend  # noqa: E402
from pximse.tray.dbusmenu import dbusmenu_label  # noqa: E402
from pximse.tray.display import NoTrayHost, TrayUnavailable  # noqa: E402
from pximse.tray.session_bus import session_bus_address  # noqa: E402
from pximse.tray.status_notifier_item import icon_pixmaps  # noqa: E402


def test_pixmaps_are_argb32_in_network_byte_order_at_each_size() -> None:
    image = Image.new("RGBA", (64, 64), (10, 20, 30, 40))
    image.putpixel((0, 0), (200, 150, 100, 255))
    pixmaps = icon_pixmaps(image, sizes=(64, 22))
    assert [(w, h, len(data)) for w, h, data in pixmaps] == [(22, 22, 22 * 22 * 4),
                                                              (64, 64, 64 * 64 * 4)]
    data = pixmaps[1][2]
    assert data[:4] == bytes([255, 200, 150, 100])  # alpha, red, green, blue
    assert data[4:8] == bytes([40, 10, 20, 30])


def test_labels_escape_underscores_which_dbusmenu_reads_as_access_keys() -> None:
    assert dbusmenu_label("Open search page") == "Open search page"
    assert dbusmenu_label("my_library") == "my__library"


def test_the_session_bus_is_found_where_desktops_put_it(tmp_path: Path) -> None:
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "bus"))  # systemd's user bus
        assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == \
            f"unix:path={tmp_path / 'bus'}"


def test_the_command_offers_each_choice() -> None:
    from pximse.tray.cli import tray_command

    [option] = [p for p in tray_command.params if p.name == "backend_name"]
    assert tuple(option.type.choices) == BACKEND_CHOICES  # type: ignore[attr-defined]


def test_statusnotifier_needs_a_session_bus() -> None:
    with pytest.raises(TrayUnavailable, match="--backend statusnotifier: no D-Bus session bus"):
        choose_backend("statusnotifier", 1, env={}, platform="linux")


def test_a_watcher_with_a_host_is_taken_at_once() -> None:
    with private_session_bus("watcher", "host") as bus:
        started = time.monotonic()
        backend = choose_backend("auto", 20, env={"DBUS_SESSION_BUS_ADDRESS": bus.address},
                                 platform="linux")
    assert time.monotonic() - started < 10
    assert backend.name == "statusnotifier"
    assert backend.reason.startswith("the session bus has a StatusNotifierWatcher (:1.")
    assert backend.reason.endswith("with a host: the panel shows StatusNotifierItems and "
                                   "their menus")
    assert backend.icon_options == {"bus_address": bus.address}


def test_a_watcher_without_a_host_is_taken_once_the_wait_is_over() -> None:
    # A panel's watcher that is still starting its host: the item registers,
    # and shows once the host comes.
    with private_session_bus("watcher") as bus:
        backend = choose_backend("auto", 0.5, env={"DBUS_SESSION_BUS_ADDRESS": bus.address},
                                 platform="linux")
    assert backend.name == "statusnotifier"
    assert "but no host registered yet (waited 0.5 s)" in backend.reason


def test_a_host_that_comes_during_the_wait_is_taken() -> None:
    import threading

    with private_session_bus() as bus:
        later = threading.Timer(1.0, lambda: (bus.command("watcher"), bus.command("host")))
        later.start()
        try:
            backend = choose_backend("statusnotifier", 30,
                                     env={"DBUS_SESSION_BUS_ADDRESS": bus.address},
                                     platform="linux")
        finally:
            later.join()
    assert backend.name == "statusnotifier" and "with a host" in backend.reason


def test_no_watcher_and_no_x_tray_is_an_error_that_says_what_to_install() -> None:
    with private_session_bus() as bus, pytest.raises(NoTrayHost) as raised:
        choose_backend("auto", 0.3, env={"DBUS_SESSION_BUS_ADDRESS": bus.address},
                       platform="linux")
    message = str(raised.value)
    assert message.startswith("no StatusNotifierWatcher on the D-Bus session bus (waited 0.3 s)")
    assert "AppIndicator extension" in message and "waybar" in message
