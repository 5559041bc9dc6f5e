"""The tray icon as a StatusNotifierItem: the D-Bus object a desktop's panel
reads to show an application's icon (``org.kde.StatusNotifierItem``, the
protocol behind "AppIndicators").

KDE Plasma, the GNOME Shell AppIndicator extension (as Ubuntu ships it), XFCE's
and Cinnamon's panels and waybar (Sway and other wlroots desktops) host such
items; on Wayland it is the only tray there is. The panel registers as a host
with the session's ``org.kde.StatusNotifierWatcher``; an item registers its
bus name with the watcher, and the host then reads the item's properties and
follows its ``New…`` signals.

What the item shows: the picture as ``IconPixmap`` (ARGB32 pixels in network
byte order, at the sizes panels draw), the one-line state as ``ToolTip``,
``Status`` ``NeedsAttention`` when something needs the user (the red icon:
a panel may highlight it) and ``Active`` otherwise, and ``Menu``, the path
of the ``com.canonical.dbusmenu`` object (:mod:`pximse.tray.dbusmenu`). A
click on the icon (``Activate``) runs the menu's default item.

The reference is freedesktop.org's StatusNotifierItem specification and
KDE's ``org.kde.StatusNotifierItem.xml`` (the interface below is its
subset hosts read: Ayatana's and KDE's own items add nothing a host needs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from PIL import Image

from pximse.tray.dbus_server import ExportedObject, MethodError, Reply

__all__ = [
    "ITEM_INTERFACE",
    "ITEM_PATH",
    "MENU_PATH",
    "WATCHER_INTERFACE",
    "WATCHER_NAME",
    "WATCHER_PATH",
    "ItemStatus",
    "StatusNotifierItem",
    "icon_pixmaps",
]

ITEM_INTERFACE = "org.kde.StatusNotifierItem"
ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
WATCHER_NAME = WATCHER_INTERFACE = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
PIXMAP_SIZES = (16, 22, 24, 32, 48, 64)
"""Panels draw icons at 16 to 48 pixels (more on HiDPI screens) and pick the
nearest size offered; each is resampled from the picture once, here, rather
than by every panel."""

ItemStatus = Literal["Passive", "Active", "NeedsAttention"]

ITEM_XML = """\
  <interface name="org.kde.StatusNotifierItem">
    <property name="Category" type="s" access="read"/>
    <property name="Id" type="s" access="read"/>
    <property name="Title" type="s" access="read"/>
    <property name="Status" type="s" access="read"/>
    <property name="WindowId" type="i" access="read"/>
    <property name="IconName" type="s" access="read"/>
    <property name="IconThemePath" type="s" access="read"/>
    <property name="IconPixmap" type="a(iiay)" access="read"/>
    <property name="OverlayIconName" type="s" access="read"/>
    <property name="OverlayIconPixmap" type="a(iiay)" access="read"/>
    <property name="AttentionIconName" type="s" access="read"/>
    <property name="AttentionIconPixmap" type="a(iiay)" access="read"/>
    <property name="AttentionMovieName" type="s" access="read"/>
    <property name="ToolTip" type="(sa(iiay)ss)" access="read"/>
    <property name="ItemIsMenu" type="b" access="read"/>
    <property name="Menu" type="o" access="read"/>
    <method name="ContextMenu"><arg name="x" type="i" direction="in"/>\
<arg name="y" type="i" direction="in"/></method>
    <method name="Activate"><arg name="x" type="i" direction="in"/>\
<arg name="y" type="i" direction="in"/></method>
    <method name="SecondaryActivate"><arg name="x" type="i" direction="in"/>\
<arg name="y" type="i" direction="in"/></method>
    <method name="Scroll"><arg name="delta" type="i" direction="in"/>\
<arg name="orientation" type="s" direction="in"/></method>
    <signal name="NewTitle"/>
    <signal name="NewIcon"/>
    <signal name="NewAttentionIcon"/>
    <signal name="NewOverlayIcon"/>
    <signal name="NewToolTip"/>
    <signal name="NewStatus"><arg name="status" type="s"/></signal>
  </interface>
