"""The SQLite catalogue's two query engines against each other and a reference.

``SqliteCatalog.search`` answers a query either with SQL alone
(``memory_index=False``) or with the in-memory column and postings index
(``memory_index=True``, the default). Both must give the same total and the
same page in the same order, and both must mean what the query language says,
as :mod:`query_reference` spells out in plain Python over the rows read back
from the file.

The catalogue is built through the catalogue's own write API (scan batches,
``set_tags``, OCR rows stamped with the write generation, a root going
offline, files removed) from synthetic facts, so no image is decoded.

The tests at the end of the module pin engine bugs found this way (SQL's
three-valued NOT, the random shuffle's direction and seeds, globs, Unicode
case folding, a sort column loaded while a writer adds rows).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.query_library import (
    MODEL,
    SECOND,
    THRESHOLD,
    Library,
    add_images,
    build_library,
    content_facts,
    file_ids,
    random_mtime,
    sha_for,
    write_ocr,
)
from helpers.query_reference import Reference
from helpers.query_strategies import Queries
from helpers.query_table import FRESHNESS_QUERIES, TABLE, table_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pximse.query.ast import (
    Compare,
    MatchAll,
    Not,
    Or,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
    walk,
)
from pximse.query.fields import FIELDS
from pximse.query.parse import detect_syntax, parse_query
from pximse.store.records import PixivTag, PixivWork, SearchPage
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

# -- building a catalogue ----------------------------------------------------------


@dataclass(repr=False)
class Engines:
    path: Path
    memory: SqliteCatalog
    sql: SqliteCatalog
    library: Library

    def reference(self) -> Reference:
        return Reference.load(self.path, THRESHOLD)


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    path = tmp_path_factory.mktemp("engines") / "catalog.sqlite3"
    memory = SqliteCatalog(path, tag_threshold=THRESHOLD, memory_index=True)
    sql = SqliteCatalog(path, tag_threshold=THRESHOLD, memory_index=False)
    library = build_library(memory)
    yield Engines(path, memory, sql, library)
    memory.close()
    sql.close()


@pytest.fixture(scope="module")
def reference(engines: Engines) -> Reference:
    return engines.reference()


def open_engines(tmp_path: Path, n: int) -> Engines:
    path = tmp_path / "catalog.sqlite3"
    memory = SqliteCatalog(path, tag_threshold=THRESHOLD, memory_index=True)
    sql = SqliteCatalog(path, tag_threshold=THRESHOLD, memory_index=False)
    return Engines(path, memory, sql, build_library(memory, n=n, seed=11))


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Engines]:
    """A small catalogue of its own, for tests that change it."""
    built = open_engines(tmp_path, n=80)
    yield built
    built.memory.close()
    built.sql.close()


# -- comparing answers ----------------------------------------------------------------


def answer(page: SearchPage) -> tuple[int, list[str]]:
    return page.total, [item.id for item in page.items]


def check_query(engines: Engines, reference: Reference, query: Query, *, limit: int = 1000,
                offset: int = 0, seed: int = 0) -> tuple[int, list[str]]:
    """Both engines give the reference's total and page; returns that answer."""
    expected = reference.search(query, limit=limit, offset=offset, seed=seed)
    allowed_sql = [expected]
    sql_page = engines.sql.search(query, limit=limit, offset=offset, seed=seed)
    memory_page = engines.memory.search(query, limit=limit, offset=offset, seed=seed)
    assert answer(sql_page) in allowed_sql, f"SQL engine disagrees with the reference: {query}"
    assert answer(memory_page) == expected, \
        f"memory engine disagrees with the reference: {query}"
    if answer(memory_page) == answer(sql_page):
        assert memory_page.items == sql_page.items
    for item in memory_page.items:
        row = reference.by_sha(item.id)
        assert item.offline == (row.state != 1)
        assert (item.width, item.height, item.filesize, item.format, item.source,
                item.user_name, item.post_id, item.page, item.tagcount, item.textlen) == (
            row.row["width"], row.row["height"], row.row["filesize"], row.row["format"],
            row.row["source"], row.row["user_name"], row.row["post_id"], row.row["page"],
            row.row["tagcount"], row.row["textlen"])
    return expected


