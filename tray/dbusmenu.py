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
from collections.abc import Callable
from typing import Annotated, Any

from dbus_fast import DBusError, Variant
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from pximse.tray.menu import Menu, MenuItem

__all__ = ["MENU_INTERFACE", "DBusMenu", "dbusmenu_label"]

log = logging.getLogger(__name__)

MENU_INTERFACE = "com.canonical.dbusmenu"
ROOT_ID = 0

Int = Annotated[int, DBusSignature("i")]
UInt = Annotated[int, DBusSignature("u")]
Bool = Annotated[bool, DBusSignature("b")]
Str = Annotated[str, DBusSignature("s")]
Strings = Annotated[list[str], DBusSignature("as")]
Ints = Annotated[list[int], DBusSignature("ai")]
AnyVariant = Annotated[Variant, DBusSignature("v")]
RevisionAndLayout = Annotated[list[Any], DBusSignature("u(ia{sv}av)")]
GroupProperties = Annotated[list[Any], DBusSignature("a(ia{sv})")]
Events = Annotated[list[Any], DBusSignature("a(isvu)")]
UpdatesAndErrors = Annotated[list[Any], DBusSignature("aiai")]
PropertiesUpdate = Annotated[list[Any], DBusSignature("a(ia{sv})a(ias)")]
RevisionAndParent = Annotated[list[Any], DBusSignature("ui")]

Shown = dict[int, dict[str, tuple[str, Any]]]
"""What each item shows: id -> property name -> (D-Bus type, value)."""


def dbusmenu_label(text: str) -> str:
    """A label as dbusmenu wants it: ``_`` marks the access key, so a literal
    underscore is doubled."""
    return text.replace("_", "__")


class DBusMenu(ServiceInterface):
    """``menu`` exported as ``com.canonical.dbusmenu``; a click on an item
    calls ``on_click(item)`` (from the D-Bus loop: it must return at once)."""

    def __init__(self, menu: Menu, on_click: Callable[[MenuItem], None]) -> None:
        super().__init__(MENU_INTERFACE)
        self._menu = menu
        self._on_click = on_click
        self._revision = 1
        self._shown = self._read_menu()

    # --- what the menu shows ------------------------------------------------------

    def _read_menu(self) -> Shown:
        shown: Shown = {}
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
        changed = [number for number, props in now.items() if self._shown.get(number) != props]
        if not changed and now.keys() == self._shown.keys():
            return False
        self._shown = now
        self._revision += 1
        self.ItemsPropertiesUpdated([[number, self._properties(number, [])]
                                     for number in changed], [])
        self.LayoutUpdated(self._revision, ROOT_ID)
        return True

    def _properties(self, number: int, names: list[str]) -> dict[str, Variant]:
        if number == ROOT_ID:
            props = {"children-display": ("s", "submenu")}
        else:
            props = self._shown[number]
        return {name: Variant(kind, value) for name, (kind, value) in props.items()
                if not names or name in names}

    def _node(self, number: int, depth: int, names: list[str]) -> list[Any]:
        children: list[Variant] = []
        if number == ROOT_ID and depth != 0:
            children = [Variant("(ia{sv}av)", self._node(child, depth - 1, names))
                        for child in self._shown]
        return [number, self._properties(number, names), children]

    def _known(self, number: int) -> None:
        if number != ROOT_ID and number not in self._shown:
            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs", f"no menu item {number}")

    # --- the interface ----------------------------------------------------------------

    @dbus_method()
    def GetLayout(self, parentId: Int, recursionDepth: Int,  # noqa: N802, N803
                  propertyNames: Strings) -> RevisionAndLayout:  # noqa: N803
        self._known(parentId)
        return [self._revision, self._node(parentId, recursionDepth, propertyNames)]

    @dbus_method()
    def GetGroupProperties(self, ids: Ints, propertyNames: Strings  # noqa: N802, N803
                           ) -> GroupProperties:
        wanted = ids or [ROOT_ID, *self._shown]
        return [[number, self._properties(number, propertyNames)] for number in wanted
                if number == ROOT_ID or number in self._shown]

    @dbus_method()
    def GetProperty(self, id: Int, name: Str) -> AnyVariant:  # noqa: N802, A002
        self._known(id)
        props = self._properties(id, [name])
        if name not in props:
            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                            f"menu item {id} has no property {name!r}")
        return props[name]

    @dbus_method()
    def Event(self, id: Int, eventId: Str, data: AnyVariant,  # noqa: N802, N803, A002
              timestamp: UInt):  # no return annotation: dbus-fast reads it as the reply's
        self._known(id)
        self._event(id, eventId)

    @dbus_method()
    def EventGroup(self, events: Events) -> Ints:  # noqa: N802
        unknown = []
        for number, event_id, _data, _timestamp in events:
            if number == ROOT_ID or number in self._shown:
                self._event(number, event_id)
            else:
                unknown.append(number)
        if unknown and len(unknown) == len(events):
            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                            f"no menu items {unknown}")
        return unknown

    @dbus_method()
    def AboutToShow(self, id: Int) -> Bool:  # noqa: N802, A002
        self._known(id)
        return False  # the layout is always current: nothing to update first

    @dbus_method()
    def AboutToShowGroup(self, ids: Ints) -> UpdatesAndErrors:  # noqa: N802
        return [[], [number for number in ids
                     if number != ROOT_ID and number not in self._shown]]

    def _event(self, number: int, event_id: str) -> None:
        if event_id != "clicked" or number == ROOT_ID:
            return  # hovered, opened, closed: nothing to do
        item = self._menu.items[number - 1]
        if item.is_separator or not item.enabled:
            return
        log.debug("menu item clicked: %s", item.text)
        self._on_click(item)

    @dbus_signal()
    def ItemsPropertiesUpdated(self, updated: list[Any],  # noqa: N802
                               removed: list[Any]) -> PropertiesUpdate:
        return [updated, removed]

    @dbus_signal()
    def LayoutUpdated(self, revision: int, parent: int) -> RevisionAndParent:  # noqa: N802
        return [revision, parent]

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> UInt:  # noqa: N802
        return 3

    @dbus_property(access=PropertyAccess.READ)
    def TextDirection(self) -> Str:  # noqa: N802
        return "ltr"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> Str:  # noqa: N802
        return "normal"

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> Strings:  # noqa: N802
        return []
