"""The desktop session's D-Bus, as the tray uses it: where it is, a connection
to it, and plain method calls on it.

jeepney speaks the protocol (pure Python, no system library); its threading
connection sends whole messages from any thread and receives on a thread of
its own. The address is ``DBUS_SESSION_BUS_ADDRESS``, as every desktop
session sets it; failing that ``$XDG_RUNTIME_DIR/bus``, where systemd's user
bus listens (libdbus looks there too).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, new_method_call
from jeepney.io.threading import DBusRouter, open_dbus_connection
from jeepney.wrappers import unwrap_msg

__all__ = [
    "BUS_ENV",
    "CallFailed",
    "add_match",
    "call",
    "get_property",
    "name_owner",
    "open_router",
    "session_bus_address",
]

BUS_ENV = "DBUS_SESSION_BUS_ADDRESS"
BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"
CALL_TIMEOUT_S = 10.0
"""How long a call waits for its answer: a peer that no longer answers must
not hang the tray."""

CallFailed = (DBusErrorResponse, TimeoutError, OSError)
"""What a call can fail with: the callee's error reply, no answer in time,
or a connection gone."""


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


def open_router(address: str) -> DBusRouter:
    """A connection to the bus at ``address`` with its receiving thread."""
    return DBusRouter(open_dbus_connection(bus=address))


def call(router: DBusRouter, destination: str, path: str, interface: str, member: str,
         signature: str | None = None, body: Sequence[Any] = (),
         timeout_s: float = CALL_TIMEOUT_S) -> tuple[Any, ...]:
    """Call a method and return its reply's values; raises one of
    :data:`CallFailed` (an error reply as :class:`jeepney.DBusErrorResponse`,
    with the callee's error name)."""
    message = new_method_call(DBusAddress(path, destination, interface), member, signature,
                              tuple(body))
    return tuple(unwrap_msg(router.send_and_get_reply(message, timeout=timeout_s)))


def name_owner(router: DBusRouter, name: str) -> str | None:
    """The unique name (``:1.42``) that owns the well-known ``name``, or None."""
    try:
        [owner] = call(router, BUS_NAME, BUS_PATH, BUS_NAME, "GetNameOwner", "s", [name])
    except DBusErrorResponse:
        return None  # NameHasNoOwner
    return str(owner)


def get_property(router: DBusRouter, destination: str, path: str, interface: str,
                 name: str) -> Any:
    [(_signature, value)] = call(router, destination, path, "org.freedesktop.DBus.Properties",
                                 "Get", "ss", [interface, name])
    return value


def add_match(router: DBusRouter, rule: str) -> None:
    """Ask the bus for the signals ``rule`` describes."""
    call(router, BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch", "s", [rule])
