"""OS file locks that say who holds them: the data folder's daemon lock and
the Pixiv fetch lock are both one of these.

The lock is ``flock`` on POSIX and ``msvcrt.locking`` on Windows, on a small
file that the holder fills with a JSON object about itself (pid, start time),
so that whoever is refused can say by whom. The OS releases it however the
holder ends, so a crash never leaves a lock that blocks.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

__all__ = ["read_holder", "try_lock", "unlock", "write_holder"]


def read_holder(handle: IO[str]) -> dict[str, Any]:
    """What the lock file says about its holder (``{}`` when empty or unreadable)."""
    handle.seek(0)
    try:
        info = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def write_holder(handle: IO[str], info: dict[str, Any]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info))
    handle.flush()


if sys.platform == "win32":
    import msvcrt

    def try_lock(handle: IO[str]) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(handle: IO[str]) -> None:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def try_lock(handle: IO[str]) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
