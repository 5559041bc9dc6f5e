"""Work-arounds for pystray's X11 backend (python-xlib), kept apart from the app.

All are no-ops on other backends. They touch pystray's private ``_window`` and
``_display`` (pystray 0.19), and only to make sure of what its public
``stop()`` and cross-thread updates are meant to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pystray

__all__ = ["remove_icon_window", "request_dock", "wait_until_docked", "wake_loop"]


def remove_icon_window(icon: pystray.Icon) -> None:
    """Make sure the icon has left the tray (pystray's X backend).

    The backend destroys its window from its own loop, on a display
    connection other threads write to as well; python-xlib can leave that
    request unsent, and the icon would stay in the tray after Quit. Any client
    may destroy a window, so a connection of our own makes sure of it.
    """
    loop_display = getattr(icon, "_display", None)
    if loop_display is not None and _xorg_window(icon) is not None:
        # A grab the loop took and whose ungrab it left unsent (see wake_loop)
        # would keep the connection below from ever being answered.
        _flush_quietly(loop_display)
        loop_display.set_error_handler(lambda *args: None)  # its late destroy is refused
    with _own_connection(icon) as own:
        if own is not None:
            display, window = own
            display.create_resource_object("window", window.id).destroy()
            display.sync()


def wait_until_docked(icon: pystray.Icon, timeout_s: float, stopping: threading.Event) -> bool:
    """Wait until the system tray has embedded the icon (pystray's X backend;
    elsewhere True at once). False when it has not within ``timeout_s``.

    A tray embeds an icon by reparenting its window into its own. A dock
    request can go unanswered -- a tray still busy with an icon that just
    left, a panel restarting at login -- and pystray never asks again.
    """
    with _own_connection(icon) as own:
        if own is None:
            return True  # not X, or no connection to tell: take pystray's word for it
        display, window = own
        ours = display.create_resource_object("window", window.id)
        root = display.screen().root
        deadline = time.monotonic() + timeout_s
        while True:
            if ours.query_tree().parent != root:
                return True
            if time.monotonic() >= deadline or stopping.wait(0.1):
                return False
    return True  # the window is gone (Quit): nothing to dock


def request_dock(icon: pystray.Icon) -> None:
    """Ask the system tray again to embed the icon (pystray's X backend only).

    The request is the one pystray sends when the icon is shown; any client
    may send it, so a connection of our own does, leaving pystray's state
    (and the icon's window) as it is. A tray that already holds the icon
    ignores it.
    """
    with _own_connection(icon) as own:
        if own is None:
            return
        import Xlib.protocol.event
        from Xlib import X

        display, window = own
        selection = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
        owner = display.get_selection_owner(selection)
        if owner == X.NONE:
            return  # no tray right now; pystray docks when one appears
        request = Xlib.protocol.event.ClientMessage(
            window=owner, client_type=display.intern_atom("_NET_SYSTEM_TRAY_OPCODE"),
            data=(32, (X.CurrentTime, 0, window.id, 0, 0)))  # 0: SYSTEM_TRAY_REQUEST_DOCK
        owner.send_event(request, event_mask=X.NoEventMask)
        display.flush()


def wake_loop(icon: pystray.Icon, loop_ended: threading.Event, period_s: float = 0.25) -> None:
    """Push out what pystray's X loop left unsent, a few times a second, until
    ``loop_ended`` is set (pystray's X backend only).

    python-xlib's flush returns at once, leaving requests unsent, when another
    thread is sending on the same connection at that moment -- and pystray's
    loop and the threads that hand it work share one. Two kinds of stranded
    request hang the tray: a message to the loop (the icon would stop changing
    and Quit would hang, on a quiet desktop for ever), and the ungrab that
    follows the server grab pystray takes around every docking and icon
    change (the whole X server would stop answering every client, this tray's
    other connections included). Flushing the loop's connection from here
    sends both; a message from a connection of our own (one the loop ignores)
    wakes the loop when nothing else does.
    """
    loop_display = getattr(icon, "_display", None)
    with _own_connection(icon) as own:
        if own is None:
            return
        import Xlib.protocol.event

        display, window = own
        target = display.create_resource_object("window", window.id)
        wake = Xlib.protocol.event.ClientMessage(
            window=target, client_type=display.intern_atom("_PXIMSE_WAKE"),
            data=(32, (0, 0, 0, 0, 0)))
        while not loop_ended.wait(period_s):
            if loop_display is not None:
                _flush_quietly(loop_display)
            target.send_event(wake, event_mask=0)
            display.flush()


def _xorg_window(icon: pystray.Icon) -> Any:
    """The icon's X window under pystray's X backend; None under any other."""
    window = getattr(icon, "_window", None)
    return window if type(icon).__module__.endswith("_xorg") else None


@contextmanager
def _own_connection(icon: pystray.Icon) -> Iterator[tuple[Any, Any] | None]:
    """A display connection of our own and the icon's window (None when the
    backend is not X or the display cannot be opened). X errors end the block
    quietly -- the window may be gone already -- and the connection is closed."""
    window = _xorg_window(icon)
    if window is None:
        yield None
        return
    import Xlib.display
    import Xlib.error

    try:
        display = Xlib.display.Display()
    except (Xlib.error.DisplayError, OSError):
        yield None
        return
    display.set_error_handler(lambda *args: None)
    try:
        yield display, window
    except (Xlib.error.XError, Xlib.error.ConnectionClosedError, OSError):
        pass
    finally:
        try:
            display.close()
        except (Xlib.error.ConnectionClosedError, OSError):
            pass


def _flush_quietly(display: object) -> None:
    import Xlib.error

    try:
        display.flush()  # type: ignore[attr-defined]
    except (Xlib.error.ConnectionClosedError, OSError):
        pass  # closed at exit: nothing left to send
