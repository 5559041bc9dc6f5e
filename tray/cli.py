"""``pximse tray``: the tray icon, attached to the running daemon or starting one."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options

log = logging.getLogger("pximse.tray")


@click.command("tray")
@config_options
@click.option("--start/--no-start", default=True, show_default=True,
              help="Start the daemon (`pximse serve`) when none is running; with --no-start, "
                   "exit with an error instead.")
@click.option("--tray-timeout", type=click.FloatRange(0), default=20.0, show_default=True,
              help="Seconds to wait for the desktop's system tray to appear (a panel that "
                   "starts after the icon at login).")
@click.option("--start-timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds to wait for a daemon the tray started to answer.")
@click.option("--backend", "backend_name", default="auto", show_default=True,
              type=click.Choice(["auto", "statusnotifier", "pystray"]),
              help="How to show the icon: a StatusNotifierItem (the icon and its menu on "
                   "KDE, GNOME with the AppIndicator extension, XFCE, Cinnamon, waybar), "
                   "pystray's backend (Windows, macOS, the X11 system tray), or whichever "
                   "the session offers.")
@click.pass_obj
def tray_command(obj: Context, config_path: Path | None, data_dir: Path | None, start: bool,
                 tray_timeout: float, start_timeout: float, backend_name: str) -> None:
    """Show the tray icon: the daemon's state at a glance, and a menu to open the
    search page, pause or resume indexing, rescan, and see the status and logs.
    Quit stops the daemon only if the tray started it."""
    from pximse.logs import log_file, log_to_file
    from pximse.tray.backend import choose_backend
    from pximse.tray.display import TrayUnavailable, check_display

    log_to_file("tray")
    quit_request = _QuitRequest()
    quit_request.listen()
    config = obj.load(config_path, data_dir)
    try:
        check_display()
        backend = choose_backend(backend_name, tray_timeout)
    except TrayUnavailable as exc:
        raise _failure(str(exc)) from exc
    log.info("showing the icon through %s: %s", backend.description, backend.reason)

    from pximse.tray.app import TrayApp
    from pximse.tray.client import DaemonClient, DaemonError
    from pximse.tray.daemon_process import (
        DaemonHandle,
        StartCancelled,
        attach,
        attach_or_start,
        serve_command,
    )

    client = DaemonClient.for_config(config)
    handle: DaemonHandle
    quit_request.defer()  # from here on a daemon may be starting: no abrupt exit
    try:
        if start:
            command = serve_command(config.config_path, _named_data_dir(obj, data_dir))
            handle = attach_or_start(client, command, start_timeout_s=start_timeout,
                                     cancel=quit_request.requested)
        else:
            try:
                handle = attach(client, start_timeout, cancel=quit_request.requested)
            except StartCancelled:
                raise
            except DaemonError as exc:
                raise _failure(f"{exc} (and --no-start was given)") from exc
    except StartCancelled:
        log.info("tray closed while starting")
        return
    except DaemonError as exc:
        raise _failure(str(exc)) from exc
    try:
        app = TrayApp(handle, config_path=config.config_path, daemon_log=log_file("daemon"),
                      backend=backend)
        quit_request.follow(app)
        click.echo(f"PxIMSE tray: {'started' if handle.started else 'attached to'} the daemon "
                   f"at {client.base_url}", err=True)
        loop_ended = app.run()
    finally:
        handle.stop()
    log.info("tray closed")
    if not loop_ended:
        # pystray's icon, collected at exit, would wait for its loop forever.
        logging.shutdown()
        os._exit(0)


class _QuitRequest:
    """SIGTERM, SIGINT and SIGHUP (a logout, Ctrl+C) quit the way the menu's Quit
    does, so that a daemon the tray started is stopped too.

    Until a daemon may be starting, a signal ends the tray at once. From
    then on it is a request the start-up honours at its own checks (a
    daemon being started is stopped, never left half-started), and, once the
    icon exists, the icon's Quit.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._deferred = False
        self._app: Any = None
        self._lock = threading.Lock()

    def listen(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if sys.platform != "win32":
            signal.signal(signal.SIGHUP, self._on_signal)

    def defer(self) -> None:
        self._deferred = True

    def follow(self, app: Any) -> None:
        """Quit ``app`` on a signal, and now if one came before it existed."""
        with self._lock:
            self._app = app
        if self.requested.is_set():
            app.quit()  # before its loop starts: run() returns at once

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.info("signal %d: quitting", signum)
        if not self._deferred:
            raise SystemExit(0)
        self.requested.set()
        with self._lock:
            app = self._app
        if app is not None:
            threading.Thread(target=app.quit, name="quit", daemon=True).start()


def _failure(message: str) -> click.ClickException:
    """An error for the terminal and for the log (at login nobody sees the terminal)."""
    log.error("%s", message)
    return click.ClickException(message)


def _named_data_dir(obj: Context, data_dir: Path | None) -> Path | None:
    """The data folder given on the command line or in the environment (the
    daemon started by the tray must use the same one); None means the file's."""
    from pximse.config import DATA_DIR_ENV
    from pximse.config.paths import argument_or_env, expand_path

    named = argument_or_env(data_dir or obj.data_dir, os.environ, DATA_DIR_ENV)
    return expand_path(named, os.environ, Path.cwd()) if named else None
