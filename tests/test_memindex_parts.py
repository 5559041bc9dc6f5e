"""The compact parts of the in-memory query index: columns in their narrowest dtype,
tag postings in 9 bytes, and pages walked down a sorted order that follows writes.
Each must give SQLite's answer to the bit (the engines' differential test holds
the whole index to it; these pin the edges)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from pximse.store.sqlite.memcolumns import NumericColumn, narrowest
from pximse.store.sqlite.memorder import SortedOrder
from pximse.store.sqlite.mempostings import PostingsCache, load_postings


def test_narrowest_dtype_holds_the_values_and_their_negation() -> None:
    assert narrowest(0, 127) is np.int8
    assert narrowest(-127, 0) is np.int8
    assert narrowest(-128, 0) is np.int16  # -(-128) does not fit in int8
    assert narrowest(0, 4000) is np.int16
    assert narrowest(0, 3_000_000_000) is np.int64
    assert narrowest(0, 1_700_000_000) is np.int32


def test_column_widens_when_an_update_does_not_fit() -> None:
    column = NumericColumn.empty(6, real=False)
    column.set(np.array([1, 2]), np.array([100, 2000]), np.array([False, False]))
    assert column.values.dtype == np.int16 and column.null is None
    column.set(np.array([3]), np.array([5_000_000_000]), np.array([False]))
    assert column.values.dtype == np.int64
    assert list(column.values) == [0, 100, 2000, 5_000_000_000, 0, 0]
    # comparisons with numbers far outside the dtype are still right
    narrow = NumericColumn.empty(3, real=False)
    narrow.set(np.array([0, 1, 2]), np.array([1, 2, 3]), np.zeros(3, bool))
    assert list(narrow.compare(">", 10**12)) == [False] * 3
    assert list(narrow.compare(">", 1.5)) == [False, True, True]
    assert list(narrow.compare("!=", -(10**12))) == [True] * 3


def test_null_rows_match_only_not_equal() -> None:
    column = NumericColumn.empty(4, real=False)
    column.set(np.array([0, 1, 2, 3]), np.array([5, 0, 7, 0]),
               np.array([False, True, False, True]))
    assert list(column.compare(">", 1)) == [True, False, True, False]
    assert list(column.compare("!=", 5)) == [False, True, True, True]
    assert list(column.is_null(np.array([1, 2]))) == [True, False]
    column.set(np.array([1, 3]), np.array([1, 1]), np.array([False, False]))
    assert column.null is None  # no null left: no flags kept
    column.resize(6)
    assert len(column.values) == 6 and not column.is_null().any()


@pytest.fixture
def tags() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE image_tag (tag_id INTEGER, content_id INTEGER, origin TEXT,"
                 " kind INTEGER, score REAL)")
    return conn


def test_postings_answer_as_sqlite_compares_in_float64(tags: sqlite3.Connection) -> None:
    f32 = float(np.float32(0.7))  # a model's float32 score just below 0.7
    rows = [(1, 10, "m", 0, 0.9), (1, 11, "m", 0, f32), (1, 12, "m", 0, 0.2),
            (1, 13, "pixiv", 1, 1.0), (1, 14, "m", 0, 0.7)]
    tags.executemany("INSERT INTO image_tag VALUES (?,?,?,?,?)", rows)
    postings = load_postings(tags, 1, threshold=0.7)
    assert postings.ids.dtype == np.int32 and postings.flags.dtype == np.uint8
    assert postings.scores.dtype == np.float64  # 0.7 is no float32: kept exactly
    assert sorted(postings.tagged("model")) == [10, 14]
    assert sorted(postings.tagged("source")) == [13]
    assert sorted(postings.tagged("any")) == [10, 13, 14]
    for op, value in ((">=", 0.7), (">", f32), ("<", 0.7), ("=", f32)):
        expected = sorted(cid for (cid,) in tags.execute(
            f"SELECT content_id FROM image_tag WHERE kind = 0 AND score {op} ?", (value,)))
        assert sorted(postings.scored(op, value)) == expected, (op, value)


def test_postings_of_float32_scores_are_kept_in_float32(tags: sqlite3.Connection) -> None:
    scores = np.random.default_rng(1).random(500).astype(np.float32)
    tags.executemany("INSERT INTO image_tag VALUES (2, ?, 'm', 0, ?)",
                     [(i, float(s)) for i, s in enumerate(scores)])
    postings = load_postings(tags, 2, threshold=0.5)
    assert postings.scores.dtype == np.float32
    assert postings.nbytes == 500 * 9
    # and still compared as SQLite does, for a threshold no float32 holds
    expected = sorted(cid for (cid,) in tags.execute(
        "SELECT content_id FROM image_tag WHERE score > 0.3"))
    assert sorted(postings.scored(">", 0.3)) == expected


def test_postings_cache_keeps_the_budget_dropping_the_oldest(tags: sqlite3.Connection) -> None:
    for tag in (1, 2, 3):
        tags.executemany("INSERT INTO image_tag VALUES (?, ?, 'm', 0, 0.5)",
                         [(tag, i) for i in range(100)])
    cache = PostingsCache(budget=2 * 100 * 9)
    for tag in (1, 2):
        cache.put(tag, load_postings(tags, tag, 0.5))
    assert cache.get(1) is not None  # 1 is now the most recent
    cache.put(3, load_postings(tags, 3, 0.5))
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(3) is not None
    assert cache.nbytes == 2 * 900
    cache.drop(1)
    assert cache.nbytes == 900 and len(cache) == 1


def test_sorted_order_pages_follow_writes() -> None:
    """A page walked down the order equals a full sort, before and after rows
    change, arrive, and after the order is rebuilt."""
    rng = np.random.default_rng(4)
    size = 5000
    values = rng.integers(0, 50, size + 500)  # many ties: broken by id, descending
    null = rng.random(size + 500) < 0.05

    def keys_for(ids: np.ndarray) -> list[np.ndarray]:
        return [-ids, -values[ids], null[ids].astype(np.int8)]  # newest-first style

    def full_sort(mask: np.ndarray, stop: int) -> list[int]:
        ids = np.flatnonzero(mask)
        return list(ids[np.lexsort(keys_for(ids))][:stop])

    order = SortedOrder(keys_for, size)
    for share in (0.9, 0.2, 0.001):
        mask = rng.random(size) < share
        assert list(order.first(mask, 50, keys_for)) == full_sort(mask, 50)
    # rows change their key and new rows arrive (ids past the order's size)
    changed = np.concatenate([rng.choice(size, 300, replace=False),
                              np.arange(size, size + 500)])
    values[changed] = rng.integers(0, 60, len(changed))
    order.changed(changed)
    for share in (0.9, 0.2, 0.01):
        mask = rng.random(size + 500) < share
        for stop in (1, 50, 700):
            assert list(order.first(mask, stop, keys_for)) == full_sort(mask, stop)
    assert not order.stale
    order.changed(np.arange(2000))
    assert order.stale


def test_the_opening_page_is_answered_before_the_index_is_warm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The search page's first query (everything, newest first) does not wait for
    the in-memory index to load: SQLite's date index answers it, with the answer
    the warm index gives."""
    from pximse.query.ast import Query
    from pximse.query.parse import parse_query
    from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    try:
        root = catalog.ensure_root("r", "/r")
        shas = [f"{i:064x}" for i in range(1, 41)]
        catalog.apply_scan_batch(ScanBatch(
            root,
            new_content=[NewContent(sha, 10 + i, "png", 2, 2, 1, False, 0, False,
                                    (i % 7) * 10**9) for i, sha in enumerate(shas)],
            files=[FileRecord(f"/r/{i}.png", 10, 0, "ok", sha) for i, sha in enumerate(shas)],
        ))
        index = catalog.index
        assert index is not None and not index.ready
        index._warming = True  # as while warm() loads, in another thread
        cold = catalog.search(Query(), limit=15)
        assert index.loading and index.memory()["states"] == 0  # nothing was loaded
        index._warming = False
        index.warm()
        assert index.ready and not index.loading
        warm = catalog.search(Query(), limit=15)
        assert cold.total == warm.total == 40
        assert [item.id for item in cold.items] == [item.id for item in warm.items]
        # Before any warm began (a request in the moment after the start), SQLite
        # answers too; a filtered query loads what it needs itself.
        fresh = SqliteCatalog(tmp_path / "catalog.sqlite3")
        try:
            first = fresh.search(Query(), limit=15)
            assert first.total == 40 and first.items == cold.items
            assert fresh.index is not None and not fresh.index.ready
            assert fresh.search(parse_query("width:2"), limit=15).total == 40
            assert fresh.index.ready
            assert fresh.search(Query(), limit=15).items == cold.items
        finally:
            fresh.close()
    finally:
        catalog.close()


