"""The tray icon: its menu, its actions, and following the daemon's state.

The icon is shown by a backend (:mod:`pximse.tray.backend`): a
StatusNotifierItem over D-Bus, or pystray's. Without one named, the app
takes pystray's, and importing pystray connects to the display: check the
display first (:mod:`pximse.tray.display`).

The icon follows ``/api/events`` (a status snapshot at least every 2 s while
the daemon works) and falls back to polling ``/api/status`` every few
seconds when the daemon has no event stream. Every action that fails is
reported with what the daemon answered -- as a notification where the
platform has them, otherwise at the top of the status window -- and logged.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pximse.tray.backend import IconBackend, pystray_backend
from pximse.tray.client import DaemonError
from pximse.tray.daemon_process import DaemonHandle
from pximse.tray.desktop_open import OpenFailed, open_file, open_url
from pximse.tray.icon_image import draw_icon
from pximse.tray.state import TrayState, state_from_status, status_lines
from pximse.tray.status_window_process import StatusWindowProcess
from pximse.tray.x_backend import (
    remove_icon_window,
    request_dock,
    wait_until_docked,
    wake_loop,
)

__all__ = ["TrayApp"]

log = logging.getLogger(__name__)

ACTION_LABELS = {
    "open_page": "Open search page",
    "pause": "Pause indexing",
    "resume": "Resume indexing",
    "rescan": "Rescan now",
    "show_status": "Show status",
    "open_log": "Open log file",
    "open_config": "Open config",
    "quit": "Quit",
}


def _bounded(call: Callable[..., object], *args: object, what: str, seconds: float) -> None:
    """Run ``call`` for at most ``seconds``: an X server or backend loop that no
    longer answers must not keep the tray up."""
    worker = threading.Thread(target=call, args=args, name=what, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        log.warning("%s did not finish within %g s; leaving it behind", what, seconds)


class TrayApp:
    def __init__(
        self,
        handle: DaemonHandle,
        *,
        config_path: Path,
        daemon_log: Path,
        poll_interval_s: float = 3.0,
        name: str = "pximse",
        backend: IconBackend | None = None,
    ) -> None:
        self.backend = backend if backend is not None else pystray_backend()
        self.handle = handle
        self.client = handle.client
        self.config_path = config_path
        self.daemon_log = daemon_log
        self.poll_interval_s = poll_interval_s
        self.status: dict[str, Any] | None = None
        self.problem: str | None = "connecting to the daemon"
        self.state: TrayState = state_from_status(None, self.problem)
        self.last_message = ""
        self.updated = threading.Condition()
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._refresh_pending = False
        self.window = StatusWindowProcess(self.perform)
        self.icon = self.backend.make_icon(name, draw_icon(self.state), self.state.title,
                                           self._menu())
        self._show_status()

    # --- the menu -------------------------------------------------------------

    def _menu(self) -> Any:
        # Without a menu (pystray's X backend) a click runs the default item:
        # the status window, which has a button for every action.
        status_is_default = not self.backend.Icon.HAS_MENU
        item = self.backend.MenuItem
        separator = self.backend.Menu.SEPARATOR
        return self.backend.Menu(
            item("Open search page", self._on("open_page"), default=not status_is_default),
            item(lambda _: "Resume indexing" if self.state.paused else "Pause indexing",
                 self._on("toggle_pause")),
            item("Rescan now", self._on("rescan")),
            item("Show status", self._on("show_status"), default=status_is_default),
            separator,
            item("Open log file", self._on("open_log")),
            item("Open config", self._on("open_config")),
            separator,
            item(lambda _: "Quit (stops the daemon)" if self.handle.started else "Quit",
                 self._on("quit")),
        )

    def menu_item(self, label_start: str) -> Any:
        """The menu item whose text starts with ``label_start``."""
        for entry in self.icon.menu.items:
            if entry.text.startswith(label_start):
                return entry
        raise KeyError(label_start)

    def _on(self, action: str) -> Callable[[Any, Any], None]:
        def callback(icon: Any = None, item: Any = None) -> None:
            self.perform(action)
        return callback

    # --- running --------------------------------------------------------------

    def run(self) -> bool:
        """Show the icon and follow the daemon until Quit (blocks); True when the
        icon's loop ended, False when it was left running (it answered no stop).

        Where the backend allows it (everywhere but macOS, whose icon must own
        the main thread), the icon's loop runs in a thread of its own and this
        thread waits for Quit: pystray's X backend can miss the event that
        ends its loop when other threads talk to the icon at the same moment,
        and Quit must end the tray all the same. A Quit (or a signal) that
        comes before or while the loop starts ends it too: the loop is not
        started, or stopped once it runs.
        """
        if sys.platform == "darwin":
            self.icon.run(setup=self._setup)
            return True
        if self.stopping.is_set():
            return True  # quit before the icon was shown
        loop = threading.Thread(target=self.icon.run, kwargs={"setup": self._setup},
                                name="icon", daemon=True)
        loop_ended = threading.Event()  # the wake-ups go on until the loop has ended
        threading.Thread(target=wake_loop, args=(self.icon, loop_ended), name="x-wake",
                         daemon=True).start()
        loop.start()
        try:
            while not self.stopped.wait(0.5):
                if not loop.is_alive() and not self.stopping.is_set():
                    break  # the backend's loop ended on its own (the display went away)
            loop.join(2)
            if loop.is_alive():  # the stop came as the loop started: it runs now
                self._stop_icon()
                loop.join(5)
            if loop.is_alive():
                log.warning("the icon's loop did not end")
            return not loop.is_alive()
        finally:
            loop_ended.set()

    def _setup(self, icon: Any) -> None:
        if self.stopping.is_set():  # a Quit that came before the loop ran missed it
            icon.stop()
            return
        # Following first: the state (and the status window) stays current even
        # if showing the icon is slow.
        threading.Thread(target=self._follow, name="follow-daemon", daemon=True).start()
        self._dock(icon)
        # What the state became meanwhile was stored, not shown: show it now.
        # Each change waits for the loop, which ends at Quit: none after it.
        for change in (lambda: setattr(icon, "icon", draw_icon(self.state)),
                       lambda: setattr(icon, "title", ""),
                       lambda: setattr(icon, "title", self.state.title)):
            if self.stopping.is_set():
                return
            change()

    def _dock(self, icon: Any, attempts: int = 5, wait_s: float = 5.0) -> None:
        """Show the icon, asking the system tray again while it does not take it."""
        for attempt in range(1, 6):
            try:
                icon.visible = True
                break
            except Exception:  # an X error while docking: the tray may be starting
                log.warning("showing the icon failed (attempt %d)", attempt, exc_info=True)
                if self.stopping.wait(1.0):
                    return
        for _ in range(attempts):
            if wait_until_docked(icon, wait_s, self.stopping) or self.stopping.is_set():
                return
            log.info("the system tray has not taken the icon within %g s; asking again",
                     wait_s)
            request_dock(icon)
        log.warning("the system tray did not take the icon after %d requests", attempts + 1)

    def quit(self) -> None:
        """Stop following, close the window and the icon; the caller then stops
        the daemon if the tray started it."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        try:
            self.window.close()
            self._stop_icon()
            _bounded(remove_icon_window, self.icon, what="removing the icon's window",
                     seconds=10)
        finally:
            self.stopped.set()

    def _stop_icon(self) -> None:
        _bounded(self.icon.stop, what="stopping the icon's loop", seconds=10)

    # --- following the daemon ---------------------------------------------------

    def refresh(self) -> None:
        """Ask the daemon for its status now and show it."""
        try:
            status, problem = self.client.status(), None
        except DaemonError as exc:
            status, problem = None, str(exc)
        self._show(status, problem)

    def _show(self, status: dict[str, Any] | None, problem: str | None) -> None:
        code = self.handle.exited()
        if code is not None:
            status, problem = None, (f"the daemon stopped (exit status {code}); "
                                     f"see {self.daemon_log}")
        before = self.state
        with self.updated:
            self.status, self.problem = status, problem
            self.state = state_from_status(status, problem)
            self.updated.notify_all()
        if self.state != before and not self.stopping.is_set():
            self.icon.icon = draw_icon(self.state)
            self.icon.title = self.state.title
            self._show_status()
            self.icon.update_menu()
        self.window.update(self._window_content())

    def _show_status(self) -> None:
        """Where the backend has a status (a StatusNotifierItem's), a problem
        asks for attention: a panel may highlight the icon."""
        if getattr(self.backend.Icon, "HAS_STATUS", False):
            self.icon.status = "NeedsAttention" if self.state.kind == "error" else "Active"

    def wait_for(self, predicate: Callable[[TrayState], bool], timeout_s: float) -> bool:
        """Wait until the shown state satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        with self.updated:
            while not predicate(self.state):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.updated.wait(left)
            return True

    def _follow(self) -> None:
        """Follow the event stream; poll instead where the daemon has none."""
        stream = True
        while not self.stopping.is_set():
            if stream:
                try:
                    for event in self.client.events():
                        if self.stopping.is_set():
                            return
                        if event.kind == "status":
                            payload = event.data.get("data", event.data)
                            self._show(payload if isinstance(payload, dict) else None, None)
                        else:  # files, scan, indexing, error: the counts moved
                            self._refresh_soon()
                except DaemonError as exc:
                    if exc.status in (404, 405):
                        log.info("the daemon has no event stream; polling /api/status")
                        stream = False
                    else:
                        log.debug("event stream ended: %s", exc)
                except OSError as exc:  # the connection dropped mid-stream
                    log.debug("event stream ended: %s", exc)
            self.refresh()
            self.stopping.wait(self.poll_interval_s)

    def _refresh_soon(self) -> None:
        """Refresh within a second: a burst of events is one status request."""
        with self.updated:
            if self._refresh_pending:
                return
            self._refresh_pending = True

        def run() -> None:
            with self.updated:
                self._refresh_pending = False
            if not self.stopping.is_set():
                self.refresh()

        timer = threading.Timer(1.0, run)
        timer.daemon = True
        timer.start()

    # --- actions --------------------------------------------------------------

    def perform(self, action: str) -> None:
        """Run a menu or status-window action; a failure is reported, never raised."""
        if action == "toggle_pause":
            action = "resume" if self.state.paused else "pause"
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            log.warning("unknown action %r", action)
            return
        log.info("action: %s", action)
        try:
            handler()
        except (DaemonError, OpenFailed, OSError) as exc:
            self.report(f"{ACTION_LABELS.get(action, action)}: {exc}")

    def report(self, message: str) -> None:
        """Tell the user something that needs their attention."""
        log.warning("%s", message)
        self.last_message = message
        if self.backend.Icon.HAS_NOTIFICATION and self.icon.visible:
            try:
                self.icon.notify(message, "PxIMSE")
                return
            except Exception:  # a notification is a nicety; the window still says it
                log.debug("notification failed", exc_info=True)
        self.window.show(self._window_content(message=message))

    def _window_content(self, message: str | None = None) -> dict[str, Any]:
        where = (f"Daemon at {self.client.base_url}"
                 + (" (started by the tray)" if self.handle.started else ""))
        content: dict[str, Any] = {
            "lines": status_lines(self.status, self.problem, where),
            "paused": self.state.paused,
        }
        if message is not None:
            content["message"] = message
        return content

    def _do_open_page(self) -> None:
        open_url(self.client.page_url())

    def _do_pause(self) -> None:
        self.client.pause()
        self.refresh()

    def _do_resume(self) -> None:
        self.client.resume()
        self.refresh()

    def _do_rescan(self) -> None:
        answer = self.client.rescan()
        self.refresh()
        if not answer.get("started", True):
            self.report(f"Rescan now: not started ({answer.get('reason', 'no reason given')})")

    def _do_show_status(self) -> None:
        self.refresh()
        self.window.show(self._window_content(message=self.last_message or None))

    def _do_open_log(self) -> None:
        open_file(self.daemon_log)

    def _do_open_config(self) -> None:
        open_file(self.config_path)

    def _do_quit(self) -> None:
        # Not on the caller's thread: icon.stop() waits for the icon's own loop,
        # which may be the thread this action was called from.
        threading.Thread(target=self.quit, name="quit", daemon=True).start()

