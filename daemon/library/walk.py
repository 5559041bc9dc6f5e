"""Walking a library root: every file's path, size and mtime, from ``stat`` alone.

Each folder also gets a signature: its own mtime (which changes when an entry
is added, removed or renamed in it), how many files it holds and the sum of
their :func:`stat_key`. A folder whose signature matches the catalogue's was
not touched since the last scan, so its files need no comparison one by one.

Named pipes, sockets and devices are listed with size 0 and their kind, to be
recorded as skipped (see ``library.filekinds``); nothing here opens a file.
Each folder is entered once, by device and inode: a symlink back to a folder
already walked (``self -> .``, ``up -> ..``) is listed in ``loops`` and not
followed. A folder or file deleted while the walk reads it is simply not
there, never "unreadable".
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pximse.library.filekinds import special_kind

FolderSignature = tuple[int, int, int]
"""(folder mtime_ns, number of files, sum of the files' stat keys)."""


def stat_key(size: int, mtime_ns: int) -> int:
    """Size and mtime_ns as one int, so that comparing two scans is comparing ints
    (a tuple per file costs more than the whole comparison)."""
    return (mtime_ns << 44) | size


def stat_parts(key: int) -> tuple[int, int]:
    """(size, mtime_ns) back from :func:`stat_key`."""
    return key & ((1 << 44) - 1), key >> 44


@dataclass
class FolderScan:
    mtime_ns: int
    files: dict[str, int]  # path -> stat_key(size, mtime_ns)

    @property
    def signature(self) -> FolderSignature:
        return (self.mtime_ns, len(self.files), sum(self.files.values()))


@dataclass
class WalkResult:
    folders: dict[str, FolderScan] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # path, error
    special: dict[str, str] = field(default_factory=dict)  # path -> kind (a FIFO...)
    loops: list[str] = field(default_factory=list)  # links to folders already walked

    @property
    def file_count(self) -> int:
        return sum(len(folder.files) for folder in self.folders.values())

    def covers(self, path: str) -> bool:
        """False when ``path`` is, or lies under, something that could not be read."""
        return not any(
            path == bad or path.startswith(bad + os.sep) for bad, _ in self.unreadable
        )


_GONE = (errno.ENOENT, errno.ENOTDIR)


def walk_root(
    root: str,
    *,
    recursive: bool = True,
    follow_symlinks: bool = False,
    include_file: Callable[[str], bool] | None = None,
    include_folder: Callable[[str], bool] | None = None,
    library_root: str | None = None,
) -> WalkResult:
    """Every regular file under ``root`` that ``include_file`` accepts, by folder
    (and the pipes, sockets and devices it accepts, in ``special``).

    The predicates get the path relative to the root, with ``/`` separators;
    a folder that ``include_folder`` rejects is not entered at all. A folder
    that cannot be read is reported, not fatal: the caller must not treat the
    files it used to hold as deleted. ``library_root``, for a walk of one folder
    inside a library root, makes a link to any folder between the two a loop.
    """
    result = WalkResult()
    unreadable = result.unreadable
    try:
        top = os.stat(root)
    except OSError as exc:
        unreadable.append((root, exc.strerror or str(exc)))
        return result
    visited = {(top.st_dev, top.st_ino)} | _ancestors(root, library_root)
    stack = [(root, "", top.st_mtime_ns)]
    while stack:
        folder, rel, folder_mtime = stack.pop()
        files: dict[str, int] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=follow_symlinks):
                            if recursive and (
                                include_folder is None or include_folder(rel + entry.name)
                            ):
                                st = entry.stat(follow_symlinks=follow_symlinks)
                                if (st.st_dev, st.st_ino) in visited:
                                    result.loops.append(entry.path)
                                    continue
                                visited.add((st.st_dev, st.st_ino))
                                stack.append((entry.path, rel + entry.name + "/", st.st_mtime_ns))
                            continue
                        if entry.is_file(follow_symlinks=follow_symlinks):
                            kind = None
                        elif entry.is_symlink() and not follow_symlinks:
                            continue
                        else:  # a pipe, socket or device; or a dangling link
                            kind = special_kind(entry.stat(follow_symlinks=follow_symlinks)
                                                .st_mode)
                            if kind is None:
                                continue
                        if include_file is not None and not include_file(rel + entry.name):
                            continue
                        st = entry.stat(follow_symlinks=follow_symlinks)
                    except OSError as exc:
                        if exc.errno not in _GONE:  # deleted meanwhile: simply not there
                            unreadable.append((entry.path, exc.strerror or str(exc)))
                        continue
                    if kind is None:
                        files[entry.path] = (st.st_mtime_ns << 44) | st.st_size  # stat_key
                    else:
                        files[entry.path] = st.st_mtime_ns << 44
                        result.special[entry.path] = kind
        except OSError as exc:
            if exc.errno not in _GONE or folder == root:
                unreadable.append((folder, exc.strerror or str(exc)))
            continue
        result.folders[folder] = FolderScan(folder_mtime, files)
    return result


def _ancestors(folder: str, library_root: str | None) -> set[tuple[int, int]]:
    """(device, inode) of the folders from ``library_root`` down to ``folder``'s parent."""
    found: set[tuple[int, int]] = set()
    if library_root is None:
        return found
    top = library_root.rstrip(os.sep) or os.sep
    current = os.path.dirname(folder)
    while current.startswith(top) and len(current) >= len(top):
        try:
            st = os.stat(current)
        except OSError:
            break
        found.add((st.st_dev, st.st_ino))
        if current == top:
            break
        current = os.path.dirname(current)
    return found
