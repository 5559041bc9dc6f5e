"""The MongoDB catalogue against the SQLite one: the same writes, the same answers.

Both catalogues are filled through their own write APIs with the same calls
(:class:`mongo_tee.TeeCatalog` over the library builder of
``test_query_engines``), then every query case there (the Hypothesis strategy,
the hand-written table, the freshness steps) must give the same total, page
and rows on MongoDB as on SQLite's SQL engine, whose meaning
``query_reference`` pins. MongoDB is mongomock here; with
``PXIMSE_TEST_MONGO_URL`` set (``mongodb://user:pass@127.0.0.1:27017``), the
``server`` cases run the same checks on that server, in a database of their
own that is dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mongomock
import pytest
from helpers.mongo_pair import Pair, close_pair, open_pair
from helpers.query_library import (
    MODEL,
    SECOND,
    THRESHOLD,
    add_images,
    file_ids,
    sha_for,
    write_ocr,
)
from helpers.query_strategies import Queries
from helpers.query_table import FRESHNESS_QUERIES, TABLE, table_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pximse.query.ast import And, Compare, MatchAll, Not, Or, Query, SortKey, Tag, TagScore, Text
from pximse.query.parse import parse_query
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.records import SearchPage
from pximse.store.scan_records import NewContent
from pximse.store.sqlite.catalog import FileRecord, ScanBatch

pytestmark = pytest.mark.slow  # every test here takes seconds


@pytest.fixture(scope="module", params=["mongomock", "server"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    built = open_pair(tmp_path_factory.mktemp("mongo"), request.param, 300, 7)
    yield built
    close_pair(built)


@pytest.fixture(scope="module")
def queries(pair: Pair) -> Queries:
    return Queries(pair.reference())


def answer(page: SearchPage) -> tuple[int, list[str]]:
    return page.total, [item.id for item in page.items]


def same_answer(pair: Pair, query: Query, *, limit: int = 1000, offset: int = 0,
                seed: int = 0) -> tuple[int, list[str]]:
    expected = pair.sqlite.search(query, limit=limit, offset=offset, seed=seed)
    found = pair.mongo.search(query, limit=limit, offset=offset, seed=seed)
    assert answer(found) == answer(expected), f"MongoDB disagrees with SQLite: {query}"
    assert found.items == expected.items, f"rows differ: {query}"
    return answer(expected)


# -- the data ----------------------------------------------------------------------


def test_same_images_and_rows(pair: Pair) -> None:
    reference = pair.reference()
    shas = sorted(item.sha256 for item in reference.items.values())
    assert pair.mongo.content_ids(shas) == pair.sqlite.content_ids(shas)
    for sha in shas[::7]:
        assert pair.mongo.image(sha) == pair.sqlite.image(sha), sha
    assert pair.mongo.status(errors=5) == pair.sqlite.status(errors=5)
    assert pair.mongo.tags_with_prefix("") == pair.sqlite.tags_with_prefix("")
    assert pair.mongo.tags_with_prefix("s", 5) == pair.sqlite.tags_with_prefix("s", 5)
    keys = ["cat", "long_hair", "no_such_tag"]
    assert pair.mongo.tag_counts(keys) == pair.sqlite.tag_counts(keys)
    assert pair.mongo.root_paths() == pair.sqlite.root_paths()
    for sha in shas[:20]:
        assert pair.mongo.file_for(sha) == pair.sqlite.file_for(sha)
        assert pair.mongo.recorded_files(sha) == pair.sqlite.recorded_files(sha)
    assert any(pair.sqlite.recorded_files(sha) for sha in shas[:20])
    ids_m, hashes_m, versions_m = pair.mongo.phashes()
    ids_s, hashes_s, versions_s = pair.sqlite.phashes()
    assert sorted(zip(ids_m.tolist(), hashes_m.tolist(), versions_m.tolist(), strict=True)) \
        == sorted(zip(ids_s.tolist(), hashes_s.tolist(), versions_s.tolist(), strict=True))


def test_full_listings_and_files_by_place_as_sqlite(pair: Pair) -> None:
    shas = sorted(item.sha256 for item in pair.reference().items.values())
    for threshold in (0.0, THRESHOLD):
        assert pair.mongo.result_details(shas, threshold) == \
            pair.sqlite.result_details(shas, threshold)
    details = pair.sqlite.result_details(shas, THRESHOLD)
    assert all(score >= THRESHOLD for d in details.values() for score in d.model_tags.values())
    assert any(d.model_tags for d in details.values())
    assert any(d.source_tags for d in details.values())
    assert any(len(d.files) > 1 for d in details.values())
    places = sorted({(f.root, f.folder, f.name) for d in details.values() for f in d.files})
    found = 0
    for root, folder, name in places[::5] + [("main", "nowhere", "x.png"), ("none", "", "a")]:
        relative = [*folder.split("/"), name] if folder else [name]
        at = pair.sqlite.recorded_file_at(root, relative)
        assert pair.mongo.recorded_file_at(root, relative) == at
        found += at is not None
    assert found > 10


# -- generated queries ------------------------------------------------------------------


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mongo_agrees_with_sqlite(data: st.DataObject, pair: Pair, queries: Queries) -> None:
    query = data.draw(queries.strategy, label="query")
    limit = data.draw(st.integers(0, 60), label="limit")
    offset = data.draw(st.one_of(st.integers(0, 20), st.integers(0, 320)), label="offset")
    seed = data.draw(st.integers(-(2**70), 2**70), label="seed")
    same_answer(pair, query, limit=limit, offset=offset, seed=seed)
    assert pair.mongo.filtered_ids(query).tolist() == pair.sqlite.filtered_ids(query).tolist()


@pytest.mark.parametrize(("text", "sort", "syntax", "found"), TABLE,
                         ids=[row[0] or row[1] for row in TABLE])
def test_hand_written_query(text: str, sort: str, syntax: str, found: bool, pair: Pair) -> None:
    query = parse_query(text.format(**table_params(pair.reference())), sort)
    total, _ = same_answer(pair, query, seed=12345)
    assert (total > 0) == found
    for offset in (0, 7, max(total - 1, 0)):
        same_answer(pair, query, limit=5, offset=offset, seed=12345)


NULL_CASES = [
    # Missing values: a comparison is false, != is true, NOT of a false one is true.
    Query(Compare("user", "=", "alice")),
    Query(Not(Compare("user", "=", "alice"))),
    Query(Compare("user", "!=", "alice")),
    Query(Not(Compare("page", ">", 0))),
    Query(Not(Compare("posted", "<", "2020-01-01"))),
    Query(Or((Compare("textlen", ">", 3), Not(Compare("textlen", ">=", 0))))),
    Query(And((Not(Tag("cat")), Not(TagScore("cat", "<", 0.5))))),
    Query(Not(Text("ocr", "hello"))),
    Query(MatchAll(), (SortKey("posted", False), SortKey("user"))),
    Query(MatchAll(), (SortKey("textlen"), SortKey("page", False))),
]


@pytest.mark.parametrize("query", NULL_CASES, ids=[repr(q.where)[:60] for q in NULL_CASES])
def test_missing_values_as_sqlite(query: Query, pair: Pair) -> None:
    total, _ = same_answer(pair, query)
    assert total > 0


# -- writes -------------------------------------------------------------------------------


@pytest.fixture(params=["mongomock", "server"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    built = open_pair(tmp_path, request.param, 60, 11)
    yield built
    close_pair(built)


def agree(pair: Pair) -> None:
    for query in FRESHNESS_QUERIES:
        same_answer(pair, query, seed=3)


def test_file_names_are_filled_in_for_older_documents(fresh: Pair) -> None:
    """A catalogue written before ``filename`` queries gets its names on the next open."""
    mdb = fresh.mongo.mdb
    mdb.content.update_many({}, {"$unset": {"names": "", "names_cf": "", "name_min": ""}})
    MongoDatabase(mdb.client, mdb.name)
    assert mdb.content.count_documents({"names": {"$exists": False}}) == 0
    for text in ("filename:*_p0.*", "-filename:*.jpg order:filename", "order:-filename"):
        same_answer(fresh, parse_query(text))


def test_writes_keep_the_two_in_step(fresh: Pair) -> None:
    tee, library = fresh.tee, fresh.library
    agree(fresh)
    sha = sha_for("fresh image")
    content = NewContent(sha, 123_456, "png", 4321, 1000, 1, False, None, False,
                         1_700_000_000 * SECOND)
    old_path = "/lib/main/pixiv/fresh artist_4242/4242_9999999_p0.png"
    add_images(tee, library.main_root, [(old_path, sha, content)])  # type: ignore[arg-type]
    content_id = fresh.sqlite.content_id_for(sha)
    assert content_id is not None and fresh.mongo.content_id_for(sha) == content_id
    agree(fresh)
    tee.set_tags(content_id, MODEL, 0, {"cat": 0.9, "dog": 0.7})
    agree(fresh)
    tee.set_tags(content_id, MODEL, 0, {"cat": 0.3})
    write_ocr(tee, {content_id: "a fresh caption"})  # type: ignore[arg-type]
    agree(fresh)
    known = file_ids(tee, library.main_root)  # type: ignore[arg-type]
    tee.apply_scan_batch(ScanBatch(
        library.main_root, removed=[known[old_path]],
        files=[FileRecord("/lib/main/renamed/plain name.png", 123_456, 1_700_000_000 * SECOND,
                          "ok", sha)]))
    assert fresh.mongo.image(sha) == fresh.sqlite.image(sha)
    agree(fresh)
    extra = [path for path in library.files if path.startswith("/lib/extra/")]
    tee.set_root_online(library.extra_root, False)
    agree(fresh)
    known = file_ids(tee, library.extra_root)  # type: ignore[arg-type]
    tee.apply_scan_batch(ScanBatch(library.extra_root, removed=list(known.values())))
    agree(fresh)
    tee.apply_scan_batch(ScanBatch(library.extra_root, files=[
        FileRecord(path, 1, 1_650_000_000 * SECOND, "ok", library.files[path])
        for path in extra]))
    agree(fresh)
    assert fresh.mongo.status() == fresh.sqlite.status()


def test_names_that_are_not_utf8_as_sqlite(fresh: Pair) -> None:
    # A file name of Latin-1 bytes, as Python hands it over (surrogate-escaped):
    # both catalogues store it losslessly and give back the very same path.
    tee, library = fresh.tee, fresh.library
    folder = os.fsdecode(b"/lib/main/caf\xe9 folder")
    path = os.fsdecode(b"/lib/main/caf\xe9 folder/\xff\xfe.png")
    sha = sha_for("odd name")
    content = NewContent(sha, 777, "png", 10, 10, 1, False, None, False,
                         1_700_000_000 * SECOND)
    add_images(tee, library.main_root, [(path, sha, content)])  # type: ignore[arg-type]
    for catalog in (fresh.sqlite, fresh.mongo):
        assert set(catalog.file_ids([path])) == {path}
        assert set(catalog.catalogued_stats(library.main_root, set(), [folder])) == {path}
        assert catalog.file_for(sha) == (path, "png")
        assert [p.path for p in catalog.image(sha).paths] == [  # type: ignore[union-attr]
            "/lib/main/caf\\xe9 folder/\\xff\\xfe.png"]
    assert fresh.mongo.image(sha) == fresh.sqlite.image(sha)
    agree(fresh)


def test_model_stages_as_sqlite(fresh: Pair) -> None:
    tee = fresh.tee
    pending = fresh.sqlite.pending_for_stage("tagger", MODEL, limit=1000)
    assert pending and fresh.mongo.pending_for_stage("tagger", MODEL, limit=1000) == pending
    done = [cid for cid, _ in pending[:10]]
    tee.record_stages([(cid, "tagger", MODEL, None) for cid in done[:8]]
                      + [(cid, "tagger", MODEL, "boom") for cid in done[8:]])
    tee.set_model_tags_many([(cid, "wd14:newer", {"cat": 0.8}) for cid in done])
    for engine in (fresh.sqlite, fresh.mongo):
        assert engine.stage_done_ids("tagger", MODEL).tolist() == sorted(done[:8])
        assert engine.pending_for_stage("tagger", MODEL, 5, after=done[3]) == \
            fresh.sqlite.pending_for_stage("tagger", MODEL, 5, after=done[3])
        assert engine.count_pending("tagger", MODEL) == len(pending) - 10
    tee.forget_stage("tagger", done[:2])
    assert fresh.mongo.count_pending("tagger", MODEL) == \
        fresh.sqlite.count_pending("tagger", MODEL) == len(pending) - 8
    for cid in done:
        sha = pending[[c for c, _ in pending].index(cid)][1]
        assert fresh.mongo.image(sha) == fresh.sqlite.image(sha)
    agree(fresh)


def test_work_lists_as_sqlite(fresh: Pair) -> None:
    # What the daemon's background indexer and its watcher ask the catalogue.
    from pximse.store.sqlite.worklists import PRIORITY_CLASSES

    sqlite, mongo, tee = fresh.sqlite, fresh.mongo, fresh.tee
    top = sqlite.max_content_id()
    assert top > 0 and mongo.max_content_id() == top
    ids = [cid for cid, _ in sqlite.pending_for_stage("tagger", MODEL, limit=1000)]
    tee.record_stages([(cid, "tagger", MODEL, None) for cid in ids[::3]]
                      + [(cid, "tagger", "older-model", None) for cid in ids[1::3]])
    new_after = ids[len(ids) // 2]
    seen = set()
    for kind in PRIORITY_CLASSES:
        for after in (0, ids[5], new_after):
            expected = sqlite.pending_in_class("tagger", MODEL, kind, after=after,
                                               new_after=new_after, limit=7)
            assert mongo.pending_in_class("tagger", MODEL, kind, after=after,
                                          new_after=new_after, limit=7) == expected
            seen.update(kind for _ in expected)
    assert seen == set(PRIORITY_CLASSES)  # each class had work to compare

    paths = sorted(fresh.library.files)
    folder = os.path.dirname(paths[0])
    parent = os.path.dirname(folder)
    root_id = fresh.library.main_root
    for files, folders in (({paths[0], paths[-1], "/lib/main/not there.png"}, []),
                           (set(), [folder]), (set(), [parent]), ({paths[1]}, [folder])):
        expected_stats = sqlite.catalogued_stats(root_id, files, folders)
        assert mongo.catalogued_stats(root_id, files, folders) == expected_stats
    assert sqlite.catalogued_stats(root_id, set(), [parent])
    gone = sorted(sqlite.gone_files(paths[:20] + ["/lib/main/not there.png"]))
    assert gone and len(gone) == 20
    mine = {path: fid for path, fid in mongo.file_ids(paths[:20]).items()}
    assert sorted((path, mine[path], *rest) for path, _, *rest in
                  mongo.gone_files(paths[:20] + ["/lib/main/not there.png"])) == \
        [(path, mine[path], *rest) for path, _, *rest in gone]


def test_ocr_lines_round_trip(fresh: Pair) -> None:
    cid = fresh.sqlite.pending_for_stage("ocr", "m", 1)[0][0]
    lines = [("ありがとう", [[0, 0], [10, 0], [10, 5], [0, 5]], 0.93), ("THANKS", None, None)]
    fresh.tee.set_ocr(cid, "rapidocr:x", lines)
    assert fresh.mongo.ocr_lines(cid) == fresh.sqlite.ocr_lines(cid)
    same_answer(fresh, Query(Text("ocr", "ｔｈａｎｋｓ")))
    assert fresh.mongo.search(Query(Text("ocr", "ありが"))).total >= 1


def test_a_timeout_is_a_query_error() -> None:
    from pximse.query.errors import QueryError
    from pximse.store.mongo.reads import MongoReads

    class Slow:
        def find(self, *args: object, **kwargs: object) -> object:
            from pymongo.errors import ExecutionTimeout

            raise ExecutionTimeout("operation exceeded time limit")

    reads = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "t"))
    reads.mdb.content = Slow()
    with pytest.raises(QueryError, match="longer than 5 ms"):
        MongoReads.search(reads, Query(MatchAll()), timeout_ms=5)


def test_pixiv_metadata_as_sqlite(fresh: Pair) -> None:
    """Fetched, hidden and failed works, names seen at different times, and the
    full name pass: the Pixiv reads and every image agree on both catalogues."""
    from pximse.store.records import PixivTag, PixivWork

    tee = fresh.tee
    posts = sorted({row[0] for row in fresh.sqlite.db.reader().execute(
        "SELECT post_id FROM content WHERE source = 'pixiv' AND post_id IS NOT NULL")})
    assert len(posts) >= 4
    user = fresh.sqlite.db.reader().execute(
        "SELECT user_id FROM content WHERE source = 'pixiv' AND post_id = ?",
        (posts[0],)).fetchone()[0] or "1001"
    tee.record_pixiv_work(PixivWork(posts[0], "ok", "app", 1_700_000_000, title="Rain",
                                    views=10, bookmarks=3, user_id=user, user_name="Newer Name",
                                    ai=False, r18=True,
                                    tags=[PixivTag("雨", "rain"), PixivTag("傘", None)]))
    tee.record_pixiv_work(PixivWork(posts[1], "private", "ajax", 1_700_000_100,
                                    user_id=user, user_name="Hidden Name"))
    tee.record_pixiv_work(PixivWork(posts[2], "deleted", "app", 1_600_000_000))
    tee.record_pixiv_error(posts[3], "connection reset", 1_700_000_200)
    assert fresh.mongo.update_user_names() == fresh.sqlite.update_user_names()
    for engine in (fresh.mongo,):
        assert engine.pixiv_summary(fetched_after=1_650_000_000) == \
            fresh.sqlite.pixiv_summary(fetched_after=1_650_000_000)
        assert engine.pixiv_errors() == fresh.sqlite.pixiv_errors()
        for include in (False, True):
            assert engine.pixiv_candidates(fetched_before=1_800_000_000,
                                           include_missing=include) == \
                fresh.sqlite.pixiv_candidates(fetched_before=1_800_000_000,
                                              include_missing=include)
        for post in posts[:3]:
            assert engine.pixiv_work(post) == fresh.sqlite.pixiv_work(post)
    for query in ("pixiv:deleted", "pixiv:private", "title:rai", "-title:rain", "r18:true",
                  "tag:rain", "tag:傘", "bookmarks:>=3", f"userid:{user} order:user"):
        same_answer(fresh, parse_query(query))
    shas = [sha for sha, in fresh.sqlite.db.reader().execute(
        "SELECT sha256 FROM content WHERE source = 'pixiv'")]
    for sha in shas:
        assert fresh.mongo.image(sha) == fresh.sqlite.image(sha), sha


def test_the_settled_generation_waits_for_writes_under_way_elsewhere() -> None:
    # The daemon and its indexer: two processes, one database.
    import time

    import mongomock

    client = mongomock.MongoClient()
    daemon, indexer = MongoDatabase(client, "shared"), MongoDatabase(client, "shared")
    with daemon.write():
        pass
    assert indexer.settled_generation() == daemon.gen == 1
    with indexer.write():  # a batch of model results, still being written...
        with daemon.write():  # ...while a scan's write starts and finishes
            pass
        assert daemon.gen == indexer.gen + 1
        assert daemon.settled_generation() == indexer.gen - 1  # not past the open one
    assert daemon.settled_generation() == daemon.gen  # both finished
    # A write left open by a process that died holds nothing back for ever.
    indexer.writes_open.insert_one({"_id": daemon.gen + 1, "started": time.time() - 3600})
    indexer.next_ids("gen")
    assert daemon.settled_generation() == daemon.gen + 1
