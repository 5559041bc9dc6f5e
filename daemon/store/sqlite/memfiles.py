"""The file table's part of the in-memory query index: folders and sort ranks.

Loaded on first use and dropped whenever content changes (a scan is running),
so it costs nothing until someone filters by folder or sorts by path, folder
or id. Folder filters are decided once per distinct folder (thousands), not
once per file (a million); globs use SQLite's own GLOB on that list so that
the answer is the SQL path's to the letter.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import numpy as np


@dataclass
class FileColumns:
    content: np.ndarray  # int32 (int64 past 2**31): the content of each file with an image
    folder: np.ndarray  # int32: index into ``folders``
    folders: list[str]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> FileColumns:
        index: dict[str, int] = {}
        folders: list[str] = []
        contents: list[int] = []
        codes: list[int] = []
        for content_id, folder in conn.execute(
            "SELECT content_id, folder FROM file WHERE content_id IS NOT NULL"
        ):
            code = index.get(folder)
            if code is None:
                code = index[folder] = len(folders)
                folders.append(folder)
            contents.append(content_id)
            codes.append(code)
        ids = np.array(contents, dtype=np.int64)
        if not len(ids) or ids.max() < 2**31:
            ids = ids.astype(np.int32)
        return cls(ids, np.array(codes, dtype=np.int32), folders)

    def folder_content(self, conn: sqlite3.Connection, value: str, size: int) -> np.ndarray:
        """Which contents have a file in a folder matching ``value`` (the rules of
        ``SqlCompiler._path`` for ``folder``)."""
        if "*" in value or "?" in value:
            pattern = value if value.startswith(("/", "*")) else "*" + value
            matching = {
                row[0]
                for row in conn.execute(
                    "SELECT value FROM json_each(?) WHERE value GLOB ?",
                    (json.dumps(self.folders), pattern),
                )
            }
            chosen = [i for i, folder in enumerate(self.folders) if folder in matching]
        elif value.startswith("/"):
            exact = (value.rstrip("/") or "/").casefold()
            prefix = exact.rstrip("/") + "/"
            chosen = [
                i for i, folder in enumerate(self.folders)
                if (folded := folder.casefold()) == exact or folded.startswith(prefix)
            ]
        else:
            part = "/" + value.strip("/").casefold() + "/"
            chosen = [
                i for i, folder in enumerate(self.folders)
                if part in "/" + folder.casefold() + "/"
            ]
        mask = np.zeros(size, dtype=bool)
        hits = self.content[np.isin(self.folder, np.array(chosen, dtype=np.int32))]
        mask[hits[hits < size]] = True
        return mask


def first_rank(content_ids: np.ndarray, values: list[object] | None, size: int) -> np.ndarray:
    """Rank of each content by the smallest value among its rows, given rows in
    ascending value order; equal values share a rank; -1 for no row."""
    if values is None:
        dense = np.arange(len(content_ids), dtype=np.int64)
    else:
        changes = np.fromiter(
            (i == 0 or values[i] != values[i - 1] for i in range(len(values))),
            dtype=bool, count=len(values),
        )
        dense = np.cumsum(changes, dtype=np.int64)
    rank = np.full(size, -1, dtype=np.int32 if len(content_ids) < 2**31 else np.int64)
    inside = content_ids < size
    unique, first = np.unique(content_ids[inside], return_index=True)
    rank[unique] = dense[inside][first]
    return rank


def sort_rank(conn: sqlite3.Connection, name: str, size: int) -> np.ndarray:
    """Rank per content for sorting by ``path``, ``folder``, ``filename`` (the
    smallest of its files') or ``id`` (the SHA-256), in SQLite's BINARY order."""
    if name == "id":
        ids = np.fromiter(
            (row[0] for row in conn.execute("SELECT id FROM content ORDER BY sha256")),
            dtype=np.int64,
        )
        return first_rank(ids, None, size)
    column = {"path": "path", "folder": "folder", "filename": "name"}[name]
    rows = conn.execute(
        f"SELECT content_id, {column} FROM file WHERE content_id IS NOT NULL ORDER BY {column}"
    ).fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    # Paths are unique, so each content's smallest path has a rank of its own.
    return first_rank(ids, None if column == "path" else [row[1] for row in rows], size)
