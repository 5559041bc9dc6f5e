"""Pixiv metadata in the SQLite catalogue.

``pixiv_work`` holds what Pixiv said about each work (one row per illust id);
every image of the work gets a copy in its content row (``pixiv_state``,
``views``, ``bookmarks``, ``likes``, ``comments``, ``ai``, ``r18``, and the
work's title, post date and user id), so that queries filter and sort on
plain columns in both query engines, and its tags and their translations as
source tags of origin ``pixiv``. The copy is made whenever a content row is
derived again from its files (:meth:`PixivRows.apply_pixiv`, called from the
catalogue's refresh), so renaming a file away from a work or onto one does the
right thing without a fetch.

User names: a file whose name gives a Pixiv user id but no name gets the name
most recently seen for that id (``name_filled`` marks it). A name is "seen"
by a fetch at its fetch time, and by a file name at the file's modification
time (when the downloader wrote it). A name that comes with the file itself
is never replaced. The rules both catalogues follow are in
:mod:`pximse.store.pixiv_fields`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pximse.store.content_fields import KIND_SOURCE
from pximse.store.names import SourceInfo
from pximse.store.pixiv_fields import (
    IMAGE_FIELDS,
    PIXIV_ORIGIN,
    WORK_FIELDS,
    best_names,
    image_copy,
    merge_hidden,
    most_recent_name,
    tag_names,
    work_from_values,
    work_values,
)
from pximse.store.records import PixivTag, PixivWork
from pximse.store.sqlite.database import Database
from pximse.store.tagnames import tag_key

__all__ = ["PIXIV_ORIGIN", "PixivRows", "best_user_name", "read_pixiv_work"]

_WORK_COLUMNS = ", ".join(("illust_id", *WORK_FIELDS))
_FILL_NAME = ("UPDATE content SET user_name = ?, name_filled = 1, gen = ?"
              " WHERE source = 'pixiv' AND user_id = ?"
              " AND (user_name IS NULL OR name_filled = 1) AND user_name IS NOT ?")
"""Give a user's most recent name to the images that have none of their own
(parameters: name, gen, user id, name)."""


def _stored_values(conn: sqlite3.Connection, illust_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {_WORK_COLUMNS} FROM pixiv_work WHERE illust_id = ?", (illust_id,)
    ).fetchone()
    if row is None:
        return None
    values = dict(zip(WORK_FIELDS, row[1:], strict=True))
    values["tags"] = json.loads(values["tags"])
    return values


def read_pixiv_work(conn: sqlite3.Connection, illust_id: str) -> PixivWork | None:
    values = _stored_values(conn, illust_id)
    return None if values is None else work_from_values(illust_id, values)


def best_user_name(conn: sqlite3.Connection, user_id: str) -> str | None:
    """The name most recently seen for a Pixiv user id (ties: the smaller name)."""
    return most_recent_name(conn.execute(
        "SELECT name, seen FROM pixiv_user_name WHERE user_id = ?", (user_id,)))


class PixivRows:
    """Pixiv reads and writes; mixed into :class:`SqliteCatalog`, which owns ``db``
    and the tag and refresh machinery used here."""

    db: Database

    # Provided by SqliteCatalog.
    def _refresh_content(self, conn: Any, content_ids: Iterable[int]) -> None:
        raise NotImplementedError

    def _replace_tags(self, conn: Any, content_id: int, origin: str, kind: int,
                      tags: Mapping[str, float], *, refresh: bool = True) -> None:
        raise NotImplementedError

    # -- what to fetch -------------------------------------------------------------

    def pixiv_candidates(self, *, fetched_before: int, include_missing: bool = False,
                         content_ids: np.ndarray | None = None) -> list[str]:
        """Illust ids of the library's Pixiv images that need a fetch: never
        fetched (newest works first), then fetched before ``fetched_before``
        (oldest fetch first). Deleted and private works only with
        ``include_missing``; ``content_ids`` narrows to those images."""
        params: list[object] = []
        narrow = ""
        if content_ids is not None:
            narrow = " AND c.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in content_ids]))
        params += [fetched_before, int(include_missing)]
        rows = self.db.reader().execute(
            "SELECT c.post_id, w.fetched_at FROM content c"
            " LEFT JOIN pixiv_work w ON w.illust_id = c.post_id"
            f" WHERE c.source = 'pixiv' AND c.post_id IS NOT NULL AND c.state >= 0{narrow}"
            " AND (w.illust_id IS NULL OR (w.fetched_at < ? AND (w.state = 'ok' OR ?)))"
            " GROUP BY c.post_id"
            " ORDER BY w.fetched_at IS NOT NULL, w.fetched_at,"
            " length(c.post_id) DESC, c.post_id DESC",
            params,
        )
        return [row[0] for row in rows]

    def pixiv_summary(self, *, fetched_after: int | None = None) -> dict[str, int]:
        """Works in the library by what Pixiv said (``unfetched`` for never asked,
        ``errors`` for the last attempt failing); ``fresh``: ok works fetched at or
        after ``fetched_after``, ``fresh_missing`` the deleted and private ones."""
        conn = self.db.reader()
        counts = {"works": 0, "unfetched": 0, "ok": 0, "deleted": 0, "private": 0,
                  "errors": 0, "fresh": 0, "fresh_missing": 0}
        for state, number, fresh in conn.execute(
            "SELECT coalesce(w.state, 'unfetched'), count(*), sum(w.fetched_at >= ?) FROM"
            " (SELECT DISTINCT post_id FROM content WHERE source = 'pixiv'"
            "  AND post_id IS NOT NULL AND state >= 0) p"
            " LEFT JOIN pixiv_work w ON w.illust_id = p.post_id GROUP BY 1",
            (fetched_after if fetched_after is not None else 2**62,),
        ):
            counts[state] = counts.get(state, 0) + number
            counts["works"] += number
            counts["fresh" if state == "ok" else "fresh_missing"] += fresh or 0
        counts["errors"] = conn.execute(
            "SELECT count(*) FROM pixiv_error e WHERE EXISTS (SELECT 1 FROM content c"
            " WHERE c.source = 'pixiv' AND c.post_id = e.illust_id AND c.state >= 0)"
        ).fetchone()[0]
        return counts

    def pixiv_work(self, illust_id: str) -> PixivWork | None:
        return read_pixiv_work(self.db.reader(), illust_id)

    def pixiv_errors(self, limit: int = 20) -> list[dict[str, Any]]:
        return [
            {"illust_id": illust_id, "message": message, "attempts": attempts, "at": at}
            for illust_id, message, attempts, at in self.db.reader().execute(
                "SELECT illust_id, message, attempts, last_at FROM pixiv_error"
                " ORDER BY last_at DESC LIMIT ?", (limit,))
        ]

    # -- what a fetch found ----------------------------------------------------------

    def record_pixiv_work(self, work: PixivWork) -> None:
        """Store one answer from Pixiv and copy it to the work's images.

        For ``ok`` the row is replaced. For ``deleted``/``private`` only the
        state, the door and the time change; what Pixiv still tells (a hidden
        work's title, say) fills in, and everything known before stays."""
        update = ", ".join(f"{name} = excluded.{name}" for name in WORK_FIELDS)
        with self.db.write() as conn:
            values = merge_hidden(work_values(work), _stored_values(conn, work.illust_id))
            values["tags"] = json.dumps(values["tags"], ensure_ascii=False)
            conn.execute(
                f"INSERT INTO pixiv_work ({_WORK_COLUMNS})"
                f" VALUES ({','.join('?' * (1 + len(WORK_FIELDS)))})"
                f" ON CONFLICT(illust_id) DO UPDATE SET {update}",
                (work.illust_id, *(values[name] for name in WORK_FIELDS)),
            )
            conn.execute("DELETE FROM pixiv_error WHERE illust_id = ?", (work.illust_id,))
            if work.user_id and work.user_name:  # a hidden work may still name its artist
                self._note_user_name(conn, work.user_id, work.user_name, work.fetched_at)
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM content WHERE source = 'pixiv' AND post_id = ?",
                (work.illust_id,))]
            self._refresh_content(conn, ids)

    def record_pixiv_error(self, illust_id: str, message: str, at: int) -> None:
        """A failed attempt: kept apart from the work's state, which it never changes."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO pixiv_error (illust_id, message, attempts, last_at)"
                " VALUES (?, ?, 1, ?) ON CONFLICT(illust_id) DO UPDATE SET"
                " message = excluded.message, attempts = attempts + 1, last_at = excluded.last_at",
                (illust_id, message[:2000], at),
            )

    # -- the user names ----------------------------------------------------------------

    def update_user_names(self) -> int:
        """The full pass: learn every name the catalogue's file names and fetches
        have seen, then give each image with a Pixiv user id and no name of its
        own the most recent one. Returns how many images changed."""
        with self.db.write() as conn:
            return self._update_user_names(conn)

    def _update_user_names(self, conn: Any) -> int:
        conn.execute(
            "INSERT INTO pixiv_user_name (user_id, name, seen)"
            " SELECT user_id, user_name, max(date) FROM content"
            " WHERE source = 'pixiv' AND user_id IS NOT NULL AND user_name IS NOT NULL"
            " AND user_name != '' AND name_filled = 0 AND state >= 0 GROUP BY 1, 2"
            " ON CONFLICT(user_id, name) DO UPDATE SET seen = max(seen, excluded.seen)"
        )
        conn.execute(
            "INSERT INTO pixiv_user_name (user_id, name, seen)"
            " SELECT user_id, user_name, max(fetched_at) FROM pixiv_work"
            " WHERE user_id IS NOT NULL AND user_name IS NOT NULL AND user_name != ''"
            " GROUP BY 1, 2"
            " ON CONFLICT(user_id, name) DO UPDATE SET seen = max(seen, excluded.seen)"
        )
        best = best_names(conn.execute("SELECT user_id, name, seen FROM pixiv_user_name"))
        cursor = conn.executemany(_FILL_NAME, [(name, self.db.gen, user_id, name)
                                               for user_id, name in best.items()])
        return max(int(cursor.rowcount), 0)

    def _update_user_names_once(self) -> None:
        """The full pass, once after the schema gained the names table (the flag)."""
        flagged = self.db.reader().execute(
            "SELECT 1 FROM meta WHERE key = 'pixiv_names'").fetchone()
        if flagged is None:
            return
        with self.db.write() as conn:
            self._update_user_names(conn)
            conn.execute("DELETE FROM meta WHERE key = 'pixiv_names'")

    def _note_user_name(self, conn: Any, user_id: str, name: str, seen: int) -> None:
        """Remember a name seen for ``user_id``; when that changes the user's most
        recent name, give it to the images that have no name of their own."""
        before = best_user_name(conn, user_id)
        conn.execute(
            "INSERT INTO pixiv_user_name (user_id, name, seen) VALUES (?, ?, ?)"
            " ON CONFLICT(user_id, name) DO UPDATE SET seen = max(seen, excluded.seen)",
            (user_id, name, seen),
        )
        after = best_user_name(conn, user_id)
        if after is not None and after != before:
            conn.execute(_FILL_NAME, (after, self.db.gen, user_id, after))

    # -- the copy on each image ----------------------------------------------------------

    def apply_pixiv(self, conn: Any, content_id: int, info: SourceInfo, date: int | None
                    ) -> None:
        """Bring one content row's Pixiv columns, filled-in name and Pixiv tags in
        line with ``info`` (what its file name says, just written to the row)."""
        old_state, old_filled = conn.execute(
            "SELECT pixiv_state, name_filled FROM content WHERE id = ?", (content_id,)
        ).fetchone()
        pixiv = info.source == "pixiv"
        work = read_pixiv_work(conn, info.post_id) if pixiv and info.post_id else None
        user_id = info.user_id or (work.user_id if work is not None else None)
        name, filled = info.user_name, 0
        if pixiv and user_id and not name:
            name = best_user_name(conn, user_id)
            filled = int(name is not None)
        if work is not None or old_state is not None or filled or old_filled \
                or user_id != info.user_id:
            copy = image_copy(work)
            conn.execute(
                "UPDATE content SET pixiv_state = ?, views = ?, bookmarks = ?, likes = ?,"
                " comments = ?, ai = ?, r18 = ?, title = coalesce(?, title),"
                " posted = coalesce(?, posted), user_id = ?, user_name = ?, name_filled = ?,"
                " gen = ? WHERE id = ?",
                (*(copy[field] for field in IMAGE_FIELDS), user_id, name, filled, self.db.gen,
                 content_id),
            )
        if work is not None:
            self._set_pixiv_tags(conn, content_id, work.tags)
        elif old_state is not None:
            self._set_pixiv_tags(conn, content_id, [])
        if pixiv and info.user_id and info.user_name:
            self._note_user_name(conn, info.user_id, info.user_name, date or 0)

    def _set_pixiv_tags(self, conn: Any, content_id: int, tags: list[PixivTag]) -> None:
        wanted = tag_names(tags)
        have = {row[0] for row in conn.execute(
            "SELECT t.key FROM image_tag it JOIN tag t ON t.id = it.tag_id"
            " WHERE it.content_id = ? AND it.origin = ?", (content_id, PIXIV_ORIGIN))}
        if have != {tag_key(name) for name in wanted}:
            self._replace_tags(conn, content_id, PIXIV_ORIGIN, KIND_SOURCE, wanted)
