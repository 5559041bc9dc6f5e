"""Running a parsed query on the SQLite catalogue: one page and the total count."""

from __future__ import annotations

import time
from typing import Any

from pximse.query.ast import Query, SortKey
from pximse.query.sql import SqlCompiler
from pximse.store.records import ImageSummary, SearchPage, epoch_to_iso
from pximse.store.sqlite.database import Database
from pximse.store.sqlite.memindex import MemoryIndex

SUMMARY_COLUMNS = (
    "c.sha256, (SELECT f.path FROM file f WHERE f.content_id = c.id"
    " ORDER BY f.state != 'ok', f.id LIMIT 1),"
    " c.width, c.height, c.filesize, c.format, c.frames, c.animated, c.date, c.source,"
    " c.user_id, c.user_name, c.post_id, c.page, c.posted, c.work_key, c.tagcount, c.textlen,"
    " c.state"
)

DEFAULT_SORT = (SortKey("date", descending=True),)
RANDOM_MODULUS = 2147483647


def summary_from_row(row: Any) -> ImageSummary:
    return ImageSummary(
        id=row[0],
        path=row[1],
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
    seed %= RANDOM_MODULUS  # any int from the API; both engines then agree
    if index is not None:
        ids, page_ids = index.run(query.where, query.sort or DEFAULT_SORT, seed, offset + limit)
        return SearchPage(
            total=len(ids),
            offset=offset,
            limit=limit,
            items=_summaries(db, [int(i) for i in page_ids[offset:]]),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
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
