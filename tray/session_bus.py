"""The desktop session's D-Bus, as the tray uses it: where it is, a connection
to it, and plain method calls on it.

jeepney speaks the protocol (pure Python, no system library). Its connection
sends whole messages from any thread (``sendall`` under a lock: a full
socket waits, it never fails); :class:`BusConnection` adds the thread that
receives, hands each reply to the call waiting for it and every other
message to the queues that asked for it, and notices when the bus closes the
connection (the session ended). The address is ``DBUS_SESSION_BUS_ADDRESS``,
as every desktop session sets it; failing that ``$XDG_RUNTIME_DIR/bus``,
where systemd's user bus listens (libdbus looks there too).
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from jeepney import (
    DBusAddress,
    DBusErrorResponse,
    HeaderFields,
    MatchRule,
    Message,
    MessageType,
    new_method_call,
)
from jeepney.io.threading import ReceiveStopped, open_dbus_connection
from jeepney.wrappers import unwrap_msg

__all__ = [
    "BUS_ENV",
    "BusConnection",
    "CallFailed",
    "add_match",
    "call",
    "get_property",
    "name_owner",
    "session_bus_address",
]

log = logging.getLogger(__name__)

BUS_ENV = "DBUS_SESSION_BUS_ADDRESS"
BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"
CALL_TIMEOUT_S = 10.0
"""How long a call waits for its answer: a peer that no longer answers must
not hang the tray."""

CallFailed = (DBusErrorResponse, TimeoutError, OSError)
"""What a call can fail with: the callee's error reply, no answer in time,
or the connection gone (:class:`ConnectionError`)."""


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


class BusConnection:
    """A connection to the bus at ``address``."""

    def __init__(self, address: str) -> None:
        self._connection = open_dbus_connection(bus=address)
        self.unique_name: str = self._connection.unique_name
        self.closed = threading.Event()
        """Set once the connection is over (closed here, or by the bus)."""
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Message]] = {}
        self._listeners: list[tuple[MatchRule, queue.Queue[Message]]] = []
        threading.Thread(target=self._receive, name="dbus-receive", daemon=True).start()

    def send(self, message: Message) -> None:
        """Send a message that wants no answer (a signal, a reply); from any thread."""
        self._connection.send(message)

    def call(self, message: Message, timeout_s: float = CALL_TIMEOUT_S) -> Message:
        """Send a method call and return the answer (a reply or an error message)."""
        if self.closed.is_set():
            raise ConnectionError("the D-Bus connection is closed")
        serial = next(self._connection.outgoing_serial)
        answer: Future[Message] = Future()
        with self._lock:
            self._waiting[serial] = answer
        try:
            self._connection.send(message, serial=serial)
            return answer.result(timeout_s)
        finally:
            with self._lock:
                self._waiting.pop(serial, None)

    def listen(self, rule: MatchRule) -> queue.Queue[Message]:
        """A queue that gets every message ``rule`` matches (signals the bus
        sends us only after an ``AddMatch``; method calls addressed to us)."""
        messages: queue.Queue[Message] = queue.Queue()
        with self._lock:
            self._listeners.append((rule, messages))
        return messages

    def close(self) -> None:
        """Close the connection: the bus drops every name it held."""
        self._connection.close()

    def _receive(self) -> None:
        try:
            while True:
                message = self._connection.receive()
                header = message.header
                if header.message_type in (MessageType.method_return, MessageType.error):
                    with self._lock:
                        answer = self._waiting.get(header.fields.get(HeaderFields.reply_serial, 0))
                    if answer is not None:
                        answer.set_result(message)
                    continue
                with self._lock:
                    listeners = list(self._listeners)
                for rule, messages in listeners:
                    if rule.matches(message):
                        messages.put(message)
        except ReceiveStopped:
            pass  # closed here
        except (OSError, ValueError) as exc:  # closed by the bus, or under our feet
            log.info("the D-Bus connection closed: %s", exc or type(exc).__name__)
        finally:
            self.closed.set()
            with self._lock:
                waiting = list(self._waiting.values())
            for answer in waiting:
                if not answer.done():
                    answer.set_exception(ConnectionError("the D-Bus connection closed"))


def call(bus: BusConnection, destination: str, path: str, interface: str, member: str,
         signature: str | None = None, body: Sequence[Any] = (),
         timeout_s: float = CALL_TIMEOUT_S) -> tuple[Any, ...]:
    """Call a method and return its reply's values; raises one of
    :data:`CallFailed` (an error reply as :class:`jeepney.DBusErrorResponse`,
    with the callee's error name)."""
    message = new_method_call(DBusAddress(path, destination, interface), member, signature,
                              tuple(body))
    return tuple(unwrap_msg(bus.call(message, timeout_s)))


def name_owner(bus: BusConnection, name: str) -> str | None:
    """The unique name (``:1.42``) that owns the well-known ``name``, or None."""
    try:
        [owner] = call(bus, BUS_NAME, BUS_PATH, BUS_NAME, "GetNameOwner", "s", [name])
    except DBusErrorResponse:
        return None  # NameHasNoOwner
    return str(owner)


def get_property(bus: BusConnection, destination: str, path: str, interface: str,
                 name: str) -> Any:
    [(_signature, value)] = call(bus, destination, path, "org.freedesktop.DBus.Properties",
                                 "Get", "ss", [interface, name])
    return value


def add_match(bus: BusConnection, rule: MatchRule) -> queue.Queue[Message]:
    """Ask the bus for the signals ``rule`` describes; they arrive in the queue."""
    messages = bus.listen(rule)
    call(bus, BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch", "s", [rule.serialise()])
    return messages