"""

Pixmap = tuple[int, int, bytes]


def icon_pixmaps(image: Image.Image, sizes: Sequence[int] = PIXMAP_SIZES) -> list[Pixmap]:
    """``image`` as StatusNotifierItem pixmaps: ``(width, height, ARGB32 bytes)``
    for each size, alpha first, each channel a byte (network byte order)."""
    rgba = image.convert("RGBA")
    pixmaps = []
    for size in sorted(set(sizes)):
        scaled = rgba if rgba.size == (size, size) else \
            rgba.resize((size, size), Image.Resampling.LANCZOS)
        red, green, blue, alpha = scaled.split()
        pixmaps.append((size, size, Image.merge("RGBA", (alpha, red, green, blue)).tobytes()))
    return pixmaps


class StatusNotifierItem(ExportedObject):
    """The item's state, read by the panel on the server's thread and changed
    by :meth:`show` from any other, which announces each change."""

    path = ITEM_PATH
    interface = ITEM_INTERFACE
    interface_xml = ITEM_XML

    def __init__(self, item_id: str, title: str, on_activate: Callable[[], None]) -> None:
        super().__init__()
        self.item_id = item_id
        self.title = title
        self._on_activate = on_activate
        self._lock = threading.Lock()
        self._pixmaps: list[Pixmap] = []
        self._tooltip = ""
        self._status: ItemStatus = "Passive"

    def show(self, *, pixmaps: list[Pixmap] | None = None, tooltip: str | None = None,
             status: ItemStatus | None = None) -> None:
        """Change what the item shows, and send the signals for what changed."""
        with self._lock:
            new_icon = pixmaps is not None and pixmaps != self._pixmaps
            new_tooltip = tooltip is not None and tooltip != self._tooltip
            new_status = status is not None and status != self._status
            if pixmaps is not None:
                self._pixmaps = pixmaps
            if tooltip is not None:
                self._tooltip = tooltip
            if status is not None:
                self._status = status
        if new_icon:
            self.emit("NewIcon")
        if new_tooltip:
            self.emit("NewToolTip")
        if new_status:
            self.emit("NewStatus", "s", [status])

    @property
    def status(self) -> ItemStatus:
        return self._status

    def properties(self) -> dict[str, tuple[str, Any]]:
        with self._lock:
            pixmaps, tooltip, status = self._pixmaps, self._tooltip, self._status
        return {
            "Category": ("s", "ApplicationStatus"),
            "Id": ("s", self.item_id),
            "Title": ("s", self.title),
            "Status": ("s", status),
            "WindowId": ("i", 0),
            # The picture is drawn, not a theme's: IconPixmap, no IconName.
            "IconName": ("s", ""),
            "IconThemePath": ("s", ""),
            "IconPixmap": ("a(iiay)", pixmaps),
            "OverlayIconName": ("s", ""),
            "OverlayIconPixmap": ("a(iiay)", []),
            # The picture itself turns red when something needs attention: no
            # second picture (hosts show IconPixmap when this is empty).
            "AttentionIconName": ("s", ""),
            "AttentionIconPixmap": ("a(iiay)", []),
            "AttentionMovieName": ("s", ""),
            # (icon name, icon pixmaps, title, description): the state in one line.
            "ToolTip": ("(sa(iiay)ss)", ("", [], tooltip, "")),
            # A click runs the default item; the menu is on the other button.
            "ItemIsMenu": ("b", False),
            "Menu": ("o", MENU_PATH),
        }

    def handle(self, member: str, args: Sequence[Any]) -> Reply:
        if member == "Activate":
            self._on_activate()
        elif member not in ("SecondaryActivate", "ContextMenu", "Scroll"):
            # SecondaryActivate (a middle click) and Scroll do nothing here;
            # ContextMenu is for items without a Menu: the panel draws ours.
            raise MethodError("org.freedesktop.DBus.Error.UnknownMethod",
                              f"{ITEM_INTERFACE} has no method {member}")
        return None, ()