# -- the catalogue itself ---------------------------------------------------------------


def test_catalogue_has_what_the_queries_need(reference: Reference) -> None:
    items = list(reference.items.values())
    states = {item.state for item in items}
    assert states == {-1, 0, 1}
    assert 280 <= len(reference.searchable) <= 320
    assert {item.row["source"] for item in reference.searchable} >= {
        "pixiv", "twitter", "yandere", "danbooru", "other"}
    scores = {score for item in items for _, kind, score in item.tags if kind == 0}
    assert 0.5 in scores and min(scores) < 0.5 < max(scores)
    assert {kind for item in items for _, kind, _ in item.tags} == {0, 1, 2}
    assert sum(item.ocr is not None for item in items) == 60
    assert any(item.row["posted"] is not None for item in reference.searchable)
    assert any(len(item.files) > 1 for item in reference.searchable)
    assert len({key for item in items for key, kind, _ in item.tags if kind == 0}) == 15
    assert {item.row["pixiv_state"] for item in reference.searchable} == {
        None, "ok", "deleted", "private"}
    for name in ("bookmarks", "views", "likes", "comments", "ai", "r18", "title"):
        assert any(item.row[name] is not None for item in reference.searchable), name
        assert any(item.row[name] is None for item in reference.searchable), name
    # Deleted works that were fetched before keep their counts.
    assert any(item.row["pixiv_state"] == "deleted" and item.row["bookmarks"] is not None
               for item in reference.searchable)


def test_tagcount_column_counts_distinct_tags(reference: Reference) -> None:
    """``tagcount`` is the number of distinct tags a query would find (model ones
    at or above the threshold, every source and manual one)."""
    for item in reference.items.values():
        counted = {key for key, kind, score in item.tags if kind != 0 or score >= THRESHOLD}
        assert item.row["tagcount"] == len(counted), item.sha256


# -- generated queries ------------------------------------------------------------------


@pytest.fixture(scope="module")
def queries(reference: Reference) -> Queries:
    return Queries(reference)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_engines_agree_with_reference(data: st.DataObject, engines: Engines,
                                      reference: Reference,
                                      queries: Queries) -> None:
    query = data.draw(queries.strategy, label="query")
    limit = data.draw(st.integers(0, 60), label="limit")
    offset = data.draw(st.one_of(st.integers(0, 20), st.integers(0, 320)), label="offset")
    seed = data.draw(st.integers(-(2**70), 2**70), label="seed")
    check_query(engines, reference, query, limit=limit, offset=offset, seed=seed)


# -- hand-written queries ----------------------------------------------------------------


def test_table_covers_every_field_and_both_syntaxes() -> None:
    used: set[str] = set()
    for text, sort, syntax, _ in TABLE:
        query = parse_query(text.format(pixiv_post="1", id8="0123abcd"), sort)
        assert detect_syntax(text) == syntax or text == ""
        used.update(node.field for node in walk(query.where) if isinstance(node, Compare))
        used.update(key.field for key in query.sort)
    assert used >= {f.name for f in FIELDS}


@pytest.mark.parametrize(("text", "sort", "syntax", "found"), TABLE,
                         ids=[row[0] or row[1] for row in TABLE])
def test_hand_written_query(text: str, sort: str, syntax: str, found: bool, engines: Engines,
                            reference: Reference) -> None:
    query = parse_query(text.format(**table_params(reference)), sort)
    total, ids = check_query(engines, reference, query, limit=1000, seed=12345)
    assert (total > 0) == found
    if text:
        assert total < len(reference.searchable)  # a filter that filters
    # Paging through the same query gives the same order.
    for offset in (0, 7, total - 1):
        check_query(engines, reference, query, limit=5, offset=max(offset, 0), seed=12345)


# -- freshness -------------------------------------------------------------------------


def agree_everywhere(engines: Engines) -> Reference:
    reference = engines.reference()
    for query in FRESHNESS_QUERIES:
        check_query(engines, reference, query, limit=1000, seed=3)
    return reference


