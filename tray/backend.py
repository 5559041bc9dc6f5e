"""Which way the icon is shown, and why (``pximse tray`` logs both).

- **StatusNotifierItem** (:mod:`pximse.tray.status_notifier_icon`): the icon
  and its whole menu over D-Bus, wherever the session's bus has an
  ``org.kde.StatusNotifierWatcher`` with a host registered -- KDE Plasma,
  GNOME with the AppIndicator extension, XFCE, Cinnamon, waybar on Sway. The
  only tray a Wayland session has.
- **pystray**: Windows' notification area, macOS's menu bar, and on Linux the
  X11 system tray (XEmbed), which has icons but no menus: a click opens the
  status window, whose buttons are the menu's items. Taken where no watcher
  appears, or where ``PYSTRAY_BACKEND`` names one of pystray's backends.

At login the panel may start after the icon, so ``choose_backend`` waits up
to the tray timeout for either to appear. A panel that offers both (XFCE,
KDE's XEmbed proxy) may take the X tray a moment before its watcher: an X
tray alone is taken only once it has been there for
:data:`BOTH_GRACE_S`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pximse.tray.display import NoTrayHost, TrayUnavailable, wait_for_tray_host

__all__ = [
    "BACKEND_CHOICES",
    "BOTH_GRACE_S",
    "IconBackend",
    "choose_backend",
    "pystray_backend",
    "statusnotifier_backend",
]

BACKEND_CHOICES = ("auto", "statusnotifier", "pystray")
BOTH_GRACE_S = 2.0
POLL_S = 0.1


@dataclass(frozen=True)
class IconBackend:
    """Icon, Menu and MenuItem classes with pystray's interface, and why they
    were chosen."""

    name: str
    """``statusnotifier`` or ``pystray``."""
    description: str
    """For the log: ``StatusNotifierItem`` or ``pystray's xorg backend (XEmbed)``."""
    reason: str
    Icon: Any
    Menu: Any
    MenuItem: Any
    icon_options: Mapping[str, Any] = field(default_factory=dict)

    def make_icon(self, name: str, image: Any, title: str, menu: Any) -> Any:
        return self.Icon(name, image, title, menu=menu, **self.icon_options)


def pystray_backend(reason: str = "") -> IconBackend:
    """pystray's own choice of backend (``PYSTRAY_BACKEND`` when set). Importing
    pystray imports that backend, which may connect to the display."""
    import pystray

    module = pystray.Icon.__module__.rsplit(".", 1)[-1].lstrip("_")
    description = f"pystray's {module} backend" + (" (XEmbed)" if module == "xorg" else "")
    return IconBackend("pystray", description, reason, pystray.Icon, pystray.Menu,
                       pystray.MenuItem)


def statusnotifier_backend(bus_address: str, reason: str = "") -> IconBackend:
    from pximse.tray.menu import Menu, MenuItem
    from pximse.tray.status_notifier_icon import StatusNotifierIcon

    return IconBackend("statusnotifier", "StatusNotifierItem", reason, StatusNotifierIcon, Menu,
                       MenuItem, {"bus_address": bus_address})


def choose_backend(requested: str = "auto", tray_timeout_s: float = 20.0,
                   env: Mapping[str, str] | None = None,
                   platform: str = sys.platform) -> IconBackend:
    """The backend for this session (``requested``: one of
    :data:`BACKEND_CHOICES`); :class:`TrayUnavailable` (with what to do) when
    there is nowhere to show the icon."""
    if requested not in BACKEND_CHOICES:
        raise ValueError(f"no icon backend {requested!r}: one of {', '.join(BACKEND_CHOICES)}")
    env = os.environ if env is None else env
    if requested == "pystray" or platform in ("win32", "darwin"):
        why = ("--backend pystray" if requested == "pystray"
               else "pystray's native backend on this platform")
        return _pystray_when_ready(why, tray_timeout_s)
    if requested == "auto" and env.get("PYSTRAY_BACKEND"):
        return _pystray_when_ready(f"PYSTRAY_BACKEND={env['PYSTRAY_BACKEND']} chooses it",
                                   tray_timeout_s)
    missing = _statusnotifier_missing(env)
    if missing is not None:
        if requested == "statusnotifier":
            raise TrayUnavailable(f"--backend statusnotifier: {missing}")
        return _pystray_when_ready(missing, tray_timeout_s)
    address = _address(env)
    found = _look_for_a_tray(address, env.get("DISPLAY", ""), tray_timeout_s,
                             x_tray_counts=requested == "auto")
    if found.kind == "statusnotifier":
        return statusnotifier_backend(address, found.reason)
    if found.kind == "x":
        return _pystray_when_ready(found.reason, tray_timeout_s)
    raise NoTrayHost(found.reason)


def _address(env: Mapping[str, str]) -> str:
    from pximse.tray.session_bus import session_bus_address

    address = session_bus_address(env)
    assert address is not None  # checked by _statusnotifier_missing
    return address


