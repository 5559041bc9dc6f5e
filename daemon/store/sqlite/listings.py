"""The SQLite catalogue's full listing of a page of results, and a file by its place
in a root (see :mod:`pximse.store.listing`)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from pximse.library.pathtext import os_path, stored_path
from pximse.store.listing import ResultDetails, listed_file

_CHUNK = 500


def result_details(conn: sqlite3.Connection, sha256s: Sequence[str]
                   ) -> dict[str, ResultDetails]:
    """Details by SHA-256 for the contents the catalogue has among ``sha256s``."""
    found: dict[str, ResultDetails] = {}
    for start in range(0, len(sha256s), _CHUNK):
        found.update(_chunk(conn, [s.lower() for s in sha256s[start:start + _CHUNK]]))
    return found


def _chunk(conn: sqlite3.Connection, shas: list[str]) -> dict[str, ResultDetails]:
    marks = ",".join("?" * len(shas))
    by_id: dict[int, ResultDetails] = {}
    sha_of: dict[int, str] = {}
    posts: dict[str, list[int]] = {}
    for (cid, sha, title, views, bookmarks, likes, comments, ai, r18, pixiv_state, source,
         post) in conn.execute(
            "SELECT id, sha256, title, views, bookmarks, likes, comments, ai, r18, pixiv_state,"
            f" source, post_id FROM content WHERE sha256 IN ({marks})", shas):
        by_id[cid] = ResultDetails(
            title=title, views=views, bookmarks=bookmarks, likes=likes, comments=comments,
            ai=None if ai is None else bool(ai), r18=None if r18 is None else bool(r18),
            pixiv_state=pixiv_state)
        sha_of[cid] = sha
        if source == "pixiv" and post:
            posts.setdefault(post, []).append(cid)
    if not by_id:
        return {}
    ids = list(by_id)
    id_marks = ",".join("?" * len(ids))
    for cid, path, name, folder, root, root_path, state in conn.execute(
            "SELECT f.content_id, f.path, f.name, f.folder, r.name, r.path, f.state"
            " FROM file f JOIN root r ON r.id = f.root_id"
            f" WHERE f.content_id IN ({id_marks}) ORDER BY f.state != 'ok', f.id", ids):
        by_id[cid].files.append(listed_file(path, name, folder, root, root_path, state))
    for cid, name, kind, score in conn.execute(
            "SELECT it.content_id, t.name, it.kind, it.score FROM image_tag it"
            f" JOIN tag t ON t.id = it.tag_id WHERE it.content_id IN ({id_marks})"
            " ORDER BY it.content_id, it.kind, it.score DESC, t.key", ids):
        details = by_id[cid]
        if kind == 0:
            details.model_tags.setdefault(name, score)
        elif name not in details.source_tags:
            details.source_tags.append(name)
    for cid, text in conn.execute(
            f"SELECT content_id, text FROM ocr_text WHERE content_id IN ({id_marks})", ids):
        by_id[cid].ocr_text = text
    if posts:
        post_marks = ",".join("?" * len(posts))
        for post, caption in conn.execute(
                f"SELECT illust_id, caption FROM pixiv_work WHERE illust_id IN ({post_marks})",
                list(posts)):
            for cid in posts[post]:
                by_id[cid].caption = caption
    return {sha_of[cid]: details for cid, details in by_id.items()}


def recorded_file_at(conn: sqlite3.Connection, root: str, relative: Sequence[str]
                     ) -> tuple[str, tuple[str, str, int, int, str]] | None:
    """The online file at ``relative`` (names from the root down) under the root
    named ``root``: its content's SHA-256 and the row ``recorded_files`` gives
    (path, format, size, mtime_ns, root path); None when the catalogue has none."""
    found = conn.execute("SELECT id, path FROM root WHERE name = ?", (root,)).fetchone()
    if found is None or not relative:
        return None
    root_id, root_path = found
    path = stored_path(os.path.join(os_path(root_path), *relative))
    row = conn.execute(
        "SELECT c.sha256, f.path, c.format, f.size, f.mtime_ns FROM file f"
        " JOIN content c ON c.id = f.content_id"
        " WHERE f.path = ? AND f.root_id = ? AND f.state = 'ok'", (path, root_id)).fetchone()
    if row is None:
        return None
    sha, file_path, fmt, size, mtime_ns = row
    return sha, (file_path, fmt, int(size), int(mtime_ns), root_path)
