"""The tray's menu over D-Bus (``com.canonical.dbusmenu``), as a StatusNotifier
host reads it: KDE Plasma, the GNOME Shell AppIndicator extension, XFCE's and
Cinnamon's panels and waybar all draw an item's menu from this interface,
named by the item's ``Menu`` property.

The host asks for the layout (``GetLayout``: the root, id 0, and one child per
item, ids 1, 2, … in the menu's order), draws it, and sends ``Event(id,
"clicked", …)`` when the user picks an item. Labels that change (Pause /
Resume) are announced with ``ItemsPropertiesUpdated`` and ``LayoutUpdated``
under a new revision, so an open or cached menu is redrawn.

The protocol is libdbusmenu's (its ``dbus-menu.xml`` is the reference); its
version 3 is what every current host speaks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pximse.tray.dbus_server import ExportedObject, MethodError, Reply
from pximse.tray.menu import Menu, MenuItem
from pximse.tray.status_notifier_item import MENU_PATH

__all__ = ["MENU_INTERFACE", "DBusMenu", "dbusmenu_label"]

log = logging.getLogger(__name__)

MENU_INTERFACE = "com.canonical.dbusmenu"
ROOT_ID = 0
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

MENU_XML = """\
  <interface name="com.canonical.dbusmenu">
    <property name="Version" type="u" access="read"/>
    <property name="TextDirection" type="s" access="read"/>
    <property name="Status" type="s" access="read"/>
    <property name="IconThemePath" type="as" access="read"/>
    <method name="GetLayout">
      <arg type="i" name="parentId" direction="in"/>
      <arg type="i" name="recursionDepth" direction="in"/>
      <arg type="as" name="propertyNames" direction="in"/>
      <arg type="u" name="revision" direction="out"/>
      <arg type="(ia{sv}av)" name="layout" direction="out"/>
    </method>
    <method name="GetGroupProperties">
      <arg type="ai" name="ids" direction="in"/>
      <arg type="as" name="propertyNames" direction="in"/>
      <arg type="a(ia{sv})" name="properties" direction="out"/>
    </method>
    <method name="GetProperty">
      <arg type="i" name="id" direction="in"/>
      <arg type="s" name="name" direction="in"/>
      <arg type="v" name="value" direction="out"/>
    </method>
    <method name="Event">
      <arg type="i" name="id" direction="in"/>
      <arg type="s" name="eventId" direction="in"/>
      <arg type="v" name="data" direction="in"/>
      <arg type="u" name="timestamp" direction="in"/>
    </method>
    <method name="EventGroup">
      <arg type="a(isvu)" name="events" direction="in"/>
      <arg type="ai" name="idErrors" direction="out"/>
    </method>
    <method name="AboutToShow">
      <arg type="i" name="id" direction="in"/>
      <arg type="b" name="needUpdate" direction="out"/>
    </method>
    <method name="AboutToShowGroup">
      <arg type="ai" name="ids" direction="in"/>
      <arg type="ai" name="updatesNeeded" direction="out"/>
      <arg type="ai" name="idErrors" direction="out"/>
    </method>
    <signal name="ItemsPropertiesUpdated">
      <arg type="a(ia{sv})" name="updatedProps"/>
      <arg type="a(ias)" name="removedProps"/>
    </signal>
    <signal name="LayoutUpdated">
      <arg type="u" name="revision"/>
      <arg type="i" name="parent"/>
    </signal>
    <signal name="ItemActivationRequested">
      <arg type="i" name="id"/>
      <arg type="u" name="timestamp"/>
    </signal>
  </interface>
"""

Props = dict[str, tuple[str, Any]]
"""An item's properties: name -> (D-Bus type, value), as a variant carries it."""


def dbusmenu_label(text: str) -> str:
    """A label as dbusmenu wants it: ``_`` marks the access key, so a literal
    underscore is doubled."""
    return text.replace("_", "__")