def _statusnotifier_missing(env: Mapping[str, str]) -> str | None:
    """Why the StatusNotifier path cannot be tried at all (None: it can)."""
    if importlib.util.find_spec("jeepney") is None:
        return ("jeepney is not installed, which showing the icon through "
                "StatusNotifierItem needs (pip install 'pximse[tray]')")
    from pximse.tray.session_bus import session_bus_address

    if session_bus_address(env) is None:
        return ("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is no "
                "$XDG_RUNTIME_DIR/bus), so no StatusNotifierWatcher to ask")
    return None


def _pystray_when_ready(reason: str, tray_timeout_s: float) -> IconBackend:
    """pystray's backend; for its X backend, once a system tray is there."""
    try:
        backend = pystray_backend(reason)
    except ImportError as exc:
        raise TrayUnavailable(
            f"the tray icon needs pystray ({exc}): pip install 'pximse[tray]'") from exc
    except Exception as exc:  # its X backend connects at import time
        raise TrayUnavailable(f"pystray cannot start: {exc}") from exc
    if backend.Icon.__module__.endswith("_xorg"):
        wait_for_tray_host(tray_timeout_s)
    return backend


@dataclass(frozen=True)
class _Found:
    kind: Literal["statusnotifier", "x", "none"]
    reason: str


def _look_for_a_tray(address: str, display: str, timeout_s: float,
                     x_tray_counts: bool) -> _Found:
    """Watch the session bus (and the X display) for a place to show the icon."""
    from pximse.tray.session_bus import BusConnection, CallFailed, get_property, name_owner
    from pximse.tray.status_notifier_item import WATCHER_INTERFACE, WATCHER_NAME, WATCHER_PATH

    try:
        bus = BusConnection(address)
    except Exception as exc:  # jeepney raises what the socket and the handshake raise
        if not x_tray_counts:
            raise TrayUnavailable(f"cannot connect to the D-Bus session bus at {address}: "
                                  f"{exc}") from exc
        return _Found("x", f"the D-Bus session bus at {address} does not answer ({exc})")
    x_tray = _XTrayWatch(display) if x_tray_counts and display else None
    try:
        deadline = time.monotonic() + timeout_s
        x_tray_since: float | None = None
        watcher: str | None = None
        while True:
            watcher = name_owner(bus, WATCHER_NAME)
            if watcher is not None:
                try:
                    hosted = bool(get_property(bus, WATCHER_NAME, WATCHER_PATH,
                                               WATCHER_INTERFACE,
                                               "IsStatusNotifierHostRegistered"))
                except CallFailed:
                    hosted = False
                if hosted:
                    return _Found("statusnotifier", (
                        f"the session bus has a StatusNotifierWatcher ({watcher}) with a "
                        f"host: the panel shows StatusNotifierItems and their menus"))
            now = time.monotonic()
            if x_tray is not None and x_tray.present():
                x_tray_since = now if x_tray_since is None else x_tray_since
                if now - x_tray_since >= BOTH_GRACE_S or now >= deadline:
                    return _Found("x", (
                        f"an X system tray is on {display!r} and the session bus has "
                        + (f"a StatusNotifierWatcher ({watcher}) but no host registered"
                           if watcher else "no StatusNotifierWatcher")))
            elif now >= deadline:
                break
            time.sleep(POLL_S)
    finally:
        if x_tray is not None:
            x_tray.close()
        bus.close()
    if watcher is not None:
        return _Found("statusnotifier", (
            f"the session bus has a StatusNotifierWatcher ({watcher}) but no host registered "
            f"yet (waited {timeout_s:g} s): the icon shows once a panel registers one"))
    where = f" and no X system tray on {display!r}" if x_tray is not None else ""
    return _Found("none", (
        f"no StatusNotifierWatcher on the D-Bus session bus{where} (waited {timeout_s:g} s): "
        "the desktop has no tray to show the icon in. GNOME needs the AppIndicator "
        "extension (Ubuntu ships it; elsewhere gnome-shell-extension-appindicator); "
        "on Sway, a bar with a tray (waybar's tray module); or run `pximse serve` for the "
        "daemon alone."))


class _XTrayWatch:
    """Whether something owns the X display's system-tray selection, asked on
    one connection held for the whole wait."""

    def __init__(self, display: str) -> None:
        self._display: Any = None
        try:
            import Xlib.display

            self._display = Xlib.display.Display(display)
            self._selection = self._display.intern_atom(
                f"_NET_SYSTEM_TRAY_S{self._display.get_default_screen()}")
        except Exception:  # no X display to ask (Wayland without XWayland)
            self._display = None

    def present(self) -> bool:
        if self._display is None:
            return False
        import Xlib.X

        try:
            return bool(self._display.get_selection_owner(self._selection) != Xlib.X.NONE)
        except Exception:
            self.close()
            return False

    def close(self) -> None:
        if self._display is not None:
            try:
                self._display.close()
            except Exception:
                pass
            self._display = None

