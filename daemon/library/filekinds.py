"""What kind of thing a path is, and opening only regular files.

A library folder can hold named pipes, sockets and device nodes beside its
images. Opening a FIFO for reading waits until someone writes to it (forever),
and reading a device reads the device: such paths are recorded as skipped with
their kind, never opened. A path is opened with ``O_NONBLOCK`` and its kind
checked on the open descriptor, so a file swapped for a pipe between a ``stat``
and the ``open`` cannot make the reader wait either.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["NotRegularFile", "open_regular", "special_kind"]

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
    | getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path is a pipe, socket or device (or a folder): it is not read. ``kind``
    says which ("a named pipe (FIFO)"...; None for a kind without a name)."""

    def __init__(self, path: str, kind: str | None) -> None:
        self.kind = kind
        super().__init__(f"{path} is {kind}, not a regular file" if kind
                         else f"{path} is not a regular file")


def special_kind(mode: int) -> str | None:
    """``"a named pipe (FIFO)"`` and the like for what is neither a file, a folder
    nor a link; None otherwise."""
    return _KINDS.get(stat.S_IFMT(mode))


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` that never waits: NotRegularFile for anything but a
    regular file."""
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(os.fspath(path), special_kind(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
