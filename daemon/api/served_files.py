"""Serving a library file only while it is still the file the catalogue recorded.

Between two scans a file can change under the daemon: edited, or replaced by
a symbolic link to something else (``lib/a.png -> /etc/passwd``, by anyone who
may write in the library folder). The catalogue's id must then not serve what
the path now leads to. So a file is opened:

* without following links when ``scan.follow_symlinks`` is false: each folder
  from the root down and the file itself are opened with ``O_NOFOLLOW``
  relative to the one above (``openat``), so a link anywhere below the root
  fails the open, with no gap between a check and the open; where the system
  has no ``O_NOFOLLOW`` or ``dir_fd``, the path must resolve (``realpath``) to
  itself inside the root and be no link (``lstat``);
* without blocking (a FIFO put in its place cannot hang a request);
* and only served when the open file is a regular file whose size and
  modification time are the catalogue's. Anything else is a 404, as if the
  file were gone, until a scan or the watcher records what is there now.

The bytes come from the file descriptor that passed the checks, never from a
second open of the path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["RecordedFile", "open_recorded", "read_chunks"]

_CHUNK = 256 << 10
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_WALK_WITH_DIR_FD = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd


@dataclass(frozen=True)
class RecordedFile:
    """One file of a content as the catalogue has it."""

    path: str
    format: str
    size: int
    mtime_ns: int
    root: str

    @classmethod
    def from_row(cls, row: tuple[str, str, int, int, str]) -> RecordedFile:
        return cls(*row)


def open_recorded(recorded: RecordedFile, *, follow_symlinks: bool
                  ) -> tuple[BinaryIO, os.stat_result] | None:
    """The file opened for reading with its ``fstat``, or None when it is not
    (any more) what the catalogue recorded."""
    try:
        fd = _open(recorded, follow_symlinks)
    except (OSError, ValueError):
        return None
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size != recorded.size \
            or st.st_mtime_ns != recorded.mtime_ns:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), st


def _open(recorded: RecordedFile, follow_symlinks: bool) -> int | None:
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | _BINARY
    if follow_symlinks:
        return os.open(recorded.path, flags)
    parts = _parts_below(recorded.root, recorded.path)
    if parts is None:
        return None
    if _WALK_WITH_DIR_FD:
        return _open_walking(recorded.root, parts, flags | _NOFOLLOW)
    # No openat here: the path must be itself all the way down, and no link.
    expected = os.path.join(os.path.realpath(recorded.root), *parts)
    if os.path.realpath(recorded.path) != expected or \
            stat.S_ISLNK(os.lstat(recorded.path).st_mode):
        return None
    return os.open(recorded.path, flags)


def _parts_below(root: str, path: str) -> list[str] | None:
    """The names from ``root`` down to ``path``, or None when it is not under it."""
    if not root:
        return None
    relative = os.path.relpath(path, root)
    parts = relative.split(os.sep)
    if os.path.isabs(relative) or any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def _open_walking(root: str, parts: list[str], flags: int) -> int:
    """Open ``root/parts…`` one name at a time, no name allowed to be a link."""
    folder_flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC
    current = os.open(root, folder_flags)  # the root itself is the user's to place
    try:
        for name in parts[:-1]:
            below = os.open(name, folder_flags | _NOFOLLOW, dir_fd=current)
            os.close(current)
            current = below
        return os.open(parts[-1], flags, dir_fd=current)
    finally:
        os.close(current)


def read_chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of an open file, in chunks; closes it at the end
    (or when the client goes away and the iterator is dropped)."""
    try:
        left = size
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()
