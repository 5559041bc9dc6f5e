"""Walking a library root: every file's path, size and mtime, from ``stat`` alone.

Each folder also gets a signature: its own mtime (which changes when an entry
is added, removed or renamed in it), how many files it holds and the sum of
their :func:`stat_key`. A folder whose signature matches the catalogue's was
not touched since the last scan, so its files need no comparison one by one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

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

    @property
    def file_count(self) -> int:
        return sum(len(folder.files) for folder in self.folders.values())

    def covers(self, path: str) -> bool:
        """False when ``path`` is, or lies under, something that could not be read."""
        return not any(
            path == bad or path.startswith(bad + os.sep) for bad, _ in self.unreadable
        )


def walk_root(
    root: str,
    *,
    recursive: bool = True,
    follow_symlinks: bool = False,
    include_file: Callable[[str], bool] | None = None,
    include_folder: Callable[[str], bool] | None = None,
) -> WalkResult:
    """Every regular file under ``root`` that ``include_file`` accepts, by folder.

    The predicates get the path relative to the root, with ``/`` separators;
    a folder that ``include_folder`` rejects is not entered at all. A folder
    that cannot be read is reported, not fatal: the caller must not treat the
    files it used to hold as deleted.
    """
    result = WalkResult()
    unreadable = result.unreadable
    try:
        stack = [(root, "", os.stat(root).st_mtime_ns)]
    except OSError as exc:
        unreadable.append((root, exc.strerror or str(exc)))
        return result
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
                                mtime = entry.stat(follow_symlinks=follow_symlinks).st_mtime_ns
                                stack.append((entry.path, rel + entry.name + "/", mtime))
                            continue
                        if not entry.is_file(follow_symlinks=follow_symlinks):
                            continue
                        if include_file is not None and not include_file(rel + entry.name):
                            continue
                        st = entry.stat(follow_symlinks=follow_symlinks)
                    except OSError as exc:
                        unreadable.append((entry.path, exc.strerror or str(exc)))
                        continue
                    files[entry.path] = (st.st_mtime_ns << 44) | st.st_size  # stat_key
        except OSError as exc:
            unreadable.append((folder, exc.strerror or str(exc)))
            continue
        result.folders[folder] = FolderScan(folder_mtime, files)
    return result
