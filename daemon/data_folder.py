"""Problems with the data folder itself: a full disk, a read-only or failing one.

The catalogue, the thumbnails and the vectors live in the data folder; when
the disk under it fills up, every write fails, in SQLite (``database or disk
is full``) or in a file write (``ENOSPC``). Such an error is not about an
image and must not be recorded against one: the work stops where it is (each
write is a transaction, so what was committed stays and nothing is half
written), one message says what is full and how much room is needed, and the
work goes on by itself once there is room again (:func:`wait_for_room`).

:func:`data_folder_problem` recognises these errors wherever they were raised.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataFolderProblem", "MIN_FREE_BYTES", "data_folder_problem", "free_bytes",
           "human_bytes", "room_left", "wait_for_room"]

MIN_FREE_BYTES = 64 << 20
"""Free space the work needs before it resumes after the disk was full (the
catalogue's write-ahead log, a checkpoint and a batch of thumbnails fit)."""
ROOM_CHECK_S = 5.0

_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10


@dataclass(eq=False)
class DataFolderProblem(Exception):
    """What is wrong with the data folder, in one line (``message``)."""

    kind: str  # full | read-only | io-error
    message: str
    data_dir: str
    free_bytes: int
    needed_bytes: int

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    current = Path(path).absolute()
    while not current.exists() and current.parent != current:
        current = current.parent
    try:
        return shutil.disk_usage(current).free
    except OSError:
        return 0


def human_bytes(count: int, *, separator: str = " ", byte_unit: str = "bytes") -> str:
    """``64.0 MB``: a byte count for people (1024-based)."""
    value = float(count)
    for unit in (byte_unit, "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            shown = f"{value:.0f}" if unit == byte_unit else f"{value:.1f}"
            return f"{shown}{separator}{unit}"
        value /= 1024
    return f"{value:.1f}{separator}GB"


def data_folder_problem(exc: BaseException, data_dir: str | os.PathLike[str],
                        needed: int = MIN_FREE_BYTES) -> DataFolderProblem | None:
    """The data-folder problem behind ``exc`` (or behind what caused it), or None
    when ``exc`` is something else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DataFolderProblem):
            return current
        kind = _kind(current)
        if kind is not None:
            return describe(kind, data_dir, needed, detail=_detail(current))
        current = current.__cause__ or current.__context__
    return None


def describe(kind: str, data_dir: str | os.PathLike[str], needed: int = MIN_FREE_BYTES,
             detail: str = "") -> DataFolderProblem:
    folder = os.fspath(data_dir)
    free = free_bytes(folder)
    if kind == "io-error" and free < needed:
        kind = "full"  # SQLite says "disk I/O error" for some writes that found no room
    if kind == "full":
        message = (f"the disk that holds the data folder {folder} is full: "
                   f"{human_bytes(free)} free, PxIMSE needs at least {human_bytes(needed)} "
                   "free to go on; free some space there (the work resumes by itself) "
                   "or move the data folder (--data-dir)")
    elif kind == "read-only":
        message = (f"the data folder {folder} is on a read-only disk or cannot be written "
                   f"({detail}); make it writable (the work resumes by itself) or use "
                   "another data folder (--data-dir)")
    else:
        message = (f"the disk that holds the data folder {folder} reports an I/O error "
                   f"({detail}); check the disk (the work resumes by itself once writes "
                   "succeed again)")
    return DataFolderProblem(kind, message, folder, free, needed)


def room_left(problem: DataFolderProblem) -> bool:
    """Whether the work may try again: enough free space (full), or the folder
    takes a write again (read-only, I/O errors)."""
    if problem.kind == "full":
        return free_bytes(problem.data_dir) >= problem.needed_bytes
    probe = Path(problem.data_dir) / ".pximse-write-test"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError:
        return False
    return True


def wait_for_room(problem: DataFolderProblem, stop: threading.Event,
                  every_s: float = ROOM_CHECK_S) -> bool:
    """Wait until :func:`room_left`; False when ``stop`` was set first."""
    while not stop.is_set():
        if room_left(problem):
            return True
        stop.wait(every_s)
    return False


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        text = str(exc).lower()
        if primary == _SQLITE_FULL or "database or disk is full" in text:
            return "full"
        if primary == _SQLITE_READONLY or "readonly database" in text:
            return "read-only"
        if primary == _SQLITE_IOERR or "disk i/o error" in text:
            return "io-error"
        return None
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return "full"
        if exc.errno == errno.EROFS:
            return "read-only"
        if exc.errno == errno.EIO:
            return "io-error"
    return None


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