def test_memory_index_sees_every_write_at_once(fresh: Engines) -> None:
    memory, library = fresh.memory, fresh.library
    before = agree_everywhere(fresh)  # warms columns, text columns and postings
    total = memory.search(Query(MatchAll())).total

    # 1. A new image.
    sha = sha_for("fresh image")
    content = NewContent(sha, 123_456, "png", 4321, 1000, 1, False, None, False, 1_700_000_000
                         * SECOND)
    add_images(memory, library.main_root,
               [("/lib/main/pixiv/fresh artist_4242/4242_9999999_p0.png", sha, content)])
    found = memory.search(Query(Compare("width", "=", 4321)))
    assert [item.id for item in found.items] == [sha]
    assert found.items[0].user_name == "fresh artist"
    assert memory.search(Query(MatchAll())).total == total + 1
    agree_everywhere(fresh)
    content_id = memory.content_id_for(sha)
    assert content_id is not None

    # 1b. Pixiv's answer for its work: counts, title and tags arrive; the
    # name in its own file name stays.
    memory.record_pixiv_work(PixivWork(
        "9999999", "ok", "app", 1_700_000_100, title="A Fresh Title", views=777,
        bookmarks=4321, comments=3, user_id="4242", user_name="renamed artist", ai=False,
        r18=False, pages=1, tags=[PixivTag("新鮮", "fresh")]))
    found = memory.search(Query(Compare("bookmarks", "=", 4321)))
    assert [item.id for item in found.items] == [sha]
    assert found.items[0].user_name == "fresh artist"
    assert memory.search(Query(Tag("fresh", "source"))).total == 1
    agree_everywhere(fresh)

    # 2. Tagged, then re-tagged across the threshold.
    memory.set_tags(content_id, MODEL, 0, {"cat": 0.9, "dog": 0.7})
    assert sha in {item.id for item in memory.search(Query(Tag("cat", "model")), limit=500).items}
    agree_everywhere(fresh)
    memory.set_tags(content_id, MODEL, 0, {"cat": 0.3})
    assert sha not in {item.id
                       for item in memory.search(Query(Tag("cat", "model")), limit=500).items}
    # Only Pixiv's two tags (新鮮 and its translation) are left.
    assert memory.search(Query(Compare("width", "=", 4321))).items[0].tagcount == 2
    agree_everywhere(fresh)

    # 3. OCR text arrives.
    write_ocr(memory, {content_id: "a fresh caption"})
    assert [item.id for item in memory.search(Query(Text("ocr", "FRESH"))).items] == [sha]
    agree_everywhere(fresh)

    # 4. The file is renamed: what the name said (source, user, post) changes.
    known = file_ids(memory, library.main_root)
    old_path = "/lib/main/pixiv/fresh artist_4242/4242_9999999_p0.png"
    memory.apply_scan_batch(ScanBatch(
        library.main_root, removed=[known[old_path]],
        files=[FileRecord("/lib/main/renamed/plain name.png", 123_456, 1_700_000_000 * SECOND,
                          "ok", sha)]))
    renamed = memory.search(Query(Compare("width", "=", 4321))).items[0]
    assert (renamed.source, renamed.user_name, renamed.post_id) == ("other", None, None)
    assert memory.search(Query(Compare("user", "=", "fresh artist"))).total == 0
    assert memory.search(Query(Compare("bookmarks", "=", 4321))).total == 0
    assert memory.search(Query(Tag("fresh", "source"))).total == 0
    agree_everywhere(fresh)

    # 5. A root goes offline: its content stays searchable, marked offline.
    extra = [path for path in library.files if path.startswith("/lib/extra/")]
    memory.set_root_online(library.extra_root, False)
    page = memory.search(Query(Compare("folder", "=", "/lib/extra")))
    assert page.total == len(extra) and all(item.offline for item in page.items)
    agree_everywhere(fresh)

    # 6. Its files are removed: the content is gone; then it comes back.
    known = file_ids(memory, library.extra_root)
    memory.apply_scan_batch(ScanBatch(library.extra_root, removed=list(known.values())))
    assert memory.search(Query(Compare("folder", "=", "/lib/extra"))).total == 0
    agree_everywhere(fresh)
    memory.apply_scan_batch(ScanBatch(library.extra_root, files=[
        FileRecord(path, 1, 1_650_000_000 * SECOND, "ok", library.files[path]) for path in extra
    ]))
    page = memory.search(Query(Compare("folder", "=", "/lib/extra")))
    assert page.total == len(extra) and not any(item.offline for item in page.items)
    after = agree_everywhere(fresh)
    assert len(after.searchable) == len(before.searchable) + 1


