"""The SQLite catalogue's full listing of a page of results, and a file by its place
in a root (see :mod:`pximse.store.listing`)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from operator import itemgetter

from pximse.store.listing import ResultDetails, listed_file
from pximse.store.pathtext import os_path, stored_path

_CHUNK = 500


def result_details(conn: sqlite3.Connection, sha256s: Sequence[str], min_model_score: float
                   ) -> dict[str, ResultDetails]:
    """Details by SHA-256 for the contents the catalogue has among ``sha256s``,
    with the tagger tags scored at least ``min_model_score``."""
    found: dict[str, ResultDetails] = {}
    for start in range(0, len(sha256s), _CHUNK):
        found.update(_chunk(conn, [s.lower() for s in sha256s[start:start + _CHUNK]],
                            min_model_score))
    return found


def _tag_names(conn: sqlite3.Connection, tag_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Tag id -> (key, name)."""
    found: dict[int, tuple[str, str]] = {}
    ordered = sorted(tag_ids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        found.update((tag_id, (key, name)) for tag_id, key, name in conn.execute(
            f"SELECT id, key, name FROM tag WHERE id IN ({','.join('?' * len(chunk))})",
            chunk))
    return found


def _chunk(conn: sqlite3.Connection, shas: list[str], min_model_score: float
           ) -> dict[str, ResultDetails]:
    marks = ",".join("?" * len(shas))
    by_id: dict[int, ResultDetails] = {}
    sha_of: dict[int, str] = {}
    posts: dict[str, list[int]] = {}
    for (cid, sha, title, views, bookmarks, likes, comments, ai, r18, pixiv_state, origin,
         post) in conn.execute(
            "SELECT id, sha256, title, views, bookmarks, likes, comments, ai, r18, pixiv_state,"
            f" source, post_id FROM content WHERE sha256 IN ({marks})", shas):
        by_id[cid] = ResultDetails(
            title=title, views=views, bookmarks=bookmarks, likes=likes, comments=comments,
            ai=None if ai is None else bool(ai), r18=None if r18 is None else bool(r18),
            pixiv_state=pixiv_state)
        sha_of[cid] = sha
        if origin == "pixiv" and post:
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
    # No join and no ORDER BY: each row's score is a look-up in the table already,
    # the names come once per distinct tag, and the few tags of an image are
    # ordered here.
    rows = conn.execute(
        "SELECT content_id, tag_id, kind, score FROM image_tag"
        f" WHERE content_id IN ({id_marks}) AND (kind != 0 OR score >= ?)",
        [*ids, min_model_score]).fetchall()
    names = _tag_names(conn, {row[1] for row in rows})
    model: dict[int, dict[str, float]] = {}
    source: dict[int, set[tuple[str, str]]] = {}
    for cid, tag_id, kind, score in rows:  # tens of thousands for a page of 1,000
        if kind == 0:
            name = names[tag_id][1]
            tags = model.get(cid)
            if tags is None:
                model[cid] = {name: score}
            elif score > tags.get(name, -1.0):  # two taggers: the best score
                tags[name] = score
        else:
            source.setdefault(cid, set()).add(names[tag_id])
    for cid, tags in model.items():  # best first; a stable sort keeps ties in place
        by_id[cid].model_tags = dict(sorted(tags.items(), key=itemgetter(1), reverse=True))
    for cid, pairs in source.items():
        by_id[cid].source_tags = list(dict.fromkeys(name for _, name in sorted(pairs)))
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
