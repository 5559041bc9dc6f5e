"""The embedded catalogue's work lists: what the background indexer runs the
models on next, and what the watcher compares the disk with."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pximse.store.backends import PRIORITY_CLASSES
from pximse.store.pathtext import os_path, stored_path
from pximse.store.sqlite.database import Database, select_in

__all__ = ["PRIORITY_CLASSES", "SqliteWorklists"]

"""new: added since the daemon started; backfill: never run by the stage;
reindex: run with another model (see :mod:`pximse.pipeline.priority`)."""

_CLASS_CONDITIONS = {
    "new": "c.id > :new_after AND (s.model_id IS NULL OR s.model_id != :model_id)",
    "backfill": "c.id <= :new_after AND s.content_id IS NULL",
    "reindex": "c.id <= :new_after AND s.model_id != :model_id",
}


class SqliteWorklists:
    db: Database

    def max_content_id(self) -> int:
        """The largest content id so far (0 for an empty catalogue)."""
        row = self.db.reader().execute("SELECT coalesce(max(id), 0) FROM content").fetchone()
        return int(row[0])

    def pending_in_class(self, stage: str, model_id: str, kind: str, *, after: int,
                         new_after: int, limit: int) -> list[tuple[int, str]]:
        """Present images of a priority class (see PRIORITY_CLASSES) that ``model_id``
        has not processed for ``stage``, in id order past ``after``: (id, sha)."""
        rows = self.db.reader().execute(
            "SELECT c.id, c.sha256 FROM content c LEFT JOIN stage s"
            " ON s.content_id = c.id AND s.stage = :stage"
            f" WHERE c.state = 1 AND c.id > :after AND {_CLASS_CONDITIONS[kind]}"
            " ORDER BY c.id LIMIT :limit",
            {"stage": stage, "model_id": model_id, "after": after, "new_after": new_after,
             "limit": limit},
        )
        return [(int(cid), sha) for cid, sha in rows]

    def catalogued_stats(self, root_id: int, files: Iterable[str],
                         folders: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Path -> (size, mtime_ns) of the catalogue's files among ``files`` and in
        ``folders`` and everything under them."""
        conn = self.db.reader()
        rows: list[Any] = list(select_in(
            conn, "SELECT path, size, mtime_ns FROM file WHERE path IN",
            {stored_path(path) for path in files}))
        for folder in map(stored_path, folders):
            # The folder and everything under it ('0' sorts right after the separator).
            rows += conn.execute(
                "SELECT path, size, mtime_ns FROM file WHERE root_id = ? AND"
                " (folder = ? OR (folder >= ? AND folder < ?))",
                (root_id, folder, folder + os.sep, folder + chr(ord(os.sep) + 1)),
            ).fetchall()
        return {os_path(path): (int(size), int(mtime_ns)) for path, size, mtime_ns in rows}

    def gone_files(self, paths: Iterable[str]
                   ) -> list[tuple[str, int, int, int, str | None]]:
        """(path, file id, size, mtime_ns, sha256 while the file was readable) of
        the catalogue's files at ``paths``."""
        rows = select_in(
            self.db.reader(),
            "SELECT f.path, f.id, f.size, f.mtime_ns,"
            " CASE WHEN f.state = 'ok' THEN c.sha256 END"
            " FROM file f LEFT JOIN content c ON c.id = f.content_id WHERE f.path IN",
            [stored_path(path) for path in paths],
        )
        return [(os_path(path), int(fid), int(size), int(mtime), sha)
                for path, fid, size, mtime, sha in rows]