# -- concurrency -------------------------------------------------------------------------

CONCURRENT_QUERIES = [
    # Each only gains matches when images are added, so its total lies between
    # the totals before and after the writes.
    Query(MatchAll(), (SortKey("width"),)),
    Query(Tag("cat"), (SortKey("height", False),)),
    Query(Compare("width", ">", 700), (SortKey("filesize"),)),
    Query(Or((Tag("dog", "model"), Compare("format", "=", "png"))), (SortKey("pixels"),)),
    Query(Compare("source", "=", "pixiv"), (SortKey("user"), SortKey("page"))),
    Query(Not(Tag("monochrome")), (SortKey("format"),)),
    Query(TagScore("cat", ">", 0.4), (SortKey("tagcount"),)),
    Query(Compare("frames", ">=", 1), (SortKey("random", False),)),
]


def test_concurrent_queries_while_scanning(fresh: Engines) -> None:
    memory, sql, library = fresh.memory, fresh.sql, fresh.library
    before = {repr(q): sql.search(q, limit=1).total for q in CONCURRENT_QUERIES}
    # Warm every column first: the lazy column load's race with writers is a
    # known bug with its own test (test_lazy_sort_column_load_races_a_writer).
    for query in CONCURRENT_QUERIES:
        memory.search(query, limit=1)
    errors: list[BaseException] = []
    answers: list[tuple[Query, int]] = []
    done = threading.Event()
    rng = random.Random(5)

    def write() -> None:
        try:
            for k in range(30):
                sha = sha_for(f"concurrent-{k}")
                content = content_facts(sha, "png", rng, random_mtime(rng))
                add_images(memory, library.main_root,
                           [(f"/lib/main/pixiv/Alice_1001/1001_{8_000_000 + k}_p0.png", sha,
                             content)])
                content_id = memory.content_id_for(sha)
                assert content_id is not None
                memory.set_tags(content_id, MODEL, 0, {"cat": 0.9, "dog": 0.6})
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def read(worker: int) -> None:
        try:
            for k in range(13):
                query = CONCURRENT_QUERIES[(worker * 13 + k) % len(CONCURRENT_QUERIES)]
                page = memory.search(query, limit=20, offset=k % 3, seed=worker)
                assert len(page.items) <= 20
                answers.append((query, page.total))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert done.is_set() and not errors, errors
    assert len(answers) == 52
    after = {repr(q): sql.search(q, limit=1).total for q in CONCURRENT_QUERIES}
    for query, total in answers:
        assert before[repr(query)] <= total <= after[repr(query)], query
    assert all(after[key] > before[key] for key in before)
    reference = fresh.reference()
    for query in CONCURRENT_QUERIES:
        check_query(fresh, reference, query, limit=1000, seed=1)


# -- known engine bugs -------------------------------------------------------------------


def tiny(tmp_path: Path, files: list[tuple[str, dict[str, object]]]) -> Engines:
    """A catalogue of a few images: ``(path, NewContent overrides)``."""
    path = tmp_path / "tiny.sqlite3"
    memory = SqliteCatalog(path, memory_index=True)
    sql = SqliteCatalog(path, memory_index=False)
    root = memory.ensure_root("r", "/lib")
    items = []
    for i, (file_path, overrides) in enumerate(files):
        sha = sha_for(f"tiny-{i}")
        facts: dict[str, object] = dict(sha256=sha, filesize=1000 + i, format="png",
                                        width=100 + i, height=100, frames=1, animated=False,
                                        phash=None, thumbnail=False,
                                        mtime_ns=(1_600_000_000 + i) * SECOND)
        facts.update(overrides)
        items.append((file_path, sha, NewContent(**facts)))  # type: ignore[arg-type]
    add_images(memory, root, items)
    return Engines(path, memory, sql, Library(root, 0, 0))


