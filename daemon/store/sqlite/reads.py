"""The catalogue's reads for the API and the CLI: one image, its file, tags, status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pximse.query.errors import QueryError
from pximse.store.listing import ResultDetails
from pximse.store.pathtext import os_path, readable
from pximse.store.records import FileEntry, ImageDetail, TagEntry, epoch_to_iso
from pximse.store.sqlite import listings
from pximse.store.sqlite.database import Database, select_in
from pximse.store.sqlite.ocrindex import read_ocr
from pximse.store.sqlite.pixivrows import read_pixiv_work
from pximse.store.sqlite.search import SUMMARY_COLUMNS, summary_from_row
from pximse.store.tagnames import tag_key


class CatalogReads:
    """Read-only queries; mixed into :class:`SqliteCatalog`, which owns ``db``."""

    db: Database

    def content_id_for(self, sha256: str) -> int | None:
        row = self.db.reader().execute(
            "SELECT id FROM content WHERE sha256 = ?", (sha256.lower(),)
        ).fetchone()
        return None if row is None else int(row[0])

    def content_id_of(self, prefix: str, key: str = "similar") -> int:
        """The content id of the one image whose SHA-256 starts with ``prefix``;
        a :class:`QueryError` naming ``key:`` when none or several do."""
        rows = self.db.reader().execute(
            "SELECT id FROM content WHERE sha256 >= ? AND sha256 < ? ORDER BY sha256 LIMIT 2",
            (prefix, prefix + "g"),  # 'g' sorts after every hex digit
        ).fetchall()
        if not rows:
            raise QueryError(f"{key}: no image has an id starting with {prefix}")
        if len(rows) > 1:
            raise QueryError(f"{key}: {prefix} is the start of several image ids; "
                             "give more digits")
        return int(rows[0][0])

    def phashes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Content ids, perceptual hashes and their versions (see PHASH_VERSION in
        library/probe.py) of every image in the catalogue that has one."""
        rows = self.db.reader().execute(
            "SELECT id, phash, coalesce(phash_version, 1) FROM content"
            " WHERE state IN (0, 1) AND phash IS NOT NULL")
        data = np.fromiter(rows, dtype=[("id", np.int64), ("phash", np.int64),
                                        ("version", np.int8)])
        return data["id"], data["phash"], data["version"]

    def tag_counts(self, keys: Sequence[str]) -> dict[str, int]:
        """Images per tag key, and the number of images under the key ``""``."""
        conn = self.db.reader()
        counts: dict[str, int] = {}
        if keys:
            marks = ",".join("?" * len(keys))
            counts.update(
                conn.execute(f"SELECT key, count FROM tag WHERE key IN ({marks})", list(keys))
            )
        counts[""] = conn.execute("SELECT max(id) FROM content").fetchone()[0] or 0
        return counts

    def tags_with_prefix(self, prefix: str, limit: int = 20) -> list[tuple[str, int]]:
        """Tags whose key starts with ``prefix``, most used first (autocomplete)."""
        key = tag_key(prefix)
        upper = key[:-1] + chr(ord(key[-1]) + 1) if key else None
        conn = self.db.reader()
        if upper is None:
            rows = conn.execute(
                "SELECT name, count FROM tag WHERE count > 0 ORDER BY count DESC, key LIMIT ?",
                (limit,),
            )
        else:
            rows = conn.execute(
                "SELECT name, count FROM tag WHERE key >= ? AND key < ? AND count > 0"
                " ORDER BY count DESC, key LIMIT ?",
                (key, upper, limit),
            )
        return [(name, count) for name, count in rows]

    def image(self, sha256: str) -> ImageDetail | None:
        """Everything the catalogue knows about one content."""
        conn = self.db.reader()
        row = conn.execute(
            f"SELECT {SUMMARY_COLUMNS}, c.id, c.phash, c.title FROM content c"
            " WHERE c.sha256 = ?",
            (sha256.lower(),),
        ).fetchone()
        if row is None:
            return None
        summary = summary_from_row(row)
        content_id, phash, title = row[19], row[20], row[21]
        detail = ImageDetail(**summary.__dict__)
        detail.sha256 = summary.id
        detail.phash = None if phash is None else f"{phash & 0xFFFFFFFFFFFFFFFF:016x}"
        detail.title = title
        detail.paths = [
            FileEntry(readable(path), root, size, epoch_to_iso(mtime_ns // 1_000_000_000),
                      state)
            for path, root, size, mtime_ns, state in conn.execute(
                "SELECT f.path, r.name, f.size, f.mtime_ns, f.state FROM file f"
                " JOIN root r ON r.id = f.root_id WHERE f.content_id = ?"
                " ORDER BY f.state != 'ok', f.id",
                (content_id,),
            )
        ]
        kinds = {0: "model", 1: "source", 2: "manual"}
        detail.tags = [
            TagEntry(name, origin, kinds.get(kind, "source"), round(score, 4))
            for name, origin, kind, score in conn.execute(
                "SELECT t.name, it.origin, it.kind, it.score FROM image_tag it"
                " JOIN tag t ON t.id = it.tag_id WHERE it.content_id = ?"
                " ORDER BY it.kind, it.score DESC, t.key",
                (content_id,),
            )
        ]
        text = conn.execute(
            "SELECT text FROM ocr_text WHERE content_id = ?", (content_id,)
        ).fetchone()
        detail.ocr_text = None if text is None else text[0]
        ocr = read_ocr(conn, content_id)
        if ocr is not None:
            detail.ocr_model, lines = ocr
            detail.ocr_lines = [
                {"text": line_text, "box": box, "confidence": confidence}
                for line_text, box, confidence in lines
            ]
        if summary.source == "pixiv" and summary.post_id:
            work = read_pixiv_work(conn, summary.post_id)
            detail.pixiv = None if work is None else work.to_json()
        detail.stages = [
            {"stage": stage, "model_id": model_id, "status": status, "error": error}
            for stage, model_id, status, error in conn.execute(
                "SELECT stage, model_id, status, error FROM stage WHERE content_id = ?",
                (content_id,),
            )
        ]
        return detail

    def image_sizes(self, content_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(width, height) of each image, by content id."""
        rows = select_in(self.db.reader(), "SELECT id, width, height FROM content WHERE id IN",
                         [int(cid) for cid in content_ids])
        return {int(cid): (int(w), int(h)) for cid, w, h in rows}

    def work_page_counts(self, keys: Sequence[str]) -> dict[str, int]:
        """Searchable images per work key (the pages of a multi-page post)."""
        marks = ",".join("?" * len(keys))
        return {str(key): int(n) for key, n in self.db.reader().execute(
            f"SELECT work_key, count(*) FROM content WHERE work_key IN ({marks})"
            " AND state IN (0, 1) GROUP BY work_key", list(keys))}

    def file_for(self, sha256: str) -> tuple[str, str] | None:
        """An online file holding this content, and its format (for serving it)."""
        row = self.db.reader().execute(
            "SELECT f.path, c.format FROM content c JOIN file f ON f.content_id = c.id"
            " WHERE c.sha256 = ? AND f.state = 'ok' ORDER BY f.id",
            (sha256.lower(),),
        ).fetchone()
        return None if row is None else (os_path(row[0]), row[1])

    def recorded_files(self, sha256: str) -> list[tuple[str, str, int, int, str]]:
        """Every online file holding this content as the catalogue recorded it:
        (path, format, size, mtime_ns, its root's path), first recorded first,
        for serving a file only while it is still what was recorded."""
        return [(os_path(path), fmt, size, mtime_ns, os_path(root))
                for path, fmt, size, mtime_ns, root in self.db.reader().execute(
            "SELECT f.path, c.format, f.size, f.mtime_ns, r.path FROM content c"
            " JOIN file f ON f.content_id = c.id JOIN root r ON r.id = f.root_id"
            " WHERE c.sha256 = ? AND f.state = 'ok' ORDER BY f.id LIMIT 16",
            (sha256.lower(),))]

    def result_details(self, sha256s: Sequence[str], min_model_score: float = 0.0
                       ) -> dict[str, ResultDetails]:
        """Everything a full listing shows of these results, read at once, with
        the tagger tags scored at least ``min_model_score`` (see
        :mod:`pximse.store.listing`)."""
        return listings.result_details(self.db.reader(), sha256s, min_model_score)

    def recorded_file_at(self, root: str, relative: Sequence[str]
                         ) -> tuple[str, tuple[str, str, int, int, str]] | None:
        """The online file at ``root``/``relative…``: its SHA-256 and its row as
        :meth:`recorded_files` gives it; None when the catalogue holds none there."""
        return listings.recorded_file_at(self.db.reader(), root, relative)

    def status(self, *, errors: int = 20) -> dict[str, Any]:
        """Counts for the status endpoint and command."""
        conn = self.db.reader()
        content = dict(conn.execute("SELECT state, count(*) FROM content GROUP BY state"))
        files = dict(conn.execute("SELECT state, count(*) FROM file GROUP BY state"))
        roots = [
            {
                "name": name,
                "path": readable(path),
                "online": bool(online),
                "offline_reason": None if online else why,
                "last_scan": epoch_to_iso(last // 1_000_000_000) if last else None,
                "files": count,
            }
            for name, path, online, why, last, count in conn.execute(
                "SELECT r.name, r.path, r.online, r.offline_reason, r.last_scan_ns,"
                " (SELECT count(*) FROM file f WHERE f.root_id = r.id) FROM root r ORDER BY r.name"
            )
        ]
        recent_errors = [
            {"path": readable(path), "reason": reason, "message": error}
            for path, reason, error in conn.execute(
                "SELECT path, reason, error FROM file WHERE state = 'error'"
                " ORDER BY seen_ns DESC LIMIT ?",
                (errors,),
            )
        ]
        stages: dict[str, dict[str, dict[str, int]]] = {}
        for stage, model_id, state, count in conn.execute(
            "SELECT stage, model_id, status, count(*) FROM stage GROUP BY 1, 2, 3"
        ):
            stages.setdefault(stage, {}).setdefault(model_id, {})[state] = count
        return {
            "stages": stages,
            "images": content.get(1, 0) + content.get(0, 0),
            "images_online": content.get(1, 0),
            "images_offline": content.get(0, 0),
            "files": sum(files.values()),
            "files_by_state": files,
            "errors": files.get("error", 0),
            "tags": conn.execute("SELECT count(*) FROM tag WHERE count > 0").fetchone()[0],
            "roots": roots,
            "recent_errors": recent_errors,
        }

    def root_paths(self) -> list[tuple[str, str]]:
        return [(name, os_path(path)) for name, path in
                self.db.reader().execute("SELECT name, path FROM root ORDER BY name")]
