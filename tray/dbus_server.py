"""Serving D-Bus objects on a jeepney connection.

jeepney sends and receives messages; answering them is ours. Each
:class:`ExportedObject` has a path, one interface (with its introspection
XML, the contract a client reads) and its properties; :class:`ObjectServer`
routes each method call to the object at its path and answers the standard
interfaces every D-Bus object has: ``org.freedesktop.DBus.Properties``
(``Get``, ``GetAll``), ``org.freedesktop.DBus.Introspectable`` and
``org.freedesktop.DBus.Peer``. Calls are answered one at a time, in order,
on the server's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MatchRule,
    Message,
    MessageFlag,
    new_error,
    new_method_return,
    new_signal,
)

from pximse.tray.session_bus import BusConnection

__all__ = ["ExportedObject", "MethodError", "ObjectServer"]

log = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
STANDARD_INTERFACES_XML = """\
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg direction="in" type="s"/><arg direction="in" type="s"/>\
<arg direction="out" type="v"/></method>
    <method name="GetAll"><arg direction="in" type="s"/><arg direction="out" type="a{sv}"/>\
</method>
    <method name="Set"><arg direction="in" type="s"/><arg direction="in" type="s"/>\
<arg direction="in" type="v"/></method>
    <signal name="PropertiesChanged"><arg type="s"/><arg type="a{sv}"/><arg type="as"/>\
</signal>
  </interface>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg direction="out" type="s"/></method>
  </interface>
"""
DOCTYPE = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" '
           '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n')

Reply = tuple[str | None, Sequence[Any]]
"""A method's answer: its signature (None: no values) and its values."""


class MethodError(Exception):
    """An error answer: a D-Bus error name and a message for the caller."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class ExportedObject:
    """An object to serve: subclasses set :attr:`path`, :attr:`interface` and
    :attr:`interface_xml`, and write :meth:`properties` and :meth:`handle`.
    Both run on the server's thread."""

    path = "/"
    interface = ""
    interface_xml = ""
    """The ``<interface>`` element: methods, signals and properties with their types."""

    def __init__(self) -> None:
        self._send: Callable[[Message], None] | None = None

    def properties(self) -> dict[str, tuple[str, Any]]:
        """Each property's (D-Bus type, value)."""
        return {}

    def handle(self, member: str, args: Sequence[Any]) -> Reply:
        raise MethodError("org.freedesktop.DBus.Error.UnknownMethod",
                          f"{self.interface} has no method {member}")

    def emit(self, member: str, signature: str | None = None, args: Sequence[Any] = ()) -> None:
        """Send one of the interface's signals (from any thread; nothing before
        the object is exported)."""
        send = self._send
        if send is not None:
            send(new_signal(DBusAddress(self.path, interface=self.interface), member,
                            signature, tuple(args)))


class ObjectServer:
    """Answers the method calls that reach ``bus``."""

    def __init__(self, bus: BusConnection) -> None:
        self.bus = bus
        self.objects: dict[str, ExportedObject] = {}
        self._calls = bus.listen(MatchRule(type="method_call"))

    def export(self, exported: ExportedObject) -> None:
        exported._send = self.bus.send
        self.objects[exported.path] = exported

    def serve(self, stopping: threading.Event) -> bool:
        """Answer calls until ``stopping`` is set (True) or the bus closes the
        connection (False). Blocks."""
        while not stopping.is_set():
            if self.bus.closed.is_set():
                return False
            try:
                message = self._calls.get(timeout=0.2)
            except queue.Empty:
                continue
            reply = self._answer(message)
            if not message.header.flags & MessageFlag.no_reply_expected:
                try:
                    self.bus.send(reply)
                except OSError:
                    log.debug("the bus connection closed before an answer was sent")
        return True

    def _answer(self, message: Message) -> Message:
        fields = message.header.fields
        path = fields.get(HeaderFields.path, "/")
        interface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member, "")
        try:
            signature, values = self._dispatch(path, interface, member, message.body)
        except MethodError as exc:
            return new_error(message, exc.name, "s", (exc.message,))
        except Exception as exc:  # a bug answers the caller; it must not end the server
            log.exception("answering %s.%s on %s failed", interface, member, path)
            return new_error(message, "org.freedesktop.DBus.Error.Failed", "s", (str(exc),))
        return new_method_return(message, signature, tuple(values))

    def _dispatch(self, path: str, interface: str | None, member: str,
                  args: Sequence[Any]) -> Reply:
        if interface == PEER:
            if member == "Ping":
                return None, ()
            if member == "GetMachineId":
                return "s", (_machine_id(),)
        if interface in (INTROSPECTABLE, None) and member == "Introspect":
            return "s", (self._introspect(path),)
        exported = self.objects.get(path)
        if exported is None:
            raise MethodError("org.freedesktop.DBus.Error.UnknownObject", f"no object at {path}")
        if interface == PROPERTIES:
            return _properties_call(exported, member, args)
        if interface in (exported.interface, None):
            return exported.handle(member, args)
        raise MethodError("org.freedesktop.DBus.Error.UnknownInterface",
                          f"{path} has no interface {interface}")

    def _introspect(self, path: str) -> str:
        """The object at ``path`` and the nodes under it (a client may walk from ``/``)."""
        prefix = path.rstrip("/") + "/"
        children = sorted({other[len(prefix):].split("/")[0] for other in self.objects
                           if other.startswith(prefix)})
        exported = self.objects.get(path)
        body = STANDARD_INTERFACES_XML + (exported.interface_xml if exported else "")
        nodes = "".join(f'  <node name="{child}"/>\n' for child in children)
        return f"{DOCTYPE}<node>\n{body}{nodes}</node>\n"


def _properties_call(exported: ExportedObject, member: str, args: Sequence[Any]) -> Reply:
    interface = args[0] if args else ""
    if interface != exported.interface:
        raise MethodError("org.freedesktop.DBus.Error.UnknownInterface",
                          f"{exported.path} has no interface {interface}")
    values = exported.properties()
    if member == "GetAll":
        return "a{sv}", (values,)
    name = args[1] if len(args) > 1 else ""
    if name not in values:
        raise MethodError("org.freedesktop.DBus.Error.UnknownProperty",
                          f"{interface} has no property {name}")
    if member == "Get":
        return "v", (values[name],)
    if member == "Set":
        raise MethodError("org.freedesktop.DBus.Error.PropertyReadOnly",
                          f"{interface}.{name} is read-only")
    raise MethodError("org.freedesktop.DBus.Error.UnknownMethod",
                      f"{PROPERTIES} has no method {member}")


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="ascii") as file:
                return file.read().strip()
        except OSError:
            continue
    raise MethodError("org.freedesktop.DBus.Error.Failed", "no machine id")
