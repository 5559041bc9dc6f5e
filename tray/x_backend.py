"""Work-arounds for pystray's X11 backend (python-xlib), kept apart from the app.

Both are no-ops on other backends. They touch pystray's private ``_window`` and
``_display`` (pystray 0.19), and only to make sure of what its public
``stop()`` and cross-thread updates are meant to do.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pystray

__all__ = ["remove_icon_window", "wake_loop"]


def remove_icon_window(icon: pystray.Icon) -> None:
    """Make sure the icon has left the tray (pystray's X backend).

    The backend destroys its window from its own loop, on a display
    connection other threads write to as well; python-xlib can leave that
    request unsent, and the icon would stay in the tray after Quit. Any client
    may destroy a window, so a connection of our own makes sure of it.
    """
    window = getattr(icon, "_window", None)
    if window is None or not type(icon).__module__.endswith("_xorg"):
        return
    import Xlib.display
    import Xlib.error

    own = getattr(icon, "_display", None)
    if own is not None:  # its own late destroy request would be refused: not worth a message
        own.set_error_handler(lambda *args: None)
    try:
        display = Xlib.display.Display()
    except (Xlib.error.DisplayError, OSError):
        return
    try:
        display.set_error_handler(lambda *args: None)  # already gone: nothing to do
        display.create_resource_object("window", window.id).destroy()
        display.sync()
    except (Xlib.error.XError, OSError):
        pass
    finally:
        display.close()


def wake_loop(icon: pystray.Icon, stopping: threading.Event, period_s: float = 0.25) -> None:
    """Wake pystray's X loop a few times a second (pystray's X backend only).

    Other threads hand work to that loop by sending it an X message and
    flushing; python-xlib can return from that flush with the message still
    unsent when events arrive at the same moment, and it is sent only when the
    loop next wakes up -- which, on a quiet desktop, may be never: the icon
    would stop changing and Quit would hang. A message from a connection of
    our own (one the loop ignores) wakes it, and the stranded one goes out.
    """
    window = getattr(icon, "_window", None)
    if window is None or not type(icon).__module__.endswith("_xorg"):
        return
    import Xlib.display
    import Xlib.error
    import Xlib.protocol.event

    try:
        display = Xlib.display.Display()
    except (Xlib.error.DisplayError, OSError):
        return
    try:
        display.set_error_handler(lambda *args: None)  # the window may be gone already
        target = display.create_resource_object("window", window.id)
        wake = Xlib.protocol.event.ClientMessage(
            window=target, client_type=display.intern_atom("_PXIMSE_WAKE"),
            data=(32, (0, 0, 0, 0, 0)))
        while not stopping.wait(period_s):
            target.send_event(wake, event_mask=0)
            display.flush()
    except (Xlib.error.XError, Xlib.error.ConnectionClosedError, OSError):
        pass
    finally:
        try:
            display.close()
        except (Xlib.error.ConnectionClosedError, OSError):
            pass
