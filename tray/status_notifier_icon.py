"""The tray icon on a StatusNotifier panel, with pystray's interface.

:class:`StatusNotifierIcon` is what :class:`pximse.tray.app.TrayApp` drives
on a desktop whose panel hosts StatusNotifierItems (see
:mod:`pximse.tray.status_notifier_item`): the same ``icon``, ``title``,
``visible``, ``run``/``stop``, ``update_menu`` and ``notify`` as a pystray
icon, so the app is one and the same on every backend. Its menu is a
:class:`pximse.tray.menu.Menu`, served over ``com.canonical.dbusmenu``.

``run`` holds the D-Bus connection: it serves the item and its menu, takes
a bus name of its own, and registers that name with the session's
``org.kde.StatusNotifierWatcher`` -- again whenever a watcher (re)appears,
since a panel that restarts forgets its items. Everything else may be
called from any thread: a change is stored and announced to the panel at
once. Menu clicks run their actions on a thread of their own, one at a time
and in order, so a slow daemon never stalls the panel's calls.

Notifications go to ``org.freedesktop.Notifications`` on the same bus.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from jeepney import DBusErrorResponse, MatchRule
from PIL import Image

from pximse.tray import session_bus
from pximse.tray.dbus_server import ObjectServer
from pximse.tray.dbusmenu import DBusMenu
from pximse.tray.menu import Menu, MenuItem
from pximse.tray.status_notifier_item import (
    WATCHER_INTERFACE,
    WATCHER_NAME,
    WATCHER_PATH,
    ItemStatus,
    StatusNotifierItem,
    icon_pixmaps,
)

__all__ = ["StatusNotifierIcon"]

log = logging.getLogger(__name__)

NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
DO_NOT_QUEUE = 4
PRIMARY_OWNER = 1

_item_numbers = itertools.count(1)
"""Numbers the icons of this process, for their bus names (as libappindicator does)."""


class StatusNotifierIcon:
    HAS_DEFAULT_ACTION = True
    HAS_MENU = True
    HAS_MENU_RADIO = False
    HAS_NOTIFICATION = True
    HAS_STATUS = True
    """Beyond pystray: :attr:`status` says whether the icon needs attention."""

    def __init__(self, name: str, icon: Image.Image | None = None, title: str | None = None,
                 menu: Menu | None = None, *, bus_address: str | None = None,
                 display_title: str = "PxIMSE") -> None:
        self._name = name
        self._icon = icon
        self._title = title or ""
        self._menu = menu or Menu()
        self._visible = False
        self._status: ItemStatus = "Active"
        self._bus_address = bus_address
        self._bus_name = f"org.kde.StatusNotifierItem-{os.getpid()}-{next(_item_numbers)}"
        self._item = StatusNotifierItem(name, display_title, on_activate=self._activate)
        self._item.show(pixmaps=icon_pixmaps(icon) if icon else [], tooltip=self._title)
        self._dbusmenu = DBusMenu(self._menu, on_click=self._click)
        self._bus: session_bus.BusConnection | None = None
        self._stopping = threading.Event()
        self._notification_id = 0
        self._actions: queue.Queue[Callable[[], object]] = queue.Queue()
        self._action_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- pystray's interface ----------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def bus_name(self) -> str:
        """The name the item registers with the watcher."""
        return self._bus_name

    @property
    def menu(self) -> Menu:
        return self._menu

    @property
    def icon(self) -> Image.Image | None:
        return self._icon

    @icon.setter
    def icon(self, image: Image.Image) -> None:
        self._icon = image
        self._item.show(pixmaps=icon_pixmaps(image))

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, text: str) -> None:
        self._title = text
        self._item.show(tooltip=text)

    @property
    def status(self) -> ItemStatus:
        return self._status

    @status.setter
    def status(self, status: ItemStatus) -> None:
        """``Active``, or ``NeedsAttention`` (a panel may highlight the icon)."""
        self._status = status
        if self._visible:
            self._item.show(status=status)

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        """Shown: ``Status`` as set, and registered with the watcher; hidden:
        ``Passive`` (panels leave such items out)."""
        if value == self._visible:
            return
        if value and self._icon is None:
            raise ValueError("cannot show icon without icon data")
        self._visible = value
        self._item.show(status=self._status if value else "Passive")
        if value:
            self._register()

    def __call__(self) -> None:
        """What a click on the icon does: the menu's default item."""
        self._menu(self)
        self.update_menu()

    def update_menu(self) -> None:
        """Read the menu's labels again; the panel is told what changed."""
        self._dbusmenu.refresh()

    def notify(self, message: str, title: str | None = None) -> None:
        """A desktop notification (replacing the one before); raises one of
        :data:`pximse.tray.session_bus.CallFailed` where no notification
        service answers, RuntimeError before :meth:`run`."""
        [self._notification_id] = session_bus.call(
            self._connected(), NOTIFICATIONS, NOTIFICATIONS_PATH, NOTIFICATIONS, "Notify",
            "susssasa{sv}i", [self._item.title, self._notification_id, "",
                              title or self._item.title, message, [], {"urgency": ("y", 1)},
                              -1])

    def remove_notification(self) -> None:
        number, self._notification_id = self._notification_id, 0
        if number:
            session_bus.call(self._connected(), NOTIFICATIONS, NOTIFICATIONS_PATH,
                             NOTIFICATIONS, "CloseNotification", "u", [number])

    def run(self, setup: Callable[[StatusNotifierIcon], object] | None = None) -> None:
        """Serve the item until :meth:`stop` (blocks). ``setup`` runs in a thread
        of its own once the item is on the bus (by default: show the icon)."""
        if self._stopping.is_set():
            return
        address = self._bus_address or session_bus.session_bus_address()
        if address is None:
            raise RuntimeError("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set")
        bus = session_bus.BusConnection(address)
        try:
            server = ObjectServer(bus)
            server.export(self._item)
            server.export(self._dbusmenu)
            [answer] = session_bus.call(bus, session_bus.BUS_NAME, session_bus.BUS_PATH,
                                        session_bus.BUS_NAME, "RequestName", "su",
                                        [self._bus_name, DO_NOT_QUEUE])
            if answer != PRIMARY_OWNER:
                raise RuntimeError(f"the bus name {self._bus_name} is taken")
            with self._lock:
                self._bus = bus
            self._follow_watcher(bus)
            log.info("StatusNotifierItem %s on the session bus (%s)", self._bus_name,
                     bus.unique_name)
            threading.Thread(target=setup or _show, args=(self,), name="icon-setup",
                             daemon=True).start()
            if not server.serve(self._stopping):
                log.warning("the session bus closed the connection (the session ended?): "
                            "the icon is gone")
        finally:
            with self._lock:
                self._bus = None
            bus.close()  # our names leave the bus: the watcher drops the item

    def stop(self) -> None:
        self._stopping.set()

    # --- the watcher -----------------------------------------------------------------------

    def _follow_watcher(self, bus: session_bus.BusConnection) -> None:
        """Register again whenever a StatusNotifierWatcher takes its name (a
        panel that starts after the icon, or restarts)."""
        rule = MatchRule(type="signal", sender=session_bus.BUS_NAME,
                         interface=session_bus.BUS_NAME, member="NameOwnerChanged")
        rule.add_arg_condition(0, WATCHER_NAME)
        changes = session_bus.add_match(bus, rule)

        def follow() -> None:
            while not self._stopping.is_set():
                try:
                    _name, _old, new = changes.get(timeout=0.5).body
                except queue.Empty:
                    continue
                if new:
                    log.info("a StatusNotifierWatcher appeared (%s): registering", new)
                    self._register()
                else:
                    log.info("the StatusNotifierWatcher went away; waiting for another")

        threading.Thread(target=follow, name="watcher-follow", daemon=True).start()

    def _register(self, attempts: int = 5) -> None:
        """Register with the watcher; a watcher that says no (or is not there)
        is waited for, one that does not answer in time (a loaded machine at
        login) is asked again."""
        for attempt in range(1, attempts + 1):
            with self._lock:
                bus = self._bus
            if bus is None or not self._visible or self._stopping.is_set():
                return
            try:
                session_bus.call(bus, WATCHER_NAME, WATCHER_PATH, WATCHER_INTERFACE,
                                 "RegisterStatusNotifierItem", "s", [self._bus_name])
            except DBusErrorResponse as exc:
                log.info("no StatusNotifierWatcher took the icon (%s); it shows when one "
                         "starts", exc)
                return
            except (TimeoutError, OSError) as exc:
                log.warning("the StatusNotifierWatcher did not answer (attempt %d: %s)",
                            attempt, exc or type(exc).__name__)
                if self._stopping.wait(1.0):
                    return
                continue
            log.info("registered with the StatusNotifierWatcher")
            return

    # --- actions -----------------------------------------------------------------------------

    def _connected(self) -> session_bus.BusConnection:
        with self._lock:
            bus = self._bus
        if bus is None:
            raise RuntimeError("the icon is not on the bus")
        return bus

    def _activate(self) -> None:
        self._run_action(self)

    def _click(self, item: MenuItem) -> None:
        self._run_action(lambda: item(self))

    def _run_action(self, action: Callable[[], object]) -> None:
        """Run a menu action on the actions' thread: the panel's call returns at
        once, and clicks are carried out in the order they came."""
        self._actions.put(action)
        with self._lock:
            if self._action_thread is None:
                self._action_thread = threading.Thread(target=self._carry_out_actions,
                                                       name="menu-actions", daemon=True)
                self._action_thread.start()

    def _carry_out_actions(self) -> None:
        while True:
            action = self._actions.get()
            try:
                action()
            except Exception:  # an action's failure must not end the menu
                log.exception("a menu action failed")


def _show(icon: Any) -> None:
    icon.visible = True
