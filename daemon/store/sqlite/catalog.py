"""The SQLite catalogue: content rows keyed by SHA-256, the files that hold them,
tags, per-stage model status, and the reads the API and CLI need.

Writes come in batches (one transaction each) from the scanner and, later, the
model pipeline; reads run on per-thread connections.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pximse.query.ast import Query
from pximse.store.content_fields import FILENAME_TAG_ORIGINS, KIND_MODEL, KIND_SOURCE
from pximse.store.duplicates import resolve_duplicates
from pximse.store.names import SourceInfo, parse_name
from pximse.store.pathtext import os_path, readable, stored_path
from pximse.store.records import ImageSummary, SearchPage, iso_to_epoch
from pximse.store.scan_records import FileRecord, NewContent, ScanBatch  # noqa: F401 (re-exported)
from pximse.store.sqlite.compiler import SqlCompiler
from pximse.store.sqlite.content_reads import ContentReads
from pximse.store.sqlite.contentlookup import ContentLookup
from pximse.store.sqlite.database import Database, select_in
from pximse.store.sqlite.memindex import MemoryIndex
from pximse.store.sqlite.ocrindex import OcrLine, gram_counts, read_ocr, reindex_missing, write_ocr
from pximse.store.sqlite.pixivrows import PixivRows
from pximse.store.sqlite.reads import CatalogReads
from pximse.store.sqlite.search import (
    VectorSource,
    filtered_ids,
    run_search,
    run_vector_search,
    summaries_by_id,
)
from pximse.store.sqlite.wordindex import SqliteWordIndex
from pximse.store.sqlite.worklists import SqliteWorklists
from pximse.store.tagnames import tag_key
from pximse.store.text import has_unresolved_words, ranked_page, ranking_of, resolve_words


class SqliteCatalog(CatalogReads, ContentReads, PixivRows, SqliteWorklists):
    """The embedded catalogue in ``path`` (created and migrated on open)."""

    copies_vector_scalars = False  # the embedded vector store filters by content id

    def __init__(
        self, path: Path | str, *, tag_threshold: float = 0.5, memory_index: bool = True,
        dupe_distance: int = 4,
    ) -> None:
        self.db = Database(path)
        self.tag_threshold = tag_threshold
        self.dupe_distance = dupe_distance  # for a dupes: the search planner left unresolved
        self.compiler = SqlCompiler(tag_threshold, self.tag_counts)
        self.compiler.ocr_gram_counts = lambda keys: gram_counts(self.db.reader(), keys)
        self._reindex_ocr()
        self._update_user_names_once()
        self._use_index = memory_index
        self._index: MemoryIndex | None = None
        self._index_lock = threading.Lock()
        self._words: SqliteWordIndex | None = None

    @property
    def index(self) -> MemoryIndex | None:
        """The in-memory query index, made on first use (None when disabled)."""
        if not self._use_index:
            return None
        with self._index_lock:
            if self._index is None:
                conn = self.db.reader_connection()
                self._index = MemoryIndex(lambda: conn, self.compiler)
            return self._index

    def query_index(self) -> MemoryIndex | None:
        return self.index

    def sync_vector_scalars(self, store: Any, *, full: bool = False) -> int:
        return 0  # nothing to copy: searches filter by the ids this catalogue lets through

    @property
    def text_store(self) -> SqliteWordIndex:
        """The word index (``words.sqlite3`` beside the catalogue), opened on first use."""
        with self._index_lock:
            if self._words is None:
                self._words = SqliteWordIndex(self.db.path.with_name("words.sqlite3"),
                                              self.db.reader)
            return self._words

    def close(self) -> None:
        if self._words is not None:
            self._words.close()
        self.db.close()

    # -- roots ----------------------------------------------------------------

    def ensure_root(self, name: str, path: str) -> int:
        path = stored_path(path)
        with self.db.write() as conn:
            row = conn.execute("SELECT id, path FROM root WHERE name = ?", (name,)).fetchone()
            if row is None:
                return int(
                    conn.execute(
                        "INSERT INTO root (name, path) VALUES (?, ?)", (name, path)
                    ).lastrowid
                    or 0
                )
            if row[1] != path:
                conn.execute("UPDATE root SET path = ? WHERE id = ?", (path, row[0]))
            return int(row[0])

    def set_root_online(self, root_id: int, online: bool, why: str | None = None) -> None:
        """A root that went missing keeps its files, marked offline; nothing is
        deleted. ``why`` says what is wrong, for the status."""
        with self.db.write() as conn:
            conn.execute("UPDATE root SET online = ?, offline_reason = ? WHERE id = ?",
                         (int(online), None if online else why, root_id))
            if online:
                return
            touched = [
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT content_id FROM file WHERE root_id = ? AND state = 'ok'",
                    (root_id,),
                )
            ]
            conn.execute(
                "UPDATE file SET state = 'offline' WHERE root_id = ? AND state = 'ok'", (root_id,)
            )
            self._refresh_content(conn, touched)

    def finish_root_scan(
        self,
        root_id: int,
        signatures: Mapping[str, tuple[int, int, int]] | None = None,
        vanished: Iterable[str] = (),
        identity: tuple[int, str] | None = None,
    ) -> None:
        """Record a finished scan, the signatures of the folders it compared and
        what the root is (device id, mount point: see library/presence.py)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE root SET online = 1, offline_reason = NULL, last_scan_ns = ?,"
                " device = coalesce(?, device), mount = coalesce(?, mount) WHERE id = ?",
                (time.time_ns(), identity and identity[0],
                 identity and stored_path(identity[1]), root_id),
            )
            conn.executemany(
                "INSERT INTO folder_state (folder, root_id, mtime_ns, files, stat_sum)"
                " VALUES (?,?,?,?,?) ON CONFLICT(folder) DO UPDATE SET"
                " root_id = excluded.root_id, mtime_ns = excluded.mtime_ns,"
                " files = excluded.files, stat_sum = excluded.stat_sum",
                [
                    (stored_path(folder), root_id, mtime_ns, count, str(total))
                    for folder, (mtime_ns, count, total) in (signatures or {}).items()
                ],
            )
            conn.executemany(
                "DELETE FROM folder_state WHERE folder = ?",
                [(stored_path(f),) for f in vanished],
            )

    def root_identity(self, root_id: int) -> tuple[int, str] | None:
        """(device id, mount point) of the root as of its last scan."""
        row = self.db.reader().execute(
            "SELECT device, mount FROM root WHERE id = ?", (root_id,)).fetchone()
        if row is None or row[0] is None or row[1] is None:
            return None
        return int(row[0]), os_path(row[1])

    def root_sample(self, root_id: int, limit: int = 16) -> list[tuple[str, int, int]]:
        """Some of the root's files, online or offline: (path, size, mtime_ns)."""
        rows = self.db.reader().execute(
            "SELECT path, size, mtime_ns FROM file WHERE root_id = ?"
            " AND state IN ('ok', 'offline') LIMIT ?", (root_id, limit))
        return [(os_path(path), int(size), int(mtime)) for path, size, mtime in rows]

    def folder_signatures(self, root_id: int) -> dict[str, tuple[int, int, int]]:
        """Folder -> (mtime_ns, files, sum of stat keys) as of the last scan."""
        rows = self.db.reader().execute(
            "SELECT folder, mtime_ns, files, stat_sum FROM folder_state WHERE root_id = ?",
            (root_id,),
        )
        return {os_path(folder): (mtime, count, int(total))
                for folder, mtime, count, total in rows}

    def folder_stats(self, folders: Iterable[str]) -> dict[str, int]:
        """Path -> ``stat_key(size, mtime_ns)`` of the catalogue's files in ``folders``."""
        rows = select_in(
            self.db.reader(), "SELECT path, size, mtime_ns FROM file WHERE folder IN",
            map(stored_path, folders),
        )
        return {os_path(path): (mtime_ns << 44) | size  # stat_key
                for path, size, mtime_ns in rows}

    def offline_files(self, root_id: int) -> dict[str, int]:
        """Path -> file id of a root's files marked offline."""
        rows = self.db.reader().execute(
            "SELECT path, id FROM file WHERE state != 'ok' AND state = 'offline'"
            " AND root_id = ?",
            (root_id,),
        )
        return {os_path(path): file_id for path, file_id in rows}

    def file_ids(self, paths: Iterable[str]) -> dict[str, int]:
        rows = select_in(self.db.reader(), "SELECT path, id FROM file WHERE path IN",
                         map(stored_path, paths))
        return {os_path(path): file_id for path, file_id in rows}

    def content_ids(self, sha256s: Iterable[str | None]) -> dict[str, int]:
        """Content ids of the hashes the catalogue knows."""
        return _content_ids(self.db.reader(), sha256s)

    def content_lookup(self) -> ContentLookup:
        """Whether a hash is known, for the scan's worker processes (picklable)."""
        return ContentLookup(self.db.path)

    # -- scan writes -----------------------------------------------------------

    def apply_scan_batch(self, batch: ScanBatch) -> None:
        """Write one batch of scan results in a single transaction."""
        now = time.time_ns()
        with self.db.write() as conn:
            for item in batch.new_content:
                conn.execute(
                    "INSERT INTO content (sha256, filesize, width, height, ratio, pixels, format,"
                    " frames, animated, phash, date, thumbnail, added_ns, gen, phash_version)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(sha256) DO NOTHING",
                    (
                        item.sha256,
                        item.filesize,
                        item.width,
                        item.height,
                        item.width / item.height if item.height else 0.0,
                        item.width * item.height,
                        item.format,
                        item.frames,
                        int(item.animated),
                        item.phash,
                        item.mtime_ns // 1_000_000_000,
                        int(item.thumbnail),
                        now,
                        self.db.gen,
                        item.phash_version,
                    ),
                )
            touched: set[int] = set()
            sha_ids = _content_ids(conn, {f.sha256 for f in batch.files})
            for record in batch.files:
                content_id = (
                    sha_ids.get(record.sha256) if record.state == "ok" and record.sha256 else None
                )
                path = stored_path(record.path)
                folder, name = os.path.split(path)
                old = conn.execute(
                    "SELECT content_id FROM file WHERE path = ?", (path,)
                ).fetchone()
                if old and old[0] is not None:
                    touched.add(old[0])
                conn.execute(
                    "INSERT INTO file (root_id, path, folder, name, size, mtime_ns, content_id,"
                    " state, reason, error, seen_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id,"
                    " size = excluded.size, mtime_ns = excluded.mtime_ns,"
                    " content_id = excluded.content_id, state = excluded.state,"
                    " reason = excluded.reason, error = excluded.error,"
                    " seen_ns = excluded.seen_ns",
                    (
                        batch.root_id,
                        path,
                        folder,
                        name,
                        record.size,
                        record.mtime_ns,
                        content_id,
                        record.state,
                        record.reason,
                        None if record.error is None else readable(record.error),
                        now,
                    ),
                )
                if content_id is not None:
                    touched.add(content_id)
            for ids in (batch.restored, batch.removed):
                touched.update(
                    row[0]
                    for row in select_in(
                        conn, "SELECT content_id FROM file WHERE content_id IS NOT NULL AND id IN",
                        ids,
                    )
                )
            conn.executemany(
                "UPDATE file SET state = 'ok', seen_ns = ? WHERE id = ?",
                [(now, file_id) for file_id in batch.restored],
            )
            conn.executemany("DELETE FROM file WHERE id = ?", [(i,) for i in batch.removed])
            self._refresh_content(conn, touched)

    def _refresh_content(self, conn: Any, content_ids: Iterable[int]) -> None:
        """Recompute what a content row derives from its files: state, date, source info."""
        for content_id in content_ids:
            files = conn.execute(
                "SELECT name, folder, mtime_ns, state FROM file WHERE content_id = ?"
                " ORDER BY state != 'ok', id",
                (content_id,),
            ).fetchall()
            states = {row[3] for row in files}
            state = 1 if "ok" in states else 0 if "offline" in states else -1
            info = SourceInfo(source="other")
            for name, folder, _mtime, _state in files:
                parsed = parse_name(os_path(name), os.path.basename(os_path(folder)))
                if parsed.source != "other" or parsed.post_id:
                    info = parsed
                    break
            date = files[0][2] // 1_000_000_000 if files else None
            conn.execute(
                "UPDATE content SET state = ?, date = coalesce(?, date), source = ?,"
                " user_id = ?, user_name = ?, post_id = ?, page = ?, posted = ?, title = ?,"
                " work_key = ?, gen = ? WHERE id = ?",
                (
                    state,
                    date,
                    info.source,
                    info.user_id,
                    info.user_name,
                    info.post_id,
                    info.page,
                    iso_to_epoch(info.posted) if info.posted else None,
                    info.title,
                    info.work_key,
                    self.db.gen,
                    content_id,
                ),
            )
            self.apply_pixiv(conn, content_id, info, date)
            filename_tags = {tag: 1.0 for tag in info.tags}
            origin = info.source if info.source in FILENAME_TAG_ORIGINS else None
            marks = ",".join("?" * len(FILENAME_TAG_ORIGINS))
            stale = {
                row[0]
                for row in conn.execute(
                    f"SELECT DISTINCT origin FROM image_tag WHERE content_id = ?"
                    f" AND origin IN ({marks})",
                    (content_id, *FILENAME_TAG_ORIGINS),
                )
            }
            if origin is not None and filename_tags:
                stale.add(origin)
            for known in stale:  # usually none: most names carry no tags
                self._replace_tags(
                    conn, content_id, known, KIND_SOURCE,
                    filename_tags if known == origin else {}, refresh=False,
                )
            if stale:
                self._update_tagcount(conn, content_id)

    # -- tags -----------------------------------------------------------------

    def set_tags(
        self, content_id: int, origin: str, kind: int, tags: Mapping[str, float]
    ) -> None:
        """Replace the tags one origin (a model id, ``pixiv``, ``manual``...) gave an image."""
        with self.db.write() as conn:
            self._replace_tags(conn, content_id, origin, kind, tags)

    def set_model_tags_many(
        self, results: Iterable[tuple[int, str, Mapping[str, float]]]
    ) -> None:
        """A tagger's results for many images in one transaction: (content id, model
        id, tags). Tags other taggers (an older model) gave the image are replaced:
        until then they stay searchable."""
        with self.db.write() as conn:
            for content_id, model_id, tags in results:
                stale = [
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT origin FROM image_tag WHERE content_id = ?"
                        " AND kind = ? AND origin != ?",
                        (content_id, KIND_MODEL, model_id),
                    )
                ]
                for origin in stale:
                    self._replace_tags(conn, content_id, origin, KIND_MODEL, {}, refresh=False)
                self._replace_tags(conn, content_id, model_id, KIND_MODEL, tags)

    def stage_done_ids(self, stage: str, model_id: str) -> np.ndarray:
        """Content ids ``model_id`` finished ``stage`` on, ascending."""
        rows = self.db.reader().execute(
            "SELECT content_id FROM stage WHERE stage = ? AND model_id = ? AND status = 'done'"
            " ORDER BY content_id",
            (stage, model_id),
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def forget_stage(self, stage: str, content_ids: Iterable[int]) -> None:
        """Make ``stage`` pending again for these images."""
        with self.db.write() as conn:
            conn.executemany(
                "DELETE FROM stage WHERE content_id = ? AND stage = ?",
                [(int(cid), stage) for cid in content_ids],
            )

    def record_stages(self, results: Iterable[tuple[int, str, str, str | None]]) -> None:
        """``record_stage`` for many (content id, stage, model id, error) in one transaction."""
        now = time.time_ns()
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO stage (content_id, stage, model_id, status, error, updated_ns)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(content_id, stage) DO UPDATE SET"
                " model_id = excluded.model_id, status = excluded.status,"
                " error = excluded.error, updated_ns = excluded.updated_ns",
                [
                    (cid, stage, model_id, "error" if error else "done", error, now)
                    for cid, stage, model_id, error in results
                ],
            )

    def _replace_tags(
        self,
        conn: Any,
        content_id: int,
        origin: str,
        kind: int,
        tags: Mapping[str, float],
        *,
        refresh: bool = True,
    ) -> None:
        old = {
            row[0]
            for row in conn.execute(
                "SELECT tag_id FROM image_tag WHERE content_id = ? AND origin = ?",
                (content_id, origin),
            )
        }
        if not old and not tags:
            return
        new: dict[int, float] = {}
        for name, score in tags.items():
            key = tag_key(name)
            if not key:
                continue
            conn.execute(
                "INSERT INTO tag (key, name) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
                (key, name),
            )
            tag_id = conn.execute("SELECT id FROM tag WHERE key = ?", (key,)).fetchone()[0]
            new[tag_id] = max(score, new.get(tag_id, 0.0))
        had = self._tag_ids_of(conn, content_id)
        conn.execute(
            "DELETE FROM image_tag WHERE content_id = ? AND origin = ?", (content_id, origin)
        )
        conn.executemany(
            "INSERT INTO image_tag (tag_id, content_id, origin, kind, score) VALUES (?,?,?,?,?)",
            [(tag_id, content_id, origin, kind, score) for tag_id, score in new.items()],
        )
        has = self._tag_ids_of(conn, content_id)
        # tag.count is the number of images with the tag from any origin: adjust it
        # by what this image gained or lost (recounting costs a scan of the postings).
        gen = self.db.gen
        conn.executemany(
            "UPDATE tag SET count = count + ?, gen = ? WHERE id = ?",
            [((tag_id in has) - (tag_id in had), gen, tag_id) for tag_id in old | set(new)],
        )
        if refresh:
            self._update_tagcount(conn, content_id)

    @staticmethod
    def _tag_ids_of(conn: Any, content_id: int) -> set[int]:
        return {
            row[0]
            for row in conn.execute(
                "SELECT tag_id FROM image_tag WHERE content_id = ?", (content_id,)
            )
        }

    def _update_tagcount(self, conn: Any, content_id: int) -> None:
        conn.execute(
            "UPDATE content SET tagcount = (SELECT count(DISTINCT tag_id) FROM image_tag"
            " WHERE content_id = ? AND (kind != ? OR score >= ?)), gen = ? WHERE id = ?",
            (content_id, KIND_MODEL, self.tag_threshold, self.db.gen, content_id),
        )

    # -- OCR ------------------------------------------------------------------

    def set_ocr(
        self, content_id: int, model_id: str, lines: Sequence[OcrLine] | str
    ) -> None:
        """Replace an image's OCR result: ``lines`` as (text, box, confidence), or
        just the text; stored with its n-gram index in one transaction (see
        ``ocrindex.write_ocr`` for what is kept)."""
        self.set_ocr_many([(content_id, model_id, lines)])

    def set_ocr_many(
        self, results: Iterable[tuple[int, str, Sequence[OcrLine] | str]]
    ) -> None:
        """``set_ocr`` for many images in one transaction."""
        with self.db.write() as conn:
            for content_id, model_id, lines in results:
                write_ocr(conn, content_id, model_id, lines, self.db.gen)

    def ocr_lines(self, content_id: int) -> tuple[str, list[OcrLine]] | None:
        """(model id, lines with boxes and confidences), or None before OCR ran."""
        return read_ocr(self.db.reader(), content_id)

    def _reindex_ocr(self) -> None:
        """Index OCR text written before the index existed (flagged by the migration)."""
        flagged = self.db.reader().execute(
            "SELECT 1 FROM meta WHERE key = 'ocr_reindex'"
        ).fetchone()
        if flagged is None:
            return
        with self.db.write() as conn:
            reindex_missing(conn, self.db.gen)
            conn.execute("DELETE FROM meta WHERE key = 'ocr_reindex'")

    # -- search ---------------------------------------------------------------

    def search(
        self,
        query: Query,
        *,
        limit: int = 50,
        offset: int = 0,
        seed: int = 0,
        timeout_ms: int = 5000,
        count: bool = True,
    ) -> SearchPage:
        query = self._resolved(query)
        ranking = ranking_of(query)
        if ranking is not None:
            return ranked_page(self, query, ranking, limit=limit, offset=offset,
                               timeout_ms=timeout_ms)
        return run_search(
            self.db, self.compiler, query, limit=limit,
            offset=offset, seed=seed, timeout_ms=timeout_ms, count=count, index=self.index,
        )

    def search_near(
        self,
        query: Query,
        query_vector: np.ndarray,
        vectors: VectorSource,
        *,
        limit: int = 50,
        offset: int = 0,
        seed: int = 0,
        timeout_ms: int = 5000,
    ) -> tuple[SearchPage, list[float]]:
        """``query`` (a filter, no vector node) inside a vector search; see
        :func:`pximse.store.sqlite.search.run_vector_search`."""
        return run_vector_search(
            self.db, self.compiler, self._resolved(query), query_vector, vectors,
            limit=limit, offset=offset, seed=seed, timeout_ms=timeout_ms, index=self.index,
        )

    def filtered_ids(self, query: Query, timeout_ms: int = 5000) -> np.ndarray:
        """Every content id the filter lets through, ascending."""
        return filtered_ids(self.db, self.compiler, self._resolved(query),
                            timeout_ms=timeout_ms, index=self.index)

    def summaries(self, ids: Sequence[int]) -> dict[int, ImageSummary]:
        """Result rows by content id (ids not in the catalogue are left out)."""
        found: dict[int, ImageSummary] = {}
        for start in range(0, len(ids), 500):
            found.update(summaries_by_id(self.db, [int(i) for i in ids[start:start + 500]]))
        return found

    def _resolved(self, query: Query) -> Query:
        """``query`` with its ``dupes:`` and word searches filled in."""
        query = self.resolve_duplicates(query)
        if has_unresolved_words(query.where):
            query = resolve_words(query, self.text_store)
        return query

    def resolve_duplicates(self, query: Query,
                           similar: Callable[[int], np.ndarray] | None = None) -> Query:
        """``query`` with its ``dupes:`` filled in (perceptual hashes within
        ``dupe_distance``, plus ``similar`` ids where given); see store/duplicates.py."""
        where = resolve_duplicates(
            query.where, lambda value: self.content_id_of(value, "dupes"), self.phashes,
            self.dupe_distance, similar)
        return query if where is query.where else Query(where, query.sort)

    # -- model stages -----------------------------------------------------------

    _PENDING = (
        "FROM content c WHERE c.state = 1 AND c.id > ? AND NOT EXISTS ("
        " SELECT 1 FROM stage s WHERE s.content_id = c.id AND s.stage = ?"
        " AND s.model_id = ?)"
    )

    def pending_for_stage(
        self, stage: str, model_id: str, limit: int = 256, *, after: int = 0
    ) -> list[tuple[int, str]]:
        """Present images that ``model_id`` has not processed for ``stage``, in id
        order from ``after`` on (a run walks forward instead of rescanning what it
        already did): (content id, sha)."""
        rows = self.db.reader().execute(
            f"SELECT c.id, c.sha256 {self._PENDING} ORDER BY c.id LIMIT ?",
            (after, stage, model_id, limit),
        )
        return [(int(cid), sha) for cid, sha in rows]

    def count_pending(self, stage: str, model_id: str) -> int:
        row = self.db.reader().execute(
            f"SELECT count(*) {self._PENDING}", (0, stage, model_id)
        ).fetchone()
        return int(row[0])

    def record_stage(
        self, content_id: int, stage: str, model_id: str, *, error: str | None = None
    ) -> None:
        """Record that ``model_id`` ran ``stage`` on an image (or failed, with the error)."""
        self.record_stages([(content_id, stage, model_id, error)])


def _content_ids(conn: Any, sha256s: Iterable[str | None]) -> dict[str, int]:
    return dict(
        select_in(conn, "SELECT sha256, id FROM content WHERE sha256 IN", {s for s in sha256s if s})
    )
