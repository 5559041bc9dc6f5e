"""One Pixiv fetch per data folder at a time, across processes.

``pximse pixiv fetch`` and the daemon's background fetch would otherwise both
ask Pixiv at once and double the request rate the user set. The lock is an OS
file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``pixiv_fetch.lock`` in the data folder, released by the OS however the
holder ends; the file names the holder for the refusal message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["FetchRunning", "FetchLock"]

LOCK_NAME = "pixiv_fetch.lock"


class FetchRunning(RuntimeError):
    """Another process is fetching from Pixiv for this data folder."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        who = f"pid {holder['pid']}" if holder.get("pid") else "another process"
        super().__init__(f"a Pixiv fetch is already running for this data folder ({who}); "
                         "wait for it to end")


class FetchLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._handle: IO[str] | None = None

    def __enter__(self) -> FetchLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until exit
        if not _try_lock(handle):
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            handle.close()
            raise FetchRunning(holder if isinstance(holder, dict) else {})
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        handle.seek(0)
        handle.truncate()
        handle.flush()
        _unlock(handle)
        handle.close()


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
