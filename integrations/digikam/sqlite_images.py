"""What the sidecars need from the embedded SQLite catalogue (``catalog.db.reader()``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pximse.store.pathtext import os_path

__all__ = ["SqliteImages"]


class SqliteImages:
    """The catalogue's rows behind the sidecars, read with SQL."""

    identity = "sqlite"

    def __init__(self, catalog: Any) -> None:
        self.conn = catalog.db.reader()

    def write_generation(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()
        return int(row[0]) if row else 0

    def changed_content_ids(self, since: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM content WHERE gen > ? AND state = 1 ORDER BY id", (since,))
        return [int(row[0]) for row in rows]

    def all_content_ids(self) -> list[int]:
        rows = self.conn.execute("SELECT id FROM content WHERE state = 1 ORDER BY id")
        return [int(row[0]) for row in rows]

    def online_files(self, content_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        """``(path, content id, root name)`` of the contents' online files, by file id."""
        marks = ",".join("?" * len(content_ids))
        return [(os_path(path), int(cid), root) for path, cid, root in self.conn.execute(
            "SELECT f.path, f.content_id, r.name FROM file f JOIN root r ON r.id = f.root_id"
            f" WHERE f.state = 'ok' AND f.content_id IN ({marks}) ORDER BY f.id",
            list(content_ids),
        )]

    def tags(self, content_ids: Sequence[int]) -> dict[int, list[tuple[str, int, float]]]:
        """Each content's tags as ``(name, kind, score)``, one per origin."""
        marks = ",".join("?" * len(content_ids))
        tags: dict[int, list[tuple[str, int, float]]] = defaultdict(list)
        for content_id, name, kind, score in self.conn.execute(
            "SELECT it.content_id, t.name, it.kind, it.score FROM image_tag it"
            f" JOIN tag t ON t.id = it.tag_id WHERE it.content_id IN ({marks})",
            list(content_ids),
        ):
            tags[int(content_id)].append((name, int(kind), float(score)))
        return tags

    def about(self, content_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
        """Each content's source site and artist name."""
        marks = ",".join("?" * len(content_ids))
        return {int(cid): (source, user) for cid, source, user in self.conn.execute(
            f"SELECT id, source, user_name FROM content WHERE id IN ({marks})",
            list(content_ids),
        )}

    def ocr_texts(self, content_ids: Sequence[int]) -> dict[int, str]:
        marks = ",".join("?" * len(content_ids))
        return {int(cid): text for cid, text in self.conn.execute(
            f"SELECT content_id, text FROM ocr_text WHERE content_id IN ({marks})",
            list(content_ids),
        )}