class DBusMenu(ExportedObject):
    """``menu`` served as ``com.canonical.dbusmenu``; a click on an item calls
    ``on_click(item)`` (on the server's thread: it must return at once)."""

    path = MENU_PATH
    interface = MENU_INTERFACE
    interface_xml = MENU_XML

    def __init__(self, menu: Menu, on_click: Callable[[MenuItem], None]) -> None:
        super().__init__()
        self._menu = menu
        self._on_click = on_click
        self._lock = threading.Lock()
        self._revision = 1
        self._shown = self._read_menu()

    # --- what the menu shows ------------------------------------------------------

    def _read_menu(self) -> dict[int, Props]:
        shown: dict[int, Props] = {}
        for number, item in enumerate(self._menu.items, start=1):
            if item.is_separator:
                shown[number] = {"type": ("s", "separator"), "visible": ("b", item.visible)}
            else:
                shown[number] = {"label": ("s", dbusmenu_label(item.text)),
                                 "enabled": ("b", item.enabled), "visible": ("b", item.visible)}
        return shown

    def refresh(self) -> bool:
        """Read the labels again; announce what changed under a new revision.
        True when something did."""
        now = self._read_menu()
        with self._lock:
            changed = [number for number, props in now.items()
                       if self._shown.get(number) != props]
            if not changed and now.keys() == self._shown.keys():
                return False
            self._shown = now
            self._revision += 1
            revision = self._revision
        self.emit("ItemsPropertiesUpdated", "a(ia{sv})a(ias)",
                  [[(number, now[number]) for number in changed], []])
        self.emit("LayoutUpdated", "ui", [revision, ROOT_ID])
        return True

    def _properties_of(self, shown: dict[int, Props], number: int,
                       names: Sequence[str]) -> Props:
        props = {"children-display": ("s", "submenu")} if number == ROOT_ID else shown[number]
        return {name: value for name, value in props.items() if not names or name in names}

    def _node(self, shown: dict[int, Props], number: int, depth: int,
              names: Sequence[str]) -> tuple[int, Props, list[tuple[str, Any]]]:
        children = []
        if number == ROOT_ID and depth != 0:
            children = [("(ia{sv}av)", self._node(shown, child, depth - 1, names))
                        for child in shown]
        return number, self._properties_of(shown, number, names), children

    def _known(self, shown: dict[int, Props], number: int) -> None:
        if number != ROOT_ID and number not in shown:
            raise MethodError(INVALID_ARGS, f"no menu item {number}")

    # --- the interface ------------------------------------------------------------------

    def properties(self) -> dict[str, tuple[str, Any]]:
        return {"Version": ("u", 3), "TextDirection": ("s", "ltr"), "Status": ("s", "normal"),
                "IconThemePath": ("as", [])}

    def handle(self, member: str, args: Sequence[Any]) -> Reply:
        with self._lock:
            shown, revision = self._shown, self._revision
        if member == "GetLayout":
            parent, depth, names = args
            self._known(shown, parent)
            return "u(ia{sv}av)", (revision, self._node(shown, parent, depth, names))
        if member == "GetGroupProperties":
            ids, names = args
            wanted = ids or [ROOT_ID, *shown]
            return "a(ia{sv})", ([(number, self._properties_of(shown, number, names))
                                  for number in wanted if number == ROOT_ID or number in shown],)
        if member == "GetProperty":
            number, name = args
            self._known(shown, number)
            props = self._properties_of(shown, number, [name])
            if name not in props:
                raise MethodError(INVALID_ARGS, f"menu item {number} has no property {name!r}")
            return "v", (props[name],)
        if member == "Event":
            number, event_id, _data, _timestamp = args
            self._known(shown, number)
            self._event(number, event_id)
            return None, ()
        if member == "EventGroup":
            unknown = [number for number, *_ in args[0]
                       if number != ROOT_ID and number not in shown]
            if args[0] and len(unknown) == len(args[0]):
                raise MethodError(INVALID_ARGS, f"no menu items {unknown}")
            for number, event_id, _data, _timestamp in args[0]:
                if number not in unknown:
                    self._event(number, event_id)
            return "ai", (unknown,)
        if member == "AboutToShow":
            self._known(shown, args[0])
            return "b", (False,)  # the layout is always current: nothing to update first
        if member == "AboutToShowGroup":
            return "aiai", ([], [number for number in args[0]
                                 if number != ROOT_ID and number not in shown])
        return super().handle(member, args)

    def _event(self, number: int, event_id: str) -> None:
        if event_id != "clicked" or number == ROOT_ID:
            return  # hovered, opened, closed: nothing to do
        item = self._menu.items[number - 1]
        if item.is_separator or not item.enabled:
            return
        log.debug("menu item clicked: %s", item.text)
        self._on_click(item)
