"""Walking a library root: every file's path, size and mtime, from ``stat`` alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class WalkResult:
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (size, mtime_ns)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # folder, error

    def covers(self, path: str) -> bool:
        """False when ``path`` lies under a folder that could not be read this time."""
        return not any(path.startswith(folder + os.sep) for folder, _ in self.unreadable)


def walk_root(
    root: str,
    *,
    recursive: bool = True,
    follow_symlinks: bool = False,
    include_file: Callable[[str], bool] | None = None,
    include_folder: Callable[[str], bool] | None = None,
) -> WalkResult:
    """Every regular file under ``root`` that ``include_file`` accepts.

    The predicates get the path relative to the root, with ``/`` separators;
    a folder that ``include_folder`` rejects is not entered at all.
    A folder that cannot be read is reported, not fatal: the caller must not
    treat the files it used to hold as deleted.
    """
    result = WalkResult()
    files = result.files
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    relpath = rel + name
                    try:
                        if entry.is_dir(follow_symlinks=follow_symlinks):
                            if recursive and (include_folder is None or include_folder(relpath)):
                                stack.append((entry.path, relpath + "/"))
                            continue
                        if not entry.is_file(follow_symlinks=follow_symlinks):
                            continue
                        if include_file is not None and not include_file(relpath):
                            continue
                        st = entry.stat(follow_symlinks=follow_symlinks)
                    except OSError as exc:
                        result.unreadable.append((entry.path, exc.strerror or str(exc)))
                        continue
                    files[entry.path] = (st.st_size, st.st_mtime_ns)
        except OSError as exc:
            result.unreadable.append((folder, exc.strerror or str(exc)))
    return result
