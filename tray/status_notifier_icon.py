"""The tray icon on a StatusNotifier panel, with pystray's interface.

:class:`StatusNotifierIcon` is what :class:`pximse.tray.app.TrayApp` drives
on a desktop whose panel hosts StatusNotifierItems (see
:mod:`pximse.tray.status_notifier_item`): the same ``icon``, ``title``,
``visible``, ``run``/``stop``, ``update_menu`` and ``notify`` as a pystray
icon, so the app is one and the same on every backend. Its menu is a
:class:`pximse.tray.menu.Menu`, served over ``com.canonical.dbusmenu``.

``run`` owns an asyncio loop and the D-Bus connection: it exports the item
and its menu, takes a bus name of its own, and registers that name with the
session's ``org.kde.StatusNotifierWatcher`` -- again whenever a watcher
(re)appears, since a panel that restarts forgets its items. Everything else
may be called from any thread: changes are handed to the loop. Menu clicks
run their actions on a thread of their own, one at a time and in order, so a
slow daemon never stalls the panel's calls.

Notifications go to ``org.freedesktop.Notifications`` on the same bus.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dbus_fast import DBusError, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from PIL import Image

from pximse.tray import session_bus
from pximse.tray.dbusmenu import DBusMenu
from pximse.tray.menu import Menu, MenuItem
from pximse.tray.status_notifier_item import (
    ITEM_PATH,
    MENU_PATH,
    WATCHER_INTERFACE,
    WATCHER_NAME,
    WATCHER_PATH,
    ItemStatus,
    StatusNotifierItem,
    icon_pixmaps,
)

__all__ = ["StatusNotifierIcon"]

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
"""How long a caller waits for the loop to carry out a request (a bus that no
longer answers must not hang the tray)."""

_item_numbers = iter(range(1, 1_000_000))


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
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._bus: MessageBus | None = None
        self._stop_requested = False
        self._stopping = asyncio.Event()
        self._notification_id = 0
        self._actions: queue.Queue[Callable[[], object]] = queue.Queue()
        self._action_thread: threading.Thread | None = None

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
        pixmaps = icon_pixmaps(image)
        self._on_loop(lambda: self._item.show(pixmaps=pixmaps))

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, text: str) -> None:
        self._title = text
        self._on_loop(lambda: self._item.show(tooltip=text))

    @property
    def status(self) -> ItemStatus:
        return self._status

    @status.setter
    def status(self, status: ItemStatus) -> None:
        """``Active``, or ``NeedsAttention`` (a panel may highlight the icon)."""
        self._status = status
        if self._visible:
            self._on_loop(lambda: self._item.show(status=status))

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
        status: ItemStatus = self._status if value else "Passive"
        self._on_loop(lambda: self._item.show(status=status))
        if value:
            self._wait_for(self._register())

    def __call__(self) -> None:
        """What a click on the icon does: the menu's default item."""
        self._menu(self)
        self.update_menu()

    def update_menu(self) -> None:
        """Read the menu's labels again; the panel is told what changed."""
        self._on_loop(self._dbusmenu.refresh)

    def notify(self, message: str, title: str | None = None) -> None:
        """A desktop notification (replacing the one before); raises
        :class:`dbus_fast.DBusError` where no notification service runs."""
        self._wait_for(self._notify(message, title or self._item.Title))

    def remove_notification(self) -> None:
        if self._notification_id:
            self._wait_for(self._close_notification())

    def run(self, setup: Callable[[StatusNotifierIcon], object] | None = None) -> None:
        """Serve the item until :meth:`stop` (blocks). ``setup`` runs in a thread
        of its own once the item is on the bus (by default: show the icon)."""
        loop = asyncio.new_event_loop()
        with self._lock:
            if self._stop_requested:
                loop.close()
                return
            self._loop, self._loop_thread = loop, threading.get_ident()
        try:
            loop.run_until_complete(self._serve(setup or _show))
        finally:
            with self._lock:
                self._loop = self._loop_thread = None
            loop.close()

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop has just closed

    # --- the loop ------------------------------------------------------------------------

    async def _serve(self, setup: Callable[[StatusNotifierIcon], object]) -> None:
        address = self._bus_address or session_bus.session_bus_address()
        if address is None:
            raise RuntimeError("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set")
        bus = await session_bus.connect(address)
        self._bus = bus
        try:
            bus.export(ITEM_PATH, self._item)
            bus.export(MENU_PATH, self._dbusmenu)
            reply = await bus.request_name(self._bus_name, NameFlag.DO_NOT_QUEUE)
            if reply != RequestNameReply.PRIMARY_OWNER:
                raise RuntimeError(f"the bus name {self._bus_name} is taken ({reply.name})")
            await self._follow_watcher(bus)
            log.info("StatusNotifierItem %s on the session bus (%s)", self._bus_name,
                     bus.unique_name)
            threading.Thread(target=setup, args=(self,), name="icon-setup", daemon=True).start()
            await self._stopping.wait()
        finally:
            self._bus = None
            bus.disconnect()
            try:
                await asyncio.wait_for(bus.wait_for_disconnect(), 5)
            except (TimeoutError, OSError, EOFError):
                pass

    async def _follow_watcher(self, bus: MessageBus) -> None:
        """Register again whenever a StatusNotifierWatcher takes its name (a
        panel that starts after the icon, or restarts)."""
        await session_bus.call(
            bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "AddMatch", "s",
            [f"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
             f"member='NameOwnerChanged',arg0='{WATCHER_NAME}'"])

        def on_message(message: Any) -> None:
            if (message.member == "NameOwnerChanged" and message.body
                    and message.body[0] == WATCHER_NAME):
                if message.body[2]:
                    log.info("a StatusNotifierWatcher appeared (%s): registering", message.body[2])
                    asyncio.get_running_loop().create_task(self._register())
                else:
                    log.info("the StatusNotifierWatcher went away; waiting for another")

        bus.add_message_handler(on_message)

    async def _register(self) -> None:
        bus = self._bus
        if bus is None or not self._visible:
            return
        try:
            await session_bus.call(bus, WATCHER_NAME, WATCHER_PATH, WATCHER_INTERFACE,
                                   "RegisterStatusNotifierItem", "s", [self._bus_name])
        except DBusError as exc:
            log.info("no StatusNotifierWatcher took the icon (%s: %s); it shows when one "
                     "starts", exc.type, exc.text)
            return
        log.info("registered with the StatusNotifierWatcher")

    async def _notify(self, message: str, title: str) -> None:
        bus = self._bus
        if bus is None:
            raise RuntimeError("the icon is not on the bus")
        [self._notification_id] = await session_bus.call(
            bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications", "Notify", "susssasa{sv}i",
            [self._item.Title, self._notification_id, "", title, message, [],
             {"urgency": Variant("y", 1)}, -1])

    async def _close_notification(self) -> None:
        bus, number = self._bus, self._notification_id
        if bus is None or not number:
            return
        self._notification_id = 0
        await session_bus.call(bus, "org.freedesktop.Notifications",
                               "/org/freedesktop/Notifications",
                               "org.freedesktop.Notifications", "CloseNotification", "u",
                               [number])

    # --- between threads --------------------------------------------------------------------

    def _on_loop(self, change: Callable[[], object]) -> None:
        """Make ``change`` on the loop's thread (at once where there is no loop:
        nobody is watching yet)."""
        with self._lock:
            loop = self._loop
            if loop is None:
                change()
                return
            try:
                loop.call_soon_threadsafe(change)
            except RuntimeError:
                change()  # the loop has just closed

    def _wait_for(self, work: Coroutine[Any, Any, T]) -> T | None:
        """Run ``work`` on the loop and wait for its result (None without a
        loop; not waited for when called on the loop's own thread)."""
        with self._lock:
            loop, loop_thread = self._loop, self._loop_thread
        if loop is None:
            work.close()
            return None
        if loop_thread == threading.get_ident():
            loop.create_task(work)
            return None
        return asyncio.run_coroutine_threadsafe(work, loop).result(CALL_TIMEOUT_S)

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


def _show(icon: StatusNotifierIcon) -> None:
    icon.visible = True
