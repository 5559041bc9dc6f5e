"""What the StatusNotifier tests run against: a private session bus
(``dbus-run-session``, Debian's dbus-daemon: `make system-deps`) kept by the
minimal watcher in ``status_notifier_watcher.py``, and a client on that bus
that reads an item and its menu the way a panel does.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
from dbus_fast import DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.service import ServiceInterface, dbus_method

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
PROPERTIES = "org.freedesktop.DBus.Properties"


class SessionBus:
    """A private session bus and its watcher process."""

    def __init__(self, process: subprocess.Popen[str], address: str) -> None:
        self.process = process
        self.address = address

    def command(self, command: str) -> None:
        """``watcher``, ``host``, ``drop``: see status_notifier_watcher.py."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer == f"ok {command}", answer


@contextmanager
def private_session_bus(*commands: str) -> Iterator[SessionBus]:
    """A session bus of its own (``dbus-run-session``), with ``commands`` given
    to its watcher process first (``"watcher", "host"``: a panel is there)."""
    if shutil.which("dbus-run-session") is None:
        pytest.skip("dbus-run-session is not installed (make system-deps installs Debian's "
                    "dbus-daemon)")
    script = Path(__file__).with_name("status_notifier_watcher.py")
    process = subprocess.Popen(["dbus-run-session", "--", sys.executable, str(script)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split(maxsplit=1)
        assert first and first[0] == "address", first
        bus = SessionBus(process, first[1].strip())
        for command in commands:
            bus.command(command)
        yield bus
    finally:
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.close()
                process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait(10)


class BusClient:
    """A connection to the bus, its loop on a thread of its own; blocking
    calls for the test, and every signal the item or its menu sends."""

    def __init__(self, address: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bus-client",
                                       daemon=True)
        self.thread.start()
        self.signals: list[tuple[str, str, list[Any]]] = []
        self.bus: MessageBus = self._run(self._connect(address))

    async def _connect(self, address: str) -> MessageBus:
        bus = await MessageBus(bus_address=address).connect()
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch",
                               signature="s", body=["type='signal'"]))

        def on_message(message: Message) -> None:
            if message.message_type == MessageType.SIGNAL:
                self.signals.append((message.interface or "", message.member or "",
                                     list(message.body)))

        bus.add_message_handler(on_message)
        return bus

    def _run(self, work: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, destination: str, path: str, interface: str, member: str,
             signature: str = "", body: Sequence[Any] = ()) -> list[Any]:
        async def send() -> Message:
            return await self.bus.call(Message(
                destination=destination, path=path, interface=interface, member=member,
                signature=signature, body=list(body)))

        reply = self._run(send())
        if reply.message_type == MessageType.ERROR:
            raise DBusError(reply.error_name, str(reply.body[0] if reply.body else ""))
        return list(reply.body)

    def properties(self, destination: str, path: str, interface: str) -> dict[str, Any]:
        [values] = self.call(destination, path, PROPERTIES, "GetAll", "s", [interface])
        return {name: value.value for name, value in values.items()}

    def registered_items(self) -> list[str]:
        try:
            return list(self.properties(WATCHER, WATCHER_PATH, WATCHER)
                        ["RegisteredStatusNotifierItems"])
        except DBusError:
            return []  # no watcher right now

    def name_has_owner(self, name: str) -> bool:
        [owned] = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", "s", [name])
        return bool(owned)

    def menu_layout(self, item: str, menu_path: str) -> tuple[int, list[dict[str, Any]]]:
        """The menu's revision and its items' properties, in order (with their ids)."""
        revision, (root_id, _root, children) = self.call(
            item, menu_path, MENU, "GetLayout", "iias", [0, -1, []])
        assert root_id == 0
        entries = []
        for child in children:
            number, props, _grandchildren = child.value
            entries.append({"id": number, **{k: v.value for k, v in props.items()}})
        return revision, entries

    def click(self, item: str, menu_path: str, label: str) -> None:
        """What a panel sends when the user picks the item labelled ``label``."""
        _, entries = self.menu_layout(item, menu_path)
        [number] = [e["id"] for e in entries if e.get("label") == label]
        self.call(item, menu_path, MENU, "Event", "isvu",
                  [number, "clicked", Variant("s", ""), 0])

    def close(self) -> None:
        self.bus.disconnect()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextmanager
def bus_client(address: str) -> Iterator[BusClient]:
    client = BusClient(address)
    try:
        yield client
    finally:
        client.close()


def pixel(pixmaps: list[Any], size: int, x: int, y: int) -> tuple[int, int, int, int]:
    """The (red, green, blue, alpha) of a pixel of the ``size`` pixmap (ARGB32,
    network byte order, as the specification says)."""
    [(width, _height, data)] = [p for p in pixmaps if p[0] == size]
    offset = (y * width + x) * 4
    alpha, red, green, blue = data[offset:offset + 4]
    return red, green, blue, alpha



Str = Annotated[str, DBusSignature("s")]
UInt = Annotated[int, DBusSignature("u")]
Int = Annotated[int, DBusSignature("i")]
Strs = Annotated[list[str], DBusSignature("as")]
Hints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]


class NotificationDaemon(ServiceInterface):
    """``org.freedesktop.Notifications`` (what a desktop's notification daemon
    serves), recording each notification's summary and body."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: list[tuple[str, str]] = []

    @dbus_method()
    def Notify(self, app_name: Str, replaces_id: UInt, app_icon: Str,  # noqa: N802
               summary: Str, body: Str, actions: Strs, hints: Hints,
               expire_timeout: Int) -> UInt:
        self.shown.append((summary, body))
        return len(self.shown)


def serve_notifications(client: BusClient) -> NotificationDaemon:
    """A notification daemon on ``client``'s connection."""
    daemon = NotificationDaemon()

    async def serve() -> None:
        client.bus.export("/org/freedesktop/Notifications", daemon)
        await client.bus.request_name("org.freedesktop.Notifications")

    client._run(serve())
    return daemon
