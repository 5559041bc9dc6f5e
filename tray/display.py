"""Is there somewhere to show an icon? Checked before pystray is imported,
because its X backend connects at import time and, without a system tray to
dock into, waits forever for one.

- No display at all (a server, an SSH session): :class:`NoDisplay`.
- A display that cannot be opened, or that does not answer: :class:`NoDisplay`.
- An X display where nothing owns the system-tray selection
  (``_NET_SYSTEM_TRAY_S<screen>``, the freedesktop System Tray protocol) within
  a grace period (a panel that starts after the icon at login):
  :class:`NoTrayHost`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["NoDisplay", "NoTrayHost", "TrayUnavailable", "check_display", "wait_for_tray_host"]

T = TypeVar("T")


class TrayUnavailable(Exception):
    """The icon cannot be shown; the message says why and what to do."""


class NoDisplay(TrayUnavailable):
    pass


class NoTrayHost(TrayUnavailable):
    pass


def check_display(env: Mapping[str, str] | None = None, platform: str = sys.platform,
                  timeout_s: float = 10.0) -> None:
    """Raise :class:`NoDisplay` unless a graphical session is reachable."""
    if platform in ("win32", "darwin"):
        return  # a user's session always has its desktop; pystray's own errors say the rest
    env = os.environ if env is None else env
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY"):
            return  # pystray's AppIndicator backend talks to the panel over D-Bus
        raise NoDisplay(
            "no graphical display: DISPLAY is not set (a server or an SSH session?). "
            "The tray icon needs a desktop session; run `pximse serve` for the daemon alone."
        )

    _within(timeout_s, lambda: _open(display).close(),
            f"the X display {display!r} did not answer within {timeout_s:g} s")


def wait_for_tray_host(timeout_s: float, env: Mapping[str, str] | None = None) -> None:
    """Wait up to ``timeout_s`` for a system tray on the X display; raise
    :class:`NoTrayHost` if none appears. (For pystray's X backend only: the
    AppIndicator and GTK backends find the panel their own way.)"""
    import Xlib.error
    import Xlib.X

    env = os.environ if env is None else env
    display_name = env.get("DISPLAY", "")
    display = _within(10.0, lambda: _open(display_name),
                      f"the X display {display_name!r} did not answer")
    try:
        selection = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
        deadline = time.monotonic() + timeout_s
        while True:
            if display.get_selection_owner(selection) != Xlib.X.NONE:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    except (Xlib.error.ConnectionClosedError, OSError) as exc:
        raise NoDisplay(f"the X display {display_name!r} closed the connection: {exc}") from exc
    finally:
        try:
            display.close()
        except (Xlib.error.ConnectionClosedError, OSError):
            pass
    raise NoTrayHost(
        f"no system tray on the display {display_name!r} (waited {timeout_s:g} s): the desktop "
        "has no notification area to show the icon in. Add one to your panel (GNOME needs "
        "the AppIndicator extension; without a desktop, `trayer` or `stalonetray` are "
        "trays), or run `pximse serve` for the daemon alone."
    )


def _open(name: str) -> Any:
    import Xlib.display
    import Xlib.error

    try:
        return Xlib.display.Display(name)
    except (Xlib.error.DisplayError, OSError) as exc:
        raise NoDisplay(f"cannot open the X display {name!r}: {exc}") from exc


def _within(timeout_s: float, work: Callable[[], T], late: str) -> T:
    """``work()`` in a helper thread, so a display that never answers cannot hang us."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append((True, work()))
        except BaseException as exc:  # handed back to the caller's thread
            result.append((False, exc))

    worker = threading.Thread(target=run, name="display-check", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not result:
        raise NoDisplay(late)
    ok, value = result[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
