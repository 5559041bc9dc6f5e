"""Running a parsed query on the SQLite catalogue: one page and the total count."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from pximse.query.ast import And, MatchAll, Nearest, Query, walk
from pximse.query.errors import QueryError
from pximse.store.pathtext import readable
from pximse.store.records import ImageSummary, SearchPage, epoch_to_iso
from pximse.store.sqlite.compiler import SqlCompiler
from pximse.store.sqlite.database import Database
from pximse.store.sqlite.memindex import DEFAULT_ORDER, MemoryIndex
from pximse.store.vector_pages import page_of, rank_within
from pximse.store.vectors.idfilter import IdFilter

SUMMARY_COLUMNS = (
    "c.sha256, (SELECT f.path FROM file f WHERE f.content_id = c.id"
    " ORDER BY f.state != 'ok', f.id LIMIT 1),"
    " c.width, c.height, c.filesize, c.format, c.frames, c.animated, c.date, c.source,"
    " c.user_id, c.user_name, c.post_id, c.page, c.posted, c.work_key, c.tagcount, c.textlen,"
    " c.state"
)

SEARCHABLE_COUNT = (
    "SELECT (SELECT count(*) FROM content)"
    " - (SELECT count(*) FROM content WHERE state < 0)"
    " - (SELECT count(*) FROM content WHERE state > 1)"
)
"""How many images an unfiltered search finds (present or offline content). A
bare ``count(*)`` is SQLite's fast page count and the gone rows are a range of
the state index: 3 ms at a million rows where ``WHERE state IN (0, 1)`` walks
the whole index (190-520 ms on a loaded machine)."""
DEFAULT_SORT = (DEFAULT_ORDER,)
RANDOM_MODULUS = 2147483647


def summary_from_row(row: Any) -> ImageSummary:
    return ImageSummary(
        id=row[0],
        path=None if row[1] is None else readable(row[1]),
        width=row[2],
        height=row[3],
        filesize=row[4],
        format=row[5],
        frames=row[6],
        animated=bool(row[7]),
        date=epoch_to_iso(row[8]),
        source=row[9],
        user_id=row[10],
        user_name=row[11],
        post_id=row[12],
        page=row[13],
        posted=epoch_to_iso(row[14]),
        work_key=row[15],
        tagcount=row[16],
        textlen=row[17],
        offline=row[18] != 1,
    )


def run_search(
    db: Database,
    compiler: SqlCompiler,
    query: Query,
    *,
    limit: int,
    offset: int,
    seed: int = 0,
    timeout_ms: int = 5000,
    count: bool = True,
    index: MemoryIndex | None = None,
) -> SearchPage:
    started = time.perf_counter()
    if any(isinstance(node, Nearest) for node in walk(query.where)):
        raise QueryError(
            "clip: and similar: need the CLIP vector search; search through the API or "
            "`pximse search`, whose planner runs them with the catalogue's filters"
        )
    seed %= RANDOM_MODULUS  # any int from the API; both engines then agree
    if index is not None and (index.loading or not index.ready) and _unfiltered(query):
        # Until the index is loaded (by its warm or by a filtered query), SQLite's
        # date index answers the opening page at once, a load pausing meanwhile
        # (see giveway.py); a request that came before the warm began waits for
        # no load either.
        with index.give_way.search():
            return _sql_page(db, compiler, query, limit=limit, offset=offset, seed=seed,
                             timeout_ms=timeout_ms, count=count, started=started)
    if index is not None:
        total, page_ids = index.page(query.where, query.sort or DEFAULT_SORT, seed,
                                     offset + limit)
        return SearchPage(
            total=total,
            offset=offset,
            limit=limit,
            items=_summaries(db, [int(i) for i in page_ids[offset:]]),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
    return _sql_page(db, compiler, query, limit=limit, offset=offset, seed=seed,
                     timeout_ms=timeout_ms, count=count, started=started)


def _sql_page(db: Database, compiler: SqlCompiler, query: Query, *, limit: int, offset: int,
              seed: int, timeout_ms: int, count: bool, started: float) -> SearchPage:
    """The page and the total from SQLite alone."""
    where = compiler.where(query.where)
    order = compiler.order_by(query.sort or DEFAULT_SORT, seed)
    conn = db.reader()
    with db.time_limit(conn, timeout_ms):
        rows = conn.execute(
            f"SELECT {SUMMARY_COLUMNS} FROM content c WHERE c.state IN (0, 1) AND {where.sql}"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            [*where.params, limit, offset],
        ).fetchall()
        if not count:
            total = -1
        elif offset == 0 and len(rows) < limit:
            total = len(rows)
        elif query.where in (MatchAll(), And(())):
            total = conn.execute(SEARCHABLE_COUNT).fetchone()[0]
        else:
            total = conn.execute(
                f"SELECT count(*) FROM content c WHERE c.state IN (0, 1) AND {where.sql}",
                where.params,
            ).fetchone()[0]
    return SearchPage(
        total=total,
        offset=offset,
        limit=limit,
        items=[summary_from_row(row) for row in rows],
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


class VectorSource(Protocol):
    """What a vector search needs from a vector store (the embedded one has it all)."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               offset: int = 0) -> tuple[np.ndarray, np.ndarray]: ...

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def present(self, ids: np.ndarray) -> np.ndarray: ...


