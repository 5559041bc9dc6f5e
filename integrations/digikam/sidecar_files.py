"""Sidecar files on disk: which one belongs to an image, and replacing it atomically."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FileStamp",
    "commit_new",
    "commit_replace",
    "sidecar_for",
    "stamp",
    "temp_path",
    "touch_sidecars",
]


def sidecar_for(image: str) -> tuple[str, bool]:
    """(sidecar path, whether it exists) for an image: ``image.xmp`` when that
    exists (digiKam reads it first), else ``image.ext.xmp``, digiKam's own
    default when it writes a sidecar."""
    stem, _ext = os.path.splitext(image)
    short = stem + ".xmp"
    if os.path.isfile(short):
        return short, True
    long = image + ".xmp"
    return long, os.path.isfile(long)


def touch_sidecars(images: Iterable[str]) -> tuple[int, list[tuple[str, str]]]:
    """Move the modification time of these images' sidecars to now, so that
    digiKam's next scan reads them again (it rereads a sidecar only when its time
    or size changed since it last looked). (sidecars touched, [(path, why not)])."""
    touched, failed = 0, []
    for image in dict.fromkeys(images):
        sidecar, exists = sidecar_for(image)
        if not exists:
            continue
        try:
            os.utime(sidecar)
        except OSError as exc:
            failed.append((sidecar, f"cannot touch it: {exc.strerror or exc}"))
            continue
        touched += 1
    return touched, failed


def temp_path(sidecar: str) -> str:
    """Where a sidecar's new version is written before it replaces the old one:
    beside it (so the rename is atomic), hidden, ending in ``.xmp`` (exiftool
    picks the output format from the name)."""
    folder, name = os.path.split(sidecar)
    return os.path.join(folder, f".{name}.pximse-{os.getpid()}.xmp")


@dataclass(frozen=True)
class FileStamp:
    size: int
    mtime_ns: int
    inode: int


def stamp(path: str) -> FileStamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStamp(st.st_size, st.st_mtime_ns, st.st_ino)


def commit_replace(temp: str, sidecar: str, read_stamp: FileStamp | None) -> str | None:
    """Put ``temp`` in the place of ``sidecar`` in one rename, keeping the old
    file's permissions; unless the sidecar changed since it was read (another
    program wrote it), in which case nothing is replaced. None, or why not."""
    now = stamp(sidecar)
    if now is None or read_stamp is None or now != read_stamp:
        _discard(temp)
        return "the sidecar changed while it was being updated; it is tried again later"
    try:
        shutil.copymode(sidecar, temp)
        os.replace(temp, sidecar)
    except OSError as exc:
        _discard(temp)
        return f"cannot replace it: {exc.strerror or exc}"
    return None


def commit_new(temp: str, sidecar: str) -> str | None:
    """Put ``temp`` at ``sidecar`` unless a sidecar appeared there meanwhile (a
    hard link fails on an existing name where a rename would overwrite it)."""
    try:
        os.link(temp, sidecar)
    except FileExistsError:
        _discard(temp)
        return "a sidecar appeared while it was being written; it is tried again later"
    except OSError:
        # No hard links (some network and FAT file systems): check, then rename.
        if os.path.exists(sidecar):
            _discard(temp)
            return "a sidecar appeared while it was being written; it is tried again later"
        try:
            os.replace(temp, sidecar)
        except OSError as exc:
            _discard(temp)
            return f"cannot write it: {exc.strerror or exc}"
        return None
    _discard(temp)
    return None


def _discard(path: str) -> None:
    Path(path).unlink(missing_ok=True)
