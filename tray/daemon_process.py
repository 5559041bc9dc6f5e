"""Attach to the running daemon, or start one; stop only what was started.

The daemon is ``pximse serve`` as a child process with the tray's own
``--config``/``--data-dir``. Its terminal output is read line by line into the
tray's log, and its last lines are kept: when it exits at start (a bad
configuration, a port in use) the tray says why.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pximse.tray.client import DaemonClient, DaemonError, DaemonTimeout, DaemonUnreachable

__all__ = ["DaemonHandle", "DaemonStartFailed", "StartCancelled", "attach", "attach_or_start",
           "serve_command"]

log = logging.getLogger(__name__)


class DaemonStartFailed(DaemonError):
    """The daemon the tray started did not come up."""


class StartCancelled(DaemonError):
    """Quit (a signal) came while the tray attached or started the daemon; a
    daemon it had started is stopped."""


@dataclass
class DaemonHandle:
    client: DaemonClient
    process: subprocess.Popen[str] | None = None
    """The daemon the tray started; None when it attached to a running one."""
    output: deque[str] = field(default_factory=lambda: deque(maxlen=30))

    @property
    def started(self) -> bool:
        return self.process is not None

    def exited(self) -> int | None:
        """The exit status of the daemon the tray started, once it has ended."""
        return self.process.poll() if self.process is not None else None

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the daemon if the tray started it (SIGTERM: it commits what it
        finished and exits), killing it if it does not end within ``timeout_s``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        log.info("stopping the daemon the tray started (pid %d)", process.pid)
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("the daemon did not stop within %g s; killing it", timeout_s)
            process.kill()
            process.wait(10)


def serve_command(config_path: Path | None, data_dir: Path | None) -> list[str]:
    argv = [sys.executable, "-m", "pximse"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    return [*argv, "serve"]


def attach(client: DaemonClient, timeout_s: float = 120.0,
           cancel: threading.Event | None = None) -> DaemonHandle:
    """A handle on the running daemon. A daemon that takes the connection but
    is slow to answer (a loaded machine) is waited for up to ``timeout_s``;
    :class:`DaemonUnreachable` when nothing listens, :class:`DaemonError` when
    something else answers or the daemon refuses, :class:`StartCancelled`
    once ``cancel`` is set."""
    deadline = time.monotonic() + timeout_s
    while True:
        _check(cancel)
        try:
            client.status()
            log.info("attached to the daemon at %s", client.base_url)
            return DaemonHandle(client)
        except DaemonTimeout:
            if time.monotonic() >= deadline:
                raise
            log.info("the daemon at %s is slow to answer; waiting", client.base_url)


def attach_or_start(client: DaemonClient, command: Sequence[str],
                    start_timeout_s: float = 120.0,
                    cancel: threading.Event | None = None) -> DaemonHandle:
    """A handle on the daemon ``client`` reaches: the running one, or one
    started with ``command``. Raises :class:`DaemonError` when something that
    is not a usable daemon answers (a wrong token, another program), and
    :class:`DaemonStartFailed` when the started daemon exits or does not
    answer within ``start_timeout_s``. Setting ``cancel`` (from a signal
    handler: the start-up then ends only at these checks, never half-way
    through starting a process) stops a daemon being started and raises
    :class:`StartCancelled`."""
    try:
        return attach(client, start_timeout_s, cancel)
    except DaemonUnreachable:
        pass
    _check(cancel)
    log.info("no daemon at %s: starting %s", client.base_url, " ".join(command))
    process = subprocess.Popen(list(command), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               encoding="utf-8", errors="replace")
    handle = DaemonHandle(client, process)
    threading.Thread(target=_relay_output, args=(handle,), name="daemon-output",
                     daemon=True).start()
    try:
        return _wait_until_up(handle, start_timeout_s, cancel)
    except (KeyboardInterrupt, SystemExit, StartCancelled):  # stopped while starting: no orphan
        handle.stop(timeout_s=30)
        raise


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise StartCancelled("quit while the tray was starting")


def _wait_until_up(handle: DaemonHandle, start_timeout_s: float,
                   cancel: threading.Event | None) -> DaemonHandle:
    client, process = handle.client, handle.process
    assert process is not None
    deadline = time.monotonic() + start_timeout_s
    while True:
        _check(cancel)
        try:
            client.status()
            log.info("the daemon is up (pid %d)", process.pid)
            return handle
        except (DaemonUnreachable, DaemonTimeout):
            pass
        code = process.poll()
        if code is not None:
            time.sleep(0.2)  # let the relay thread read its last lines
            try:  # another tray may have started one at the same moment
                client.status()
                log.info("attached to a daemon started elsewhere at %s", client.base_url)
                return DaemonHandle(client)
            except DaemonError:
                pass
            said = "; ".join(line for line in handle.output if line.strip())[-600:]
            raise DaemonStartFailed(
                f"the daemon exited at start with status {code}" + (f": {said}" if said else ""))
        if time.monotonic() >= deadline:
            handle.stop(timeout_s=10)
            raise DaemonStartFailed(
                f"the daemon did not answer at {client.base_url} within {start_timeout_s:g} s")
        if cancel is not None:
            cancel.wait(0.2)
        else:
            time.sleep(0.2)


def _relay_output(handle: DaemonHandle) -> None:
    process = handle.process
    assert process is not None and process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        handle.output.append(line)
        log.info("daemon: %s", line)
    process.stdout.close()
