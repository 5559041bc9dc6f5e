"""An in-memory column and postings index that answers the query AST fast.

SQLite alone cannot count a million-row intersection of common tags in tens of
milliseconds: each row costs a B-tree probe. This index keeps, per catalogue,
numpy columns of the content table (loaded per field on first use) and the
postings of the tags queries use (loaded per tag, cached), and evaluates the
AST as boolean masks over content ids: an AND of two 600k-image tags is a
vectorised ``&``, the total is ``mask.sum()``, and a page is a partial sort.

Nodes it has no column for (paths, OCR text) are compiled to SQL by the same
:class:`SqlCompiler` the SQL path uses and turned into a mask, so both paths
give the same answer by construction; a differential test holds them to it.

Freshness: every catalogue write transaction bumps ``meta.gen`` and stamps the
rows it touched (``content.gen``, ``tag.gen``) with it. Before each query the
index reads ``meta.gen``; if it moved, it reloads the changed content rows and
drops the postings of changed tags.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from pximse.query.ast import (
    And,
    Compare,
    Duplicates,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    SortKey,
    Tag,
    TagScore,
    Text,
    Words,
)
from pximse.query.errors import QueryError
from pximse.query.fields import lookup
from pximse.store.content_fields import FORMAT_ALIASES
from pximse.store.records import iso_to_epoch
from pximse.store.sqlite.compiler import SqlCompiler
from pximse.store.sqlite.database import select_in
from pximse.store.sqlite.giveway import GiveWay
from pximse.store.sqlite.memcolumns import NumericColumn
from pximse.store.sqlite.memfiles import FileColumns, sort_rank
from pximse.store.sqlite.memorder import SortedOrder
from pximse.store.sqlite.mempostings import Postings, PostingsCache, load_postings
from pximse.store.sqlite.memtext import TextColumn
from pximse.store.sqlite.ocrindex import content_sql as ocr_content_sql
from pximse.store.tagnames import tag_key

_NUMERIC = {
    "filesize": "filesize",
    "width": "width",
    "height": "height",
    "ratio": "ratio",
    "pixels": "pixels",
    "date": "date",
    "posted": "posted",
    "page": "page",
    "tagcount": "tagcount",
    "textlen": "textlen",
    "animated": "animated",
    "frames": "frames",
    "bookmarks": "bookmarks",
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "ai": "ai",
    "r18": "r18",
}
_NULLABLE_NUMERIC = frozenset({"page", "posted", "textlen", "bookmarks", "views", "likes",
                               "comments", "ai", "r18"})
_TEXT = {
    "source": "source",
    "user": "user_name",
    "userid": "user_id",
    "postid": "post_id",
    "format": "format",
    "title": "title",
    "pixiv_state": "pixiv_state",
}
DEFAULT_ORDER = SortKey("date", descending=True)
"""The order of a search with none given: newest first."""
_Row = TypeVar("_Row")
_ORDERS_KEPT = 4
"""Sorted orders kept (4 bytes an image each); the default one always stays."""
_WALK_BELOW = 64
"""A page walks a sorted order when more than 1/64 of the images match; fewer
matches are sorted directly (cheaper than walking past all the others)."""


def _walkable(key: SortKey) -> bool:
    return key.field != "random"


class MemoryIndex:
    """Evaluates queries for one SQLite catalogue (thread-safe, refreshed per query)."""

    def __init__(self, conn_factory, compiler: SqlCompiler) -> None:  # type: ignore[no-untyped-def]
        self._conn_factory = conn_factory
        self._compiler = compiler
        self._lock = threading.RLock()
        self._gen = -1
        self._size = 0
        self._state = np.zeros(0, dtype=np.int8)
        self._columns: dict[str, NumericColumn] = {}
        self._texts: dict[str, TextColumn] = {}
        self._postings = PostingsCache()
        self._tag_ids: dict[str, int | None] = {}
        self._files: FileColumns | None = None
        self._ranks: dict[str, np.ndarray] = {}
        self._orders: dict[SortKey, SortedOrder] = {}
        self._warming = False
        self._warm_thread: int | None = None
        self.give_way = GiveWay()
        """Searches answered without the index while ``warm`` loads it: the load
        pauses for them (see giveway.py)."""
        self._present: tuple[np.ndarray, int] | None = None

    # -- public --------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the default page is served from memory already (see ``warm``)."""
        return DEFAULT_ORDER in self._orders

    @property
    def loading(self) -> bool:
        """Whether ``warm`` is loading right now: a query that SQLite answers at once
        (the opening page, from its date index) is better not waiting for a step."""
        return self._warming

    def warm(self, fields: tuple[str, ...] = ("date", "filesize", "width", "height")) -> None:
        """Load ahead of the first queries: first what the default page needs (the
        content states, the date column and the newest-first order), then the
        commonest columns, one at a time so that a query waits for one step at most.
        The rows are fetched paced by ``give_way``."""
        self._warming = True
        self._warm_thread = threading.get_ident()
        try:
            with self._snapshot() as conn:
                self._order_for(conn, DEFAULT_ORDER)
            for name in fields:
                with self._snapshot() as conn:
                    self._column(conn, _NUMERIC[name])
        finally:
            self._warming = False
            self._warm_thread = None

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """The lock and one read transaction, the index brought up to date in it."""
        with self._lock:
            conn = self._conn_factory()
            conn.execute("BEGIN")
            try:
                self._refresh(conn)
                yield conn
            finally:
                conn.execute("COMMIT")

    def page(self, node: Node, sort: tuple[SortKey, ...], seed: int, stop: int
             ) -> tuple[int, np.ndarray]:
        """How many content ids match ``node`` (present or offline content), and the
        first ``stop`` of them in ``sort`` order (then id descending)."""
        with self._snapshot() as conn:
            if node in (MatchAll(), And(())):  # the opening page: no mask to build
                mask, total = self._searchable()
            else:
                mask = self._eval(conn, node) & (self._state >= 0)
                total = int(np.count_nonzero(mask))
            if len(sort) == 1 and _walkable(sort[0]) and total > self._size // _WALK_BELOW:
                return total, self._order_for(conn, sort[0]).first(
                    mask, stop, lambda ids: self._sort_keys(conn, ids, sort, seed))
            return total, self._ordered(conn, np.flatnonzero(mask), sort, seed, stop)

    def _searchable(self) -> tuple[np.ndarray, int]:
        """The content ids a search can return (present or offline), and how many;
        kept until the states change. Read only."""
        if self._present is None:
            present = self._state >= 0
            present.flags.writeable = False
            self._present = (present, int(np.count_nonzero(present)))
        return self._present

    def run(self, node: Node, sort: tuple[SortKey, ...], seed: int, stop: int
            ) -> tuple[np.ndarray, np.ndarray]:
        """Content ids that match ``node`` (present or offline content), ascending,
        and the first ``stop`` of them in ``sort`` order (then id descending).
        One snapshot for both."""
        with self._snapshot() as conn:
            ids = np.flatnonzero(self._eval(conn, node) & (self._state >= 0))
            return ids, self._ordered(conn, ids, sort, seed, stop)

    def mask(self, node: Node) -> np.ndarray:
        """Which content ids match ``node`` (present or offline content): a boolean
        mask over content ids, for a vector store to take as a bitmap."""
        with self._snapshot() as conn:
            return self._eval(conn, node) & (self._state >= 0)

    def memory(self) -> dict[str, int]:
        """Bytes held, by part (for the status and the benchmarks)."""
        with self._lock:
            return {
                "states": self._state.nbytes,
                "columns": sum(c.nbytes for c in self._columns.values()),
                "texts": sum(t.codes.nbytes for t in self._texts.values()),
                "postings": self._postings.nbytes,
                "orders": sum(o.order.nbytes for o in self._orders.values()),
                "ranks": sum(r.nbytes for r in self._ranks.values()),
                "files": 0 if self._files is None else (
                    self._files.content.nbytes + self._files.folder.nbytes),
            }

    def _ordered(self, conn: sqlite3.Connection, ids: np.ndarray, sort: tuple[SortKey, ...],
                 seed: int, stop: int) -> np.ndarray:
        keys = self._sort_keys(conn, ids, sort, seed)
        if stop < len(ids) and len(sort) <= 1:
            ids, keys = _top_candidates(ids, keys, stop)
        order = np.lexsort(keys)
        return ids[order[:stop]]

    def _sort_keys(self, conn: sqlite3.Connection, ids: np.ndarray, sort: tuple[SortKey, ...],
                   seed: int) -> list[np.ndarray]:
        """``np.lexsort`` keys of ``ids`` for ``sort`` (the last is the primary one)."""
        keys: list[np.ndarray] = [-ids]  # last resort: id descending
        for key in reversed(sort):
            values, null = self._sort_values(conn, key, ids, seed)
            descending = key.descending and key.field != "random"
            keys.append(-values if descending else values)
            keys.append(null.astype(np.int8))  # nulls last either way
        return keys

    def _order_for(self, conn: sqlite3.Connection, key: SortKey) -> SortedOrder:
        """Every content id in ``key``'s order; built once, then followed through writes."""
        order = self._orders.get(key)
        if order is None or order.stale:
            if order is None and len(self._orders) >= _ORDERS_KEPT:
                self._orders.pop(next(k for k in self._orders if k != DEFAULT_ORDER))
            order = SortedOrder(lambda ids: self._sort_keys(conn, ids, (key,), 0), self._size)
            self._orders[key] = order
        return order

    # -- freshness -------------------------------------------------------------

    def _refresh(self, conn: sqlite3.Connection) -> None:
        gen = int(conn.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()[0])
        if gen == self._gen:
            return
        self._present = None  # the states may change below
        size = (conn.execute("SELECT max(id) FROM content").fetchone()[0] or 0) + 1
        if self._gen < 0:
            # The states and the default order's column in one pass over the rows.
            self._state = np.full(size, -1, dtype=np.int8)
            self._size = size
            self._load_columns(conn, (_NUMERIC["date"],), None, states=True)
            self._gen = gen
            return
        self._grow(size)
        changed = conn.execute(
            "SELECT id, state FROM content WHERE gen > ?", (self._gen,)
        ).fetchall()
        if changed:
            self._files = None  # files moved, came or went: reload on next use
            self._ranks.clear()
            self._fill(self._state, changed)
            ids = np.fromiter((row[0] for row in changed), dtype=np.int64, count=len(changed))
            if self._columns:
                self._load_columns(conn, tuple(self._columns), ids)
            for name in list(self._texts):
                self._load_text(conn, name, ids)
            for order in self._orders.values():
                order.changed(ids)
        for (tag_id,) in conn.execute("SELECT id FROM tag WHERE gen > ?", (self._gen,)):
            self._postings.drop(tag_id)
        self._tag_ids = {k: v for k, v in self._tag_ids.items() if v is not None}
        self._gen = gen

    def _grow(self, size: int) -> None:
        if size <= self._size:
            return
        extra = size - self._size
        self._state = np.concatenate([self._state, np.full(extra, -1, dtype=np.int8)])
        for column in self._columns.values():
            column.resize(size)
        for text in self._texts.values():
            text.codes = np.concatenate([text.codes, np.full(extra, -1, dtype=np.int32)])
        self._size = size

    @staticmethod
    def _fill(target: np.ndarray, rows) -> None:  # type: ignore[no-untyped-def]
        data = np.fromiter(rows, dtype=[("id", np.int64), ("value", np.int64)])
        if len(data):
            target[data["id"]] = data["value"]

    # -- columns -----------------------------------------------------------------

    def _column(self, conn: sqlite3.Connection, name: str) -> NumericColumn:
        column = self._columns.get(name)
        if column is None:
            self._load_columns(conn, (name,), None)
            column = self._columns[name]
        return column

    def _load_columns(self, conn: sqlite3.Connection, names: tuple[str, ...],
                      ids: np.ndarray | None, *, states: bool = False) -> None:
        """Load (``ids`` None: all rows, registering new columns) or update columns,
        several in one pass: fetching rows is what costs, not the columns in them.
        ``states``: the content states too."""
        dtypes: list[tuple[str, type]] = [("id", np.int64)]
        parts = ["id"]
        if states:
            dtypes.append(("state", np.int8))
            parts.append("state")
        for name in names:
            dtypes += [(name, np.float64 if name == "ratio" else np.int64), (name + "?", bool)]
            parts += [f"coalesce({name}, 0)", f"{name} IS NULL"]
        sql = f"SELECT {', '.join(parts)} FROM content"
        rows = self._paced(conn.execute(sql)) if ids is None else _changed_rows(conn, sql, ids)
        data = np.fromiter(rows, dtype=dtypes)
        # Rows newer than this snapshot's size are picked up by the next refresh.
        data = data[data["id"] < self._size]
        if states:
            self._state[data["id"]] = data["state"]
        for name in names:
            column = self._columns.get(name) if ids is not None else None
            if column is None:
                column = NumericColumn.empty(self._size, real=name == "ratio")
            column.set(data["id"], data[name], data[name + "?"])
            self._columns[name] = column

    def _paced(self, rows: Iterable[_Row]) -> Iterable[_Row]:
        """A whole-table load's rows: paced by ``give_way`` when ``warm`` loads them
        (a query loading what it needs itself is what a search waits for)."""
        if threading.get_ident() != self._warm_thread:
            return rows
        return self.give_way.paced(rows)

    def _text(self, conn: sqlite3.Connection, name: str) -> TextColumn:
        text = self._texts.get(name)
        if text is None:
            text = TextColumn(np.full(self._size, -1, dtype=np.int32), [], {})
            self._load_text(conn, name, None, text)
            self._texts[name] = text
        return text

    def _load_text(self, conn: sqlite3.Connection, name: str, ids: np.ndarray | None,
                   text: TextColumn | None = None) -> None:
        text = text or self._texts[name]
        sql = f"SELECT id, {name} FROM content"
        rows = self._paced(conn.execute(sql)) if ids is None else _changed_rows(conn, sql, ids)
        cids: list[int] = []
        codes: list[int] = []
        for cid, value in rows:
            if cid >= self._size:
                continue
            cids.append(cid)
            if value is None:
                codes.append(-1)
                continue
            code = text.index.get(value)
            if code is None:
                code = text.index[value] = len(text.vocabulary)
                text.vocabulary.append(value)
            codes.append(code)
        if cids:
            text.codes[np.array(cids, dtype=np.int64)] = np.array(codes, dtype=np.int32)

    # -- tags ------------------------------------------------------------------

    def _tag_id(self, conn: sqlite3.Connection, name: str) -> int | None:
        key = tag_key(name)
        if key not in self._tag_ids:
            row = conn.execute("SELECT id FROM tag WHERE key = ?", (key,)).fetchone()
            self._tag_ids[key] = None if row is None else int(row[0])
        return self._tag_ids[key]

    def _postings_for(self, conn: sqlite3.Connection, name: str) -> Postings | None:
        tag_id = self._tag_id(conn, name)
        if tag_id is None:
            return None
        postings = self._postings.get(tag_id)
        if postings is None:
            postings = load_postings(conn, tag_id, self._compiler.tag_threshold)
            self._postings.put(tag_id, postings)
        return postings

    # -- evaluation --------------------------------------------------------------

    def _eval(self, conn: sqlite3.Connection, node: Node) -> np.ndarray:
        match node:
            case MatchAll():
                return np.ones(self._size, dtype=bool)
            case And(()):
                return np.ones(self._size, dtype=bool)
            case Or(()):
                return np.zeros(self._size, dtype=bool)
            case And(children):
                mask = self._eval(conn, children[0])
                for child in children[1:]:
                    mask &= self._eval(conn, child)
                return mask
            case Or(children):
                mask = self._eval(conn, children[0])
                for child in children[1:]:
                    mask |= self._eval(conn, child)
                return mask
            case Not(child):
                return ~self._eval(conn, child)
            case Tag(name, kind):
                return self._tag_mask(conn, name, kind)
            case TagScore(name, op, value):
                mask = np.zeros(self._size, dtype=bool)
                postings = self._postings_for(conn, name)
                if postings is not None:
                    mask[postings.scored(op, value)] = True
                return mask
            case Compare(field_name, op, value):
                return self._compare(conn, field_name, op, value, node)
            case Has(field_name):
                return self._has(conn, field_name, node)
            case Text("ocr", text):
                # Straight from the n-gram postings: no detour through content rows.
                params: list[object] = []
                sql = ocr_content_sql(text, params, self._compiler.ocr_gram_counts)
                return self._mask(conn.execute(sql, params))
            case Text():
                return self._via_sql(conn, node)
            case Duplicates(_, ids) | Words(_, _, ids):
                if ids is None:
                    raise QueryError(f"{node} was not resolved before searching")
                mask = np.zeros(self._size, dtype=bool)
                found = np.asarray(ids, dtype=np.int64)
                mask[found[found < self._size]] = True
                return mask
        raise QueryError(f"unsupported query node {type(node).__name__}")

    def _tag_mask(self, conn: sqlite3.Connection, name: str, kind: str) -> np.ndarray:
        mask = np.zeros(self._size, dtype=bool)
        postings = self._postings_for(conn, name)
        if postings is None:
            return mask
        mask[postings.tagged(kind)] = True
        return mask

    def _compare(self, conn: sqlite3.Connection, name: str, op: str, value: object,
                 node: Node) -> np.ndarray:
        spec = lookup(name)
        if spec is None:
            raise QueryError(f"unknown field '{name}'")
        if spec.name in _NUMERIC:
            column = self._column(conn, _NUMERIC[spec.name])
            if spec.kind == "date":
                number: float = iso_to_epoch(str(value))
            elif spec.kind == "bool":
                number = 1 if value else 0
            else:
                number = value  # type: ignore[assignment]
            return column.compare(op, number)
        if spec.name == "folder":
            if self._files is None:
                self._files = FileColumns.load(conn)
            found = self._files.folder_content(conn, str(value), self._size)
            return found if op == "=" else ~found
        if spec.name in ("path", "filename"):
            # One pass over the files, not a look-up of each image's files
            # (type;="pixiv" tests the names of every Pixiv image: 6x faster).
            params: list[object] = []
            clause = self._compiler.file_clause(spec.name, str(value), params)
            found = self._mask(conn.execute(  # files not read yet have no content
                f"SELECT f.content_id FROM file f WHERE f.content_id IS NOT NULL AND {clause}",
                params))
            return found if op == "=" else ~found
        if spec.name in _TEXT:
            if op not in ("=", "!="):
                raise QueryError(f"'{spec.name}' is text: use = or !=")
            text = self._text(conn, _TEXT[spec.name])
            wanted = str(value)
            if spec.name == "format":
                wanted = FORMAT_ALIASES.get(wanted.lower(), wanted.lower())
            elif spec.name == "source":
                wanted = wanted.lower().replace(".", "")
            if spec.name == "user":
                codes = text.codes_ignoring_case(wanted)
            elif spec.name == "title":
                codes = text.codes_containing(wanted)
            else:
                codes = [text.index[wanted]] if wanted in text.index else []
            equal = np.isin(text.codes, np.array(codes, dtype=np.int32))
            return (~equal) if op == "!=" else equal
        return self._via_sql(conn, node)

    def _has(self, conn: sqlite3.Connection, name: str, node: Node) -> np.ndarray:
        spec = lookup(name)
        if spec is not None and spec.name in _TEXT:
            text = self._text(conn, _TEXT[spec.name])
            empty = text.index.get("")
            present = text.codes >= 0
            return present if empty is None else present & (text.codes != empty)
        if spec is not None and spec.name in _NULLABLE_NUMERIC:
            return ~self._column(conn, _NUMERIC[spec.name]).is_null()
        return self._via_sql(conn, node)

    def _via_sql(self, conn: sqlite3.Connection, node: Node) -> np.ndarray:
        where = self._compiler.where(node)
        return self._mask(
            conn.execute(f"SELECT c.id FROM content c WHERE {where.sql}", where.params)
        )

    def _mask(self, rows) -> np.ndarray:  # type: ignore[no-untyped-def]
        """A mask of the content ids in one-column ``rows``."""
        mask = np.zeros(self._size, dtype=bool)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64)
        mask[ids[ids < self._size]] = True
        return mask

    # -- sorting -------------------------------------------------------------------

    def _sort_values(self, conn: sqlite3.Connection, key: SortKey, ids: np.ndarray,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
        if key.field == "random":
            return (ids * 1103515245 + int(seed)) % 2147483647, np.zeros(len(ids), dtype=bool)
        spec = lookup(key.field)
        if spec is None:
            raise QueryError(f"cannot sort by '{key.field}'")
        if spec.name in ("path", "folder", "filename", "id"):
            rank = self._ranks.get(spec.name)
            if rank is None or len(rank) < self._size:
                rank = self._ranks[spec.name] = sort_rank(conn, spec.name, self._size)
            values = rank[ids]
            return values, values < 0
        if spec.name in _NUMERIC:
            column = self._column(conn, _NUMERIC[spec.name])
            return column.values[ids], column.is_null(ids)
        text = self._text(conn, _TEXT[spec.name])
        order = sorted(range(len(text.vocabulary)),
                       key=lambda code: text.vocabulary[code].encode("utf-8"))
        rank = np.empty(len(text.vocabulary) + 1, dtype=np.int64)
        rank[np.array(order, dtype=np.int64)] = np.arange(len(order))
        codes = text.codes[ids]
        return rank[codes], codes < 0


def _top_candidates(ids: np.ndarray, keys: list[np.ndarray], stop: int
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Cut a one-key sort down to the rows that can reach the first ``stop``
    (ties at the cut included), so that only those are fully sorted."""
    if len(keys) < 3 or keys[-1].any():
        return ids, keys
    values = keys[-2]
    kth = np.partition(values, stop - 1)[stop - 1]
    keep = values <= kth
    return ids[keep], [key[keep] for key in keys]



def _changed_rows(conn: sqlite3.Connection, sql: str, ids: np.ndarray):  # type: ignore[no-untyped-def]
    return select_in(conn, f"{sql} WHERE id IN", (int(i) for i in ids))
