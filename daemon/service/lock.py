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

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

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
        super().__init__(
            f"another PxIMSE daemon ({who}{where}) is already using the data folder "
            f"{path.parent}; stop it first, or give this one another --data-dir"
        )


def read_lock_info(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the data folder's lock, or None when no daemon holds it."""
    path = Path(data_dir) / LOCK_NAME
    try:
        handle = open(path, "r+", encoding="utf-8")  # noqa: SIM115
    except OSError:
        return None
    with handle:
        if _try_lock(handle):  # free: a stale file, nobody runs
            _unlock(handle)
            return None
        return _read(handle)


class DaemonLock:
    """``with DaemonLock(data_dir, url=...)``: raises :class:`DataFolderLocked`
    when a live daemon holds it."""

    def __init__(self, data_dir: Path, *, url: str = "") -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self.url = url
        self._handle: IO[str] | None = None
        self.stale: dict[str, Any] | None = None  # what a crashed daemon left

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        if not _try_lock(handle):
            holder = _read(handle)
            handle.close()
            raise DataFolderLocked(self.path, holder)
        previous = _read(handle)
        if previous.get("pid"):
            self.stale = previous
            log.warning("a previous daemon (pid %s, started %s) did not shut down cleanly: "
                        "its lock file was stale and is taken over; its finished work is kept",
                        previous.get("pid"), previous.get("started"))
        info = {"pid": os.getpid(), "host": socket.gethostname(), "url": self.url,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.seek(0)
        handle.truncate()  # an empty file is a clean shutdown
        handle.flush()
        _unlock(handle)
        handle.close()

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        info = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
