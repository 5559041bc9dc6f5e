"""The desktop session's D-Bus, as the tray uses it: where it is, and plain
method calls on it (dbus-fast, pure Python with optional compiled parts).

The address is ``DBUS_SESSION_BUS_ADDRESS``, as every desktop session sets
it; failing that ``$XDG_RUNTIME_DIR/bus``, where systemd's user bus listens
(libdbus looks there too).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus

__all__ = ["BUS_ENV", "call", "connect", "get_property", "name_owner", "session_bus_address"]

BUS_ENV = "DBUS_SESSION_BUS_ADDRESS"


def session_bus_address(env: Mapping[str, str] | None = None) -> str | None:
    """The session bus's address, or None when the session has none."""
    env = os.environ if env is None else env
    if env.get(BUS_ENV):
        return env[BUS_ENV]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        socket = Path(runtime) / "bus"
        try:
            if stat.S_ISSOCK(socket.stat().st_mode):
                return f"unix:path={socket}"
        except OSError:
            pass
    return None


async def connect(address: str) -> MessageBus:
    return await MessageBus(bus_address=address).connect()


async def call(bus: MessageBus, destination: str, path: str, interface: str, member: str,
               signature: str = "", body: Sequence[Any] = ()) -> list[Any]:
    """Call a method and return its reply's values; an error reply raises
    :class:`dbus_fast.DBusError` with the callee's error name and message."""
    reply = await bus.call(Message(destination=destination, path=path, interface=interface,
                                   member=member, signature=signature, body=list(body)))
    if reply.message_type == MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text, reply)
    return list(reply.body)


async def name_owner(bus: MessageBus, name: str) -> str | None:
    """The unique name (``:1.42``) that owns the well-known ``name``, or None."""
    try:
        [owner] = await call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "GetNameOwner", "s", [name])
    except DBusError:
        return None  # NameHasNoOwner
    return str(owner)


async def get_property(bus: MessageBus, destination: str, path: str, interface: str,
                       name: str) -> Any:
    [value] = await call(bus, destination, path, "org.freedesktop.DBus.Properties", "Get",
                         "ss", [interface, name])
    return value.value