def test_sql_not_of_comparison_with_missing_value(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [("/lib/1001_100_p0.png", {}), ("/lib/plain.png", {})])
    reference = engines.reference()
    for query in (parse_query("-user:alice"), parse_query("-page:>3"), parse_query("-has:ocr"),
                  Query(Not(Compare("posted", "<", "2020-01-01")))):
        expected = reference.search(query, limit=10)
        assert expected[0] == 2
        assert answer(engines.memory.search(query, limit=10)) == expected
        assert answer(engines.sql.search(query, limit=10)) == expected


def test_random_sort_same_order_in_both_engines(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [(f"/lib/{i}.png", {}) for i in range(4)])
    query = parse_query("order:random")
    assert query.sort == (SortKey("random", True),)
    assert answer(engines.memory.search(query, seed=5)) == \
        answer(engines.sql.search(query, seed=5))


def test_random_sort_negative_seed(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [(f"/lib/{i}.png", {}) for i in range(4)])
    query = Query(MatchAll(), (SortKey("random", False),))
    seed = -2_000_000_000
    assert answer(engines.memory.search(query, seed=seed)) == \
        answer(engines.sql.search(query, seed=seed))


def test_random_sort_huge_seed(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [(f"/lib/{i}.png", {}) for i in range(4)])
    query = Query(MatchAll(), (SortKey("random", False),))
    in_sql = answer(engines.sql.search(query, seed=2**70))
    assert in_sql == answer(engines.memory.search(query, seed=2**70))
    assert in_sql[0] == 4 and sorted(in_sql[1]) == sorted(answer(engines.sql.search(query))[1])


def test_path_with_bracket_is_a_substring(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [("/lib/[Circle] title.png", {}), ("/lib/other.png", {})])
    query = parse_query("path:[Circle]")
    expected = engines.reference().search(query, limit=10)
    assert expected[0] == 1
    assert answer(engines.sql.search(query)) == expected


def test_case_insensitive_path_and_ocr_beyond_ascii(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [("/lib/Straße.png", {}), ("/lib/ÄRGER.png", {})])
    ids = engines.memory.content_ids([sha_for("tiny-0"), sha_for("tiny-1")])
    write_ocr(engines.memory, {ids[sha_for("tiny-0")]: "Straße", ids[sha_for("tiny-1")]: "ÄRGER"})
    reference = engines.reference()
    for query in (Query(Compare("path", "=", "Straße")), Query(Compare("path", "=", "ärger")),
                  Query(Text("ocr", "Straße")), Query(Text("ocr", "ärger"))):
        expected = reference.search(query, limit=10)
        assert expected[0] == 1
        assert answer(engines.sql.search(query)) == expected
        assert answer(engines.memory.search(query)) == expected


def test_folder_prefix_case_is_consistent(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [("/lib/Art/a.png", {}), ("/lib/Art/sub/b.png", {})])
    query = parse_query("folder:/lib/art")
    found = engines.sql.search(query).total
    assert found in (0, 2)


def test_a_cold_sort_column_after_a_writer_added_rows(tmp_path: Path) -> None:
    engines = tiny(tmp_path, [("/lib/a.png", {}), ("/lib/b.png", {})])
    assert answer(engines.memory.search(Query(MatchAll()))) == \
        answer(engines.sql.search(Query(MatchAll())))
    # Rows land after the index was built; the next query sorts on a column
    # it has never loaded.
    add_images(engines.memory, engines.library.main_root,
               [("/lib/c.png", sha_for("late"), NewContent(sha_for("late"), 1, "png", 300, 100,
                                                           1, False, None, False, SECOND))])
    for query in (Query(MatchAll(), (SortKey("width"),)), Query(Compare("width", ">", 0))):
        assert answer(engines.memory.search(query)) == answer(engines.sql.search(query))
