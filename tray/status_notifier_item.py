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
KDE's ``org.kde.StatusNotifierItem.xml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal
from PIL import Image

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

Int = Annotated[int, DBusSignature("i")]
Bool = Annotated[bool, DBusSignature("b")]
Str = Annotated[str, DBusSignature("s")]
ObjectPath = Annotated[str, DBusSignature("o")]
Pixmaps = Annotated[list[Any], DBusSignature("a(iiay)")]
ToolTipStruct = Annotated[list[Any], DBusSignature("(sa(iiay)ss)")]


def icon_pixmaps(image: Image.Image, sizes: Sequence[int] = PIXMAP_SIZES) -> list[list[Any]]:
    """``image`` as StatusNotifierItem pixmaps: ``[width, height, ARGB32 bytes]``
    for each size, alpha first, each channel a byte (network byte order)."""
    rgba = image.convert("RGBA")
    pixmaps = []
    for size in sorted(set(sizes)):
        scaled = rgba if rgba.size == (size, size) else \
            rgba.resize((size, size), Image.Resampling.LANCZOS)
        red, green, blue, alpha = scaled.split()
        pixmaps.append([size, size, Image.merge("RGBA", (alpha, red, green, blue)).tobytes()])
    return pixmaps


class StatusNotifierItem(ServiceInterface):
    """The item's state lives here and changes only on the D-Bus loop's thread
    (:meth:`show`), which also announces each change to the panel."""

    def __init__(self, item_id: str, title: str, on_activate: Callable[[], None]) -> None:
        super().__init__(ITEM_INTERFACE)
        self._id = item_id
        self._title = title
        self._on_activate = on_activate
        self._pixmaps: list[list[Any]] = []
        self._tooltip = ""
        self._status: ItemStatus = "Passive"

    def show(self, *, pixmaps: list[list[Any]] | None = None, tooltip: str | None = None,
             status: ItemStatus | None = None) -> None:
        """Change what the item shows, and send the signals for what changed."""
        if pixmaps is not None and pixmaps != self._pixmaps:
            self._pixmaps = pixmaps
            self.NewIcon()
            self.NewAttentionIcon()
        if tooltip is not None and tooltip != self._tooltip:
            self._tooltip = tooltip
            self.NewToolTip()
        if status is not None and status != self._status:
            self._status = status
            self.NewStatus(status)

    # --- properties --------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> Str:  # noqa: N802 (the protocol's names)
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> Str:  # noqa: N802
        return self._id

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> Str:  # noqa: N802
        return self._title

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> Str:  # noqa: N802
        return self._status

    @dbus_property(access=PropertyAccess.READ)
    def WindowId(self) -> Int:  # noqa: N802
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def IconName(self) -> Str:  # noqa: N802
        return ""  # the picture is drawn, not a theme's: IconPixmap

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> Str:  # noqa: N802
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> Pixmaps:  # noqa: N802
        return self._pixmaps

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconName(self) -> Str:  # noqa: N802
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconPixmap(self) -> Pixmaps:  # noqa: N802
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconName(self) -> Str:  # noqa: N802
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconPixmap(self) -> Pixmaps:  # noqa: N802
        # The picture already says what needs attention (it turns red).
        return self._pixmaps

    @dbus_property(access=PropertyAccess.READ)
    def AttentionMovieName(self) -> Str:  # noqa: N802
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def ToolTip(self) -> ToolTipStruct:  # noqa: N802
        # (icon name, icon pixmaps, title, description): the state in one line.
        return ["", [], self._tooltip, ""]

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> Bool:  # noqa: N802
        return False  # a click runs the default item; the menu is on the other button

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> ObjectPath:  # noqa: N802
        return MENU_PATH

    # --- methods the panel calls (no return annotation: dbus-fast reads it as the
    # reply's signature, and these reply with nothing) ------------------------------

    @dbus_method()
    def Activate(self, x: Int, y: Int):  # noqa: N802
        self._on_activate()

    @dbus_method()
    def SecondaryActivate(self, x: Int, y: Int):  # noqa: N802
        pass  # a middle click: nothing of its own

    @dbus_method()
    def ContextMenu(self, x: Int, y: Int):  # noqa: N802
        pass  # only for items without a Menu: the panel draws ours from dbusmenu

    @dbus_method()
    def Scroll(self, delta: Int, orientation: Str):  # noqa: N802
        pass

    # --- signals ---------------------------------------------------------------------

    @dbus_signal()
    def NewTitle(self) -> None:  # noqa: N802
        pass

    @dbus_signal()
    def NewIcon(self) -> None:  # noqa: N802
        pass

    @dbus_signal()
    def NewAttentionIcon(self) -> None:  # noqa: N802
        pass

    @dbus_signal()
    def NewOverlayIcon(self) -> None:  # noqa: N802
        pass

    @dbus_signal()
    def NewToolTip(self) -> None:  # noqa: N802
        pass

    @dbus_signal()
    def NewStatus(self, status: str) -> Str:  # noqa: N802
        return status
