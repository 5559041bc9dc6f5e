"""One daemon per data folder: a lock file (``daemon.lock``) held for the
daemon's whole life.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on
Windows), which the OS releases when the process ends however it ends, so a
lock file left by a crash or ``kill -9`` is recognised as stale (its lock is
free) and taken over, with a note in the log. The file also says who holds
it (pid, address, start time), for the refusal message and for clients such
as ``pximse status --follow`` that look for the running daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from pximse.config.data_folder import make_private_file, make_private_folder
from pximse.file_lock import read_holder, try_lock, unlock, write_holder

__all__ = ["DataFolderLocked", "DaemonLock", "read_lock_info"]

log = logging.getLogger(__name__)

LOCK_NAME = "daemon.lock"


class DataFolderLocked(RuntimeError):
    """Another daemon holds the data folder."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        who = f"pid {holder['pid']}" if holder.get("pid") else "another process"
        where = f" at {holder['url']}" if holder.get("url") else ""
        if holder.get("command") == "index":
            message = (f"pximse index ({who}) is indexing the data folder {path.parent}; "
                       "wait for it to finish, or give this one another --data-dir")
        else:
            message = (f"another PxIMSE daemon ({who}{where}) is already using the data "
                       f"folder {path.parent}; stop it first, or give this one another "
                       "--data-dir")
        super().__init__(message)


def read_lock_info(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the data folder's lock, or None when no daemon holds it."""
    path = Path(data_dir) / LOCK_NAME
    try:
        handle = open(path, "r+", encoding="utf-8")  # noqa: SIM115
    except OSError:
        return None
    with handle:
        if try_lock(handle):  # free: a stale file, nobody runs
            unlock(handle)
            return None
        return read_holder(handle)


class DaemonLock:
    """``with DaemonLock(data_dir, url=...)``: raises :class:`DataFolderLocked`
    when a live daemon holds it."""

    def __init__(self, data_dir: Path, *, url: str = "", command: str = "serve") -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self.url = url
        self.command = command  # serve | index: who holds it, for the refusal message
        self._handle: IO[str] | None = None
        self.stale: dict[str, Any] | None = None  # what a crashed daemon left

    def acquire(self) -> None:
        make_private_folder(self.path.parent)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        make_private_file(self.path)
        if not try_lock(handle):
            holder = read_holder(handle)
            handle.close()
            raise DataFolderLocked(self.path, holder)
        previous = read_holder(handle)
        if previous.get("pid"):
            self.stale = previous
            log.warning("a previous daemon (pid %s, started %s) did not shut down cleanly: "
                        "its lock file was stale and is taken over; its finished work is kept",
                        previous.get("pid"), previous.get("started"))
        info = {"pid": os.getpid(), "host": socket.gethostname(), "url": self.url,
                "command": self.command, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_holder(handle, info)
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.seek(0)
        handle.truncate()  # an empty file is a clean shutdown
        handle.flush()
        unlock(handle)
        handle.close()

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