def _catalog_of(path, count: int):  # type: ignore[no-untyped-def]
    """A catalogue of ``count`` images; every 10th content gone (no file left), every
    7th only on a missing root (offline)."""
    from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

    catalog = SqliteCatalog(path)
    root = catalog.ensure_root("r", "/r")
    shas = [f"{i:064x}" for i in range(1, count + 1)]
    catalog.apply_scan_batch(ScanBatch(
        root,
        new_content=[NewContent(sha, 10 + i, "png", 2, 2, 1, False, 0, False,
                                (i % 97) * 10**9) for i, sha in enumerate(shas)],
        files=[FileRecord(f"/r/{i}.png", 10, 0, "ok", sha) for i, sha in enumerate(shas)],
    ))
    with catalog.db.write() as conn:
        conn.execute("UPDATE content SET state = -1 WHERE id % 10 = 0")
        conn.execute("UPDATE content SET state = 0 WHERE id % 7 = 0 AND state = 1")
    return catalog


def test_the_opening_page_while_the_index_loads_is_answered_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """While ``warm`` loads the index in the background, the opening page is answered
    by SQLite, the load pausing meanwhile: the page and its total are the warm
    index's, and a page does not wait for the load."""
    import threading
    import time

    from pximse.query.ast import Query

    catalog = _catalog_of(tmp_path / "catalog.sqlite3", 3000)
    try:
        index = catalog.index
        assert index is not None
        searchable = catalog.db.reader().execute(
            "SELECT count(*) FROM content WHERE state IN (0, 1)").fetchone()[0]
        assert 2000 < searchable < 3000
        warm = threading.Thread(target=index.warm)
        with index.give_way.search():  # a search under way holds the load at its start
            warm.start()
            deadline = time.monotonic() + 10
            while not index.loading and time.monotonic() < deadline:
                time.sleep(0.005)
            assert index.loading and not index.ready
            started = time.perf_counter()
            cold = catalog.search(Query(), limit=15)
            elapsed = time.perf_counter() - started
            assert index.loading and not index.ready  # answered without the index
        warm.join(10)
        assert not warm.is_alive() and index.ready and not index.loading
        assert elapsed < 1.0  # milliseconds alone; a loaded machine's margin
        hot = catalog.search(Query(), limit=15)
        assert cold.total == hot.total == searchable
        assert [item.id for item in cold.items] == [item.id for item in hot.items]
        # a deeper page of the SQLite answer counts the same way
        assert catalog.search(Query(), limit=15, offset=40).total == searchable
    finally:
        catalog.close()


def test_a_paced_load_waits_while_a_search_runs() -> None:
    import threading

    from pximse.store.sqlite.giveway import GiveWay

    give_way = GiveWay()
    fetched: list[int] = []
    with give_way.search():
        loader = threading.Thread(target=lambda: fetched.extend(give_way.paced(range(10), 4)))
        loader.start()
        loader.join(0.2)
        assert loader.is_alive() and fetched == []  # waiting at its first row
    loader.join(5)
    assert fetched == list(range(10))
    # with no search running, nothing waits
    assert list(give_way.paced(range(10), 4)) == list(range(10))
    assert give_way.wait(0.01)