_EVERYTHING = 1 << 62


def run_vector_search(
    db: Database,
    compiler: SqlCompiler,
    query: Query,
    query_vector: np.ndarray,
    vectors: VectorSource,
    *,
    limit: int,
    offset: int,
    seed: int = 0,
    timeout_ms: int = 5000,
    index: MemoryIndex | None = None,
) -> tuple[SearchPage, list[float]]:
    """The filter ``query.where`` applied inside a vector search: a page and its scores.

    The filter's ids (all of them, never a truncated list) are the ``allowed``
    set of the vector search. With no ``query.sort`` the page is ranked by
    score; with one, by that sort, and the scores are still given. ``total``
    counts the filtered images that have a vector.
    """
    started = time.perf_counter()
    if any(isinstance(node, Nearest) for node in walk(query.where)):
        raise QueryError(
            "clip: and similar: need the CLIP vector search; search through the API or "
            "`pximse search`, whose planner runs them with the catalogue's filters"
        )
    seed %= RANDOM_MODULUS
    vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    restrict = getattr(vectors, "restrict", None)
    if index is not None and restrict is not None and not query.sort:
        # The filter goes to the store as a bitmap: no id list is built or sorted.
        allowed = restrict(IdFilter.from_mask(index.mask(query.where)))
        pairs = rank_within(allowed, vector, vectors, ordered=False, limit=limit,
                            offset=offset)
        return page_of(pairs, summaries_by_id(db, [cid for cid, _ in pairs]),
                       total=allowed.count, offset=offset, limit=limit, started=started)
    ids = _filtered_ids(db, compiler, query, seed, timeout_ms, index, ordered=bool(query.sort))
    present = ids[vectors.present(ids)] if len(ids) else ids
    pairs = rank_within(present, vector, vectors, ordered=bool(query.sort), limit=limit,
                        offset=offset)
    return page_of(pairs, summaries_by_id(db, [cid for cid, _ in pairs]), total=len(present),
                   offset=offset, limit=limit, started=started)


def _filtered_ids(db: Database, compiler: SqlCompiler, query: Query, seed: int,
                  timeout_ms: int, index: MemoryIndex | None, *, ordered: bool) -> np.ndarray:
    """Every content id the filter lets through: ascending, or in ``query.sort`` order."""
    if index is not None:
        sort = query.sort or DEFAULT_SORT
        ids, page = index.run(query.where, sort, seed, _EVERYTHING if ordered else 1)
        return np.asarray(page if ordered else ids, dtype=np.int64)
    where = compiler.where(query.where)
    order = compiler.order_by(query.sort, seed) if ordered else "c.id"
    conn = db.reader()
    with db.time_limit(conn, timeout_ms):
        rows = conn.execute(
            f"SELECT c.id FROM content c WHERE c.state IN (0, 1) AND {where.sql} ORDER BY {order}",
            where.params,
        ).fetchall()
    return np.array([row[0] for row in rows], dtype=np.int64)


def filtered_ids(db: Database, compiler: SqlCompiler, query: Query, *,
                 timeout_ms: int = 5000, index: MemoryIndex | None = None) -> np.ndarray:
    """Every content id ``query.where`` lets through, ascending (no vector node)."""
    return _filtered_ids(db, compiler, Query(query.where), 0, timeout_ms, index, ordered=False)


def summaries_by_id(db: Database, ids: list[int]) -> dict[int, ImageSummary]:
    if not ids:
        return {}
    rows = db.reader().execute(
        f"SELECT c.id, {SUMMARY_COLUMNS} FROM content c"
        f" WHERE c.id IN ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    return {row[0]: summary_from_row(row[1:]) for row in rows}


def _unfiltered(query: Query) -> bool:
    """The search page's opening query: everything, newest first."""
    return query.where in (MatchAll(), And(())) and query.sort in ((), DEFAULT_SORT)


def _summaries(db: Database, ids: list[int]) -> list[ImageSummary]:
    """Result rows for content ids, in the order given."""
    if not ids:
        return []
    rows = db.reader().execute(
        f"SELECT c.id, {SUMMARY_COLUMNS} FROM content c"
        f" WHERE c.id IN ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    by_id = {row[0]: summary_from_row(row[1:]) for row in rows}
    return [by_id[i] for i in ids if i in by_id]
