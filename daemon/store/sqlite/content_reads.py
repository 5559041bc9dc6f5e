"""What the integrations (XMP sidecars, the Hydrus push) and the search page read
of many contents at once, with SQL on this thread's reader connection.

Each call reads its rows in chunks of ids (:func:`select_in`), one statement
a chunk. A write is one transaction, so one statement sees every write whole:
:meth:`ContentReads.changed_since` takes its watermark from the rows it read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from pximse.store.pathtext import os_path
from pximse.store.records import ContentFile, ContentSource, ContentTag, OcrText, TagTally
from pximse.store.sqlite.compiler import like_escape
from pximse.store.sqlite.database import Database, select_in

_CHUNK = 500


def _listed(include_offline: bool) -> str:
    """Contents with files: online (state 1), and offline ones (0) when asked."""
    return "state >= 0" if include_offline else "state = 1"


def _like(text: str) -> str:
    """``text`` anywhere, as a LIKE pattern with ``\\`` escaping."""
    return "%" + like_escape(text) + "%"


class ContentReads:
    """Mixed into :class:`~pximse.store.sqlite.catalog.SqliteCatalog`, which owns ``db``."""

    db: Database

    def identity(self) -> str:
        return "sqlite"

    def settled_generation(self) -> int:
        row = self.db.reader().execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()
        return int(row[0]) if row else 0

    def changed_since(self, generation: int, *, include_offline: bool = True
                      ) -> tuple[int, list[int]]:
        # One statement, one snapshot: every write up to the newest generation seen
        # is whole (SQLite's transactions).
        rows = self.db.reader().execute(
            f"SELECT id, gen FROM content WHERE gen > ? AND {_listed(include_offline)}"
            " ORDER BY id", (generation,)).fetchall()
        newest = max((int(row[1]) for row in rows), default=generation)
        return newest, [int(row[0]) for row in rows]

    def count_images(self, *, include_offline: bool = True) -> int:
        return int(self.db.reader().execute(
            f"SELECT count(*) FROM content WHERE {_listed(include_offline)}").fetchone()[0])

    def content_ids_after(self, after: int = 0, limit: int | None = None, *,
                          include_offline: bool = True) -> list[int]:
        rows = self.db.reader().execute(
            f"SELECT id FROM content WHERE {_listed(include_offline)} AND id > ?"
            " ORDER BY id LIMIT ?", (after, -1 if limit is None else limit))
        return [int(row[0]) for row in rows]

    def content_files(self, content_ids: Sequence[int], *, online_only: bool = True
                      ) -> list[ContentFile]:
        online = "f.state = 'ok' AND " if online_only else ""
        rows = select_in(
            self.db.reader(),
            "SELECT f.content_id, c.sha256, f.path, f.name, r.name FROM file f"
            " JOIN content c ON c.id = f.content_id JOIN root r ON r.id = f.root_id"
            f" WHERE {online}f.content_id IN", [int(cid) for cid in content_ids], _CHUNK,
            " ORDER BY f.id")
        return [ContentFile(int(cid), sha, os_path(path), name, root)
                for cid, sha, path, name, root in rows]

    def content_sources(self, content_ids: Sequence[int]) -> dict[int, ContentSource]:
        return {int(cid): ContentSource(sha, source, user_id, user_name, post_id)
                for cid, sha, source, user_id, user_name, post_id in select_in(
                    self.db.reader(), "SELECT id, sha256, source, user_id, user_name, post_id"
                                      " FROM content WHERE id IN",
                    [int(cid) for cid in content_ids], _CHUNK)}

    def content_tags(self, content_ids: Sequence[int]) -> dict[int, list[ContentTag]]:
        tags: dict[int, list[ContentTag]] = defaultdict(list)
        for content_id, name, origin, kind, score in select_in(
                self.db.reader(), "SELECT it.content_id, t.name, it.origin, it.kind, it.score"
                                  " FROM image_tag it JOIN tag t ON t.id = it.tag_id"
                                  " WHERE it.content_id IN",
                [int(cid) for cid in content_ids], _CHUNK):
            tags[content_id].append(ContentTag(name, origin, kind, score))
        return dict(tags)

    def ocr_texts(self, content_ids: Sequence[int], *, line_scores: bool = False
                  ) -> dict[int, OcrText]:
        ids = [int(cid) for cid in content_ids]
        conn = self.db.reader()
        if not line_scores:
            return {int(cid): OcrText(text) for cid, text in select_in(
                conn, "SELECT content_id, text FROM ocr_text WHERE content_id IN", ids, _CHUNK)}
        return {int(cid): OcrText(text, _line_scores(lines)) for cid, text, lines in select_in(
            conn, "SELECT t.content_id, t.text, r.lines FROM ocr_text t"
                  " LEFT JOIN ocr_result r ON r.content_id = t.content_id"
                  " WHERE t.content_id IN", ids, _CHUNK)}

    def tag_tally(self, sha256s: Sequence[str], threshold: float) -> TagTally:
        conn = self.db.reader()
        wanted = sorted({sha.lower() for sha in sha256s})
        tags: dict[str, tuple[int, bool]] = {}
        artists: dict[tuple[str | None, str | None, str | None], int] = defaultdict(int)
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(part))
            ids = f"SELECT id FROM content WHERE sha256 IN ({marks}) AND state IN (0, 1)"
            for name, count, from_model in conn.execute(
                    "SELECT t.name, count(DISTINCT it.content_id), max(it.kind = 0)"
                    " FROM image_tag it JOIN tag t ON t.id = it.tag_id"
                    f" WHERE it.content_id IN ({ids}) AND (it.kind != 0 OR it.score >= ?)"
                    " GROUP BY t.id", (*part, threshold)):
                seen, model = tags.get(name, (0, False))
                tags[name] = (seen + count, model or bool(from_model))
            for user_name, user_id, source, count in conn.execute(
                    "SELECT user_name, user_id, source, count(*) FROM content"
                    f" WHERE sha256 IN ({marks}) AND state IN (0, 1)"
                    " AND (user_name IS NOT NULL OR user_id IS NOT NULL) GROUP BY 1, 2, 3", part):
                artists[(user_name, user_id, source)] += count
        return TagTally(tags, dict(artists))

    def tags_containing(self, key: str, limit: int = 10) -> list[tuple[str, int]]:
        return [(name, count) for name, count in self.db.reader().execute(
            "SELECT name, count FROM tag WHERE key LIKE ? ESCAPE '\\' AND count > 0"
            " ORDER BY count DESC, key LIMIT ?", (_like(key), limit))]

    def user_names_matching(self, word: str, limit: int = 10) -> list[tuple[str, int]]:
        conn = self.db.reader()
        prefix = _like(word)[1:]
        found = [(name, count) for name, count in conn.execute(
            "SELECT user_name, count(*) FROM content WHERE user_name LIKE ? ESCAPE '\\'"
            " AND state IN (0, 1) GROUP BY user_name COLLATE NOCASE ORDER BY 2 DESC, 1 LIMIT ?",
            (prefix, limit))]
        if len(found) < limit and word:
            seen = {name.casefold() for name, _ in found}
            found += [(name, count) for name, count in conn.execute(
                "SELECT user_name, count(*) FROM content WHERE user_name LIKE ? ESCAPE '\\'"
                " AND state IN (0, 1) GROUP BY user_name COLLATE NOCASE ORDER BY 2 DESC, 1"
                " LIMIT ?", (_like(word), limit + len(found))) if name.casefold() not in seen]
        return found[:limit]


def _line_scores(lines: str | None) -> tuple[tuple[str, float | None], ...] | None:
    """``[[text, box, confidence], ...]`` as stored, to (text, confidence) pairs."""
    if not lines:
        return None
    return tuple((str(line[0]), None if line[2] is None else float(line[2]))
                 for line in json.loads(lines))
