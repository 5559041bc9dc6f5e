"""Whether a library root is really there, whatever the mount table says.

An unmounted drive leaves its mount point behind as an empty folder, and a
folder that exists is not proof that it is the library: taken at its word,
an "online and empty" root has every file deleted by the next scan. So a root
records what it is when a scan finishes, its identity: the device id of its
folder and the mount point it lives on. Before anything is taken as deleted,
:func:`check_root` compares:

* the folder is missing or cannot be read: offline;
* the mount point it lived on is no longer one (the drive is not mounted, the
  folder under it is what shows): offline;
* it is on another device or mount than before (a re-plugged USB drive gets
  a new device number; so does another drive mounted in its place): online
  only when some of the catalogue's files are there with their size and mtime,
  offline otherwise;
* it held at least :data:`VANISHED_MIN_FILES` files and now holds no file at
  all (a mount whose share is gone, a drive letter given to an empty stick):
  offline. A smaller root that is emptied is simply empty. The watcher leaves
  this rule out (``empty_rule=False``): it acts on deletions the OS reported,
  which a drive that goes away does not send, while a user who moves a whole
  root's files to another root does.

An offline root keeps its files, marked offline, and nothing is re-hashed
when it comes back: its files are compared by ``stat`` as in any scan.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["RootCheck", "VANISHED_MIN_FILES", "check_root", "holds_no_file", "mount_point",
           "root_identity", "vanished_reason"]

VANISHED_MIN_FILES = 10
"""A root whose every file vanished at once is offline from this many files on."""
SAMPLE_FILES = 16
"""Catalogued files looked at to tell whether another device holds the library."""

Identity = tuple[int, str]
"""(device id, mount point) of a root's folder."""
Sample = Callable[[], Sequence[tuple[str, int, int]]]
"""Some of the root's catalogued files: (path, size, mtime_ns), at most SAMPLE_FILES."""


@dataclass(frozen=True)
class RootCheck:
    online: bool
    why: str | None = None  # why it is offline, for the status and the log
    identity: Identity | None = None  # what the root is now (None when missing)


def mount_point(path: str) -> str:
    """The mount point ``path`` lives on (the deepest one above or at it)."""
    current = os.path.realpath(path)
    while not os.path.ismount(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def root_identity(path: str) -> Identity | None:
    """(device id, mount point) of the folder, or None when it is not a folder."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, mount_point(path)


def holds_no_file(path: str) -> bool:
    """Whether the folder and every folder under it hold no file (an empty
    mount point holds nothing at all; this stops at the first file found)."""
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        return False
        except OSError:
            return False  # what cannot be read is not known to be empty
    return True


def check_root(path: str, recorded: Identity | None, sample: Sample, *,
               empty_rule: bool = True) -> RootCheck:
    """Whether the root at ``path`` is the library the catalogue knows (see the
    module's docstring); ``recorded`` is its identity as of its last scan."""
    if not os.path.isdir(path):
        return RootCheck(False, f"{path} is missing")
    if not os.access(path, os.R_OK | os.X_OK):
        return RootCheck(False, f"{path} cannot be read (permission denied)")
    identity = root_identity(path)
    if identity is None:
        return RootCheck(False, f"{path} is missing")
    if recorded is not None and identity != recorded:
        device, mount = recorded
        if _not_mounted(mount, identity[1], path):
            return RootCheck(False, f"nothing is mounted at {mount}, where {path} was: "
                                    "the drive is unplugged or not mounted", identity)
        if not _files_there(sample()):
            where = (f"device {identity[0]} instead of {device}" if identity[1] == mount
                     else f"{identity[1]} instead of {mount}")
            return RootCheck(False, f"{path} is now on another drive ({where}) that holds "
                                    "none of its files", identity)
    if empty_rule and holds_no_file(path) and len(sample()) >= VANISHED_MIN_FILES:
        return RootCheck(False, vanished_reason(path), identity)
    return RootCheck(True, None, identity)


def vanished_reason(path: str) -> str:
    return (f"{path} is empty: every file it held is gone at once (an empty mount "
            "point, or a share that is not there)")


def _not_mounted(recorded_mount: str, current_mount: str, path: str) -> bool:
    """The root lived on a mount at ``recorded_mount`` that is a mount no longer:
    the folder now belongs to the file system above it."""
    real = os.path.realpath(path)
    inside = real == recorded_mount or real.startswith(recorded_mount.rstrip(os.sep) + os.sep)
    above = recorded_mount != current_mount and (
        recorded_mount.startswith(current_mount.rstrip(os.sep) + os.sep)
        or current_mount == os.sep)
    return inside and above


def _files_there(sample: Sequence[tuple[str, int, int]]) -> bool:
    """Whether any sampled file is there with its size and mtime (or nothing was
    catalogued, so there is nothing to lose)."""
    if not sample:
        return True
    for file_path, size, mtime_ns in sample:
        try:
            st = os.stat(file_path)
        except OSError:
            continue
        if st.st_size == size and st.st_mtime_ns == mtime_ns:
            return True
    return False
