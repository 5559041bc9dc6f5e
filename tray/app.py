"""The tray icon: its menu, its actions, and following the daemon's state.

Importing this module imports pystray, which connects to the display: check
the display first (:mod:`pximse.tray.display`).

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

import pystray

from pximse.tray.client import DaemonError
from pximse.tray.daemon_process import DaemonHandle
from pximse.tray.desktop_open import OpenFailed, open_file, open_url
from pximse.tray.icon_image import draw_icon
from pximse.tray.state import TrayState, state_from_status, status_lines
from pximse.tray.status_window_process import StatusWindowProcess
from pximse.tray.x_backend import remove_icon_window, wake_loop

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


class TrayApp:
    def __init__(
        self,
        handle: DaemonHandle,
        *,
        config_path: Path,
        daemon_log: Path,
        poll_interval_s: float = 3.0,
        name: str = "pximse",
    ) -> None:
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
        self.icon = pystray.Icon(name, draw_icon(self.state), self.state.title,
                                 menu=self._menu())

    # --- the menu -------------------------------------------------------------

    def _menu(self) -> pystray.Menu:
        # Without a menu (pystray's X backend) a click runs the default item:
        # the status window, which has a button for every action.
        status_is_default = not pystray.Icon.HAS_MENU
        item = pystray.MenuItem
        return pystray.Menu(
            item("Open search page", self._on("open_page"), default=not status_is_default),
            item(lambda _: "Resume indexing" if self.state.paused else "Pause indexing",
                 self._on("toggle_pause")),
            item("Rescan now", self._on("rescan")),
            item("Show status", self._on("show_status"), default=status_is_default),
            pystray.Menu.SEPARATOR,
            item("Open log file", self._on("open_log")),
            item("Open config", self._on("open_config")),
            pystray.Menu.SEPARATOR,
            item(lambda _: "Quit (stops the daemon)" if self.handle.started else "Quit",
                 self._on("quit")),
        )

    def menu_item(self, label_start: str) -> pystray.MenuItem:
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

    def run(self) -> None:
        """Show the icon and follow the daemon until Quit (blocks).

        Where the backend allows it (everywhere but macOS, whose icon must own
        the main thread), the icon's loop runs in a thread of its own and this
        thread waits for Quit: pystray's X backend can miss the event that
        ends its loop when other threads talk to the icon at the same moment,
        and Quit must end the tray all the same.
        """
        if sys.platform == "darwin":
            self.icon.run(setup=self._setup)
            return
        threading.Thread(target=wake_loop, args=(self.icon, self.stopping), name="x-wake",
                         daemon=True).start()
        loop = threading.Thread(target=self.icon.run, kwargs={"setup": self._setup},
                                name="icon", daemon=True)
        loop.start()
        while not self.stopped.wait(0.5):
            if not loop.is_alive() and not self.stopping.is_set():
                break  # the backend's loop ended on its own (the display went away)
        loop.join(2)

    def _setup(self, icon: pystray.Icon) -> None:
        # Following first: the state (and the status window) stays current even
        # if showing the icon is slow.
        threading.Thread(target=self._follow, name="follow-daemon", daemon=True).start()
        for attempt in range(1, 6):
            try:
                icon.visible = True
                break
            except Exception:  # an X error while docking: the tray may be starting
                log.warning("showing the icon failed (attempt %d)", attempt, exc_info=True)
                if self.stopping.wait(1.0):
                    return
        # What the state became meanwhile was stored, not shown: show it now.
        icon.icon = draw_icon(self.state)
        icon.title = ""
        icon.title = self.state.title

    def quit(self) -> None:
        """Stop following, close the window and the icon; the caller then stops
        the daemon if the tray started it."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        try:
            self.window.close()
            # Bounded: a backend loop that no longer answers must not keep the tray up.
            stopper = threading.Thread(target=self.icon.stop, name="icon-stop", daemon=True)
            stopper.start()
            stopper.join(10)
            if stopper.is_alive():
                log.warning("the icon's loop did not stop within 10 s; leaving it behind")
            remove_icon_window(self.icon)
        finally:
            self.stopped.set()

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
            self.icon.update_menu()
        self.window.update(self._window_content())

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
        if pystray.Icon.HAS_NOTIFICATION and self.icon.visible:
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
        open_url(self.client.page_url)

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

