"""One Pixiv fetch per data folder at a time, across processes.

``pximse pixiv fetch`` and the daemon's background fetch would otherwise both
ask Pixiv at once and double the request rate the user set. The lock is an OS
file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``pixiv_fetch.lock`` in the data folder, released by the OS however the
holder ends; the file names the holder for the refusal message.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO, Any

from pximse.file_lock import read_holder, try_lock, unlock, write_holder

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
        if not try_lock(handle):
            holder = read_holder(handle)
            handle.close()
            raise FetchRunning(holder)
        write_holder(handle, {"pid": os.getpid(),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        handle.seek(0)
        handle.truncate()
        handle.flush()
        unlock(handle)
        handle.close()
