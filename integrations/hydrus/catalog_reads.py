"""What the Hydrus push reads from the catalogue, on either backend.

The push, the payloads and the sidecars read through :func:`reads_for`, the
one place that picks the backend: the SQLite catalogue's SQL (below) or the
MongoDB catalogue's collections (:mod:`~pximse.integrations.hydrus.mongo_reads`).
Both give the same answers for the same writes. The push ledger is a SQLite
file of its own in the data folder whatever the catalogue is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pximse.store.names import parse_name
from pximse.store.pathtext import os_path
from pximse.store.sqlite.database import select_in

__all__ = ["HydrusReads", "PayloadRow", "SqliteHydrusReads", "TagRow", "add_md5s", "md5_wanted",
           "ocr_line_scores", "reads_for"]

TagRow = tuple[str, str, int, float]
"""One tag of an image: (name, origin, kind, score)."""


@dataclass
class PayloadRow:
    """What a payload is built from: the image's source columns, tags and OCR text."""

    sha256: str
    source: str
    user_id: str | None
    user_name: str | None
    post_id: str | None
    tags: list[TagRow] = field(default_factory=list)
    note: str | None = None
    note_lines: list[tuple[str, float | None]] | None = None
    """The OCR lines with their confidence (None where OCR gave no score), when known."""
    md5: str | None = None
    """The md5 a booru file's name gives, for a post known by it alone (Danbooru)."""


class HydrusReads(Protocol):
    def count_images(self) -> int:
        """Images the catalogue has results for (present or offline)."""

    def image_ids_after(self, after: int, limit: int) -> list[int]:
        """The next ``limit`` of those images' content ids above ``after``, ascending."""

    def changed_since(self, gen: int) -> tuple[int, list[int]]:
        """Images written after write generation ``gen`` (ascending), and the
        generation up to which every write has been seen."""

    def sha256s(self, ids: Sequence[int]) -> dict[int, str]:
        """The SHA-256 of each of these images the catalogue knows."""

    def payload_rows(self, ids: Sequence[int], *, notes: bool) -> dict[int, PayloadRow]:
        """The rows of these images (unknown ids are left out); ``notes``: read OCR text."""

    def online_files(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """(path, sha256) of every online file of these images."""


def ocr_line_scores(lines: list[Any] | None) -> list[tuple[str, float | None]] | None:
    """``[[text, box, confidence], ...]`` as stored, to (text, confidence) pairs."""
    if lines is None:
        return None
    return [(str(line[0]), None if line[2] is None else float(line[2])) for line in lines]


def add_md5s(rows: dict[int, PayloadRow], names: Iterable[tuple[int, str]]) -> None:
    """The md5 of the Danbooru posts known by md5 alone, from their files' names."""
    for content_id, name in names:
        row = rows.get(content_id)
        if row is not None and row.md5 is None:
            row.md5 = parse_name(name).md5


def md5_wanted(rows: dict[int, PayloadRow]) -> list[int]:
    return [cid for cid, row in rows.items() if row.source == "danbooru" and not row.post_id]


def reads_for(catalog: Any) -> HydrusReads:
    """The reads for this catalogue: MongoDB's when it has a database on a server."""
    if hasattr(catalog, "mdb"):
        from pximse.integrations.hydrus.mongo_reads import MongoHydrusReads

        return MongoHydrusReads(catalog.mdb)
    return SqliteHydrusReads(catalog.db)


class SqliteHydrusReads:
    """The embedded catalogue's reads, on this thread's reader connection."""

    def __init__(self, database: Any) -> None:
        self.db = database

    def count_images(self) -> int:
        conn = self.db.reader()
        return int(conn.execute("SELECT count(*) FROM content WHERE state >= 0").fetchone()[0])

    def image_ids_after(self, after: int, limit: int) -> list[int]:
        rows = self.db.reader().execute(
            "SELECT id FROM content WHERE state >= 0 AND id > ? ORDER BY id LIMIT ?",
            (after, limit)).fetchall()
        return [int(r[0]) for r in rows]

    def changed_since(self, gen: int) -> tuple[int, list[int]]:
        # One statement, one snapshot: every write up to the newest generation seen
        # is whole (SQLite's transactions).
        rows = self.db.reader().execute(
            "SELECT id, gen FROM content WHERE gen > ? AND state >= 0 ORDER BY id",
            (gen,)).fetchall()
        newest = max((int(r[1]) for r in rows), default=gen)
        return newest, [int(r[0]) for r in rows]

    def sha256s(self, ids: Sequence[int]) -> dict[int, str]:
        return {int(cid): sha for cid, sha in select_in(
            self.db.reader(), "SELECT id, sha256 FROM content WHERE id IN", ids)}

    def payload_rows(self, ids: Sequence[int], *, notes: bool) -> dict[int, PayloadRow]:
        conn = self.db.reader()
        rows = {int(cid): PayloadRow(sha, source, user_id, user_name, post_id)
                for cid, sha, source, user_id, user_name, post_id in select_in(
                    conn, "SELECT id, sha256, source, user_id, user_name, post_id"
                          " FROM content WHERE id IN", ids)}
        for content_id, name, origin, kind, score in select_in(
                conn, "SELECT it.content_id, t.name, it.origin, it.kind, it.score"
                      " FROM image_tag it JOIN tag t ON t.id = it.tag_id"
                      " WHERE it.content_id IN", ids):
            if content_id in rows:
                rows[content_id].tags.append((name, origin, kind, score))
        if wanted := md5_wanted(rows):
            add_md5s(rows, select_in(conn, "SELECT content_id, name FROM file"
                                           " WHERE content_id IN", wanted))
        if notes:
            for content_id, text, lines in select_in(
                    conn, "SELECT t.content_id, t.text, r.lines FROM ocr_text t"
                          " LEFT JOIN ocr_result r ON r.content_id = t.content_id"
                          " WHERE t.content_id IN", ids):
                if content_id in rows:
                    rows[content_id].note = text
                    rows[content_id].note_lines = ocr_line_scores(
                        json.loads(lines) if lines else None)
        return rows

    def online_files(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        return [(os_path(path), sha) for path, sha in select_in(
            self.db.reader(),
            "SELECT f.path, c.sha256 FROM file f JOIN content c ON c.id = f.content_id"
            " WHERE f.state = 'ok' AND f.content_id IN", ids)]
