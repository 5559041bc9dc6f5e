"""A minimal StatusNotifierWatcher for the tests, on a private session bus.

Run as ``dbus-run-session -- python status_notifier_watcher.py``: the bus
lives as long as this process. It prints ``address <bus address>``, then
obeys one command a line on its standard input, answering ``ok <command>``:

- ``watcher``: take ``org.kde.StatusNotifierWatcher`` and serve it (what a
  panel's watcher does: KDE's kded module, the GNOME extension, waybar's);
- ``host``: register a host with it (a panel that draws the items);
- ``drop``: give the name up, forgetting every item (a panel that exits);
- ``quit``.

What it does follows freedesktop.org's StatusNotifierWatcher specification:
an item registers its bus name; ``RegisteredStatusNotifierItems`` lists
those still on the bus (an item whose name leaves the bus is dropped, with
``StatusNotifierItemUnregistered``). Only registration by bus name is
served, which is how the tray registers; real watchers also take an object
path, with the caller's name as the item's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

from dbus_fast import Message, NameFlag
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"

Str = Annotated[str, DBusSignature("s")]
Strs = Annotated[list[str], DBusSignature("as")]
Bool = Annotated[bool, DBusSignature("b")]
Int = Annotated[int, DBusSignature("i")]


class Watcher(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(WATCHER)
        self.items: list[str] = []
        self.hosts: list[str] = []

    @dbus_method()
    def RegisterStatusNotifierItem(self, service: Str):  # noqa: N802
        if service not in self.items:
            self.items.append(service)
        self.StatusNotifierItemRegistered(service)

    @dbus_method()
    def RegisterStatusNotifierHost(self, service: Str):  # noqa: N802
        if service not in self.hosts:
            self.hosts.append(service)
        self.StatusNotifierHostRegistered()

    def name_left(self, name: str) -> None:
        if name in self.items:
            self.items.remove(name)
            self.StatusNotifierItemUnregistered(name)

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> Strs:  # noqa: N802
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> Bool:  # noqa: N802
        return bool(self.hosts)

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> Int:  # noqa: N802
        return 0

    @dbus_signal()
    def StatusNotifierItemRegistered(self, service: str) -> Str:  # noqa: N802
        return service

    @dbus_signal()
    def StatusNotifierItemUnregistered(self, service: str) -> Str:  # noqa: N802
        return service

    @dbus_signal()
    def StatusNotifierHostRegistered(self) -> None:  # noqa: N802
        pass


async def main() -> None:
    bus = await MessageBus().connect()
    await bus.call(Message(
        destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus", member="AddMatch", signature="s",
        body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"]))
    watcher = Watcher()

    def on_message(message: Message) -> None:
        if message.member == "NameOwnerChanged" and message.body and not message.body[2]:
            watcher.name_left(message.body[0])

    bus.add_message_handler(on_message)
    print("address", os.environ["DBUS_SESSION_BUS_ADDRESS"], flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = line.strip()
        if command in ("quit", ""):
            break
        if command == "watcher":
            watcher = Watcher()
            bus.export(WATCHER_PATH, watcher)
            await bus.request_name(WATCHER, NameFlag.DO_NOT_QUEUE)
        elif command == "host":
            watcher.RegisterStatusNotifierHost(bus.unique_name)
        elif command == "drop":
            await bus.release_name(WATCHER)
            bus.unexport(WATCHER_PATH)
        print("ok", command, flush=True)
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
