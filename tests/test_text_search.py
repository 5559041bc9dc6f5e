"""Word search (``m;``, ``mt;``): the embedded FTS5 index and Meilisearch answer the
same queries with the same ids.

The same documents go to the embedded index (``SqliteWordIndex``) and to
Meilisearch (the fake of its HTTP API in ``meili_fake``, which implements
Meilisearch's documented matching rules independently of PxIMSE's code, or a
real server when ``PXIMSE_TEST_MEILI_URL`` is set); every query of the table
must give the expected ids on both, exact matches ranked before typo ones.
Then the catalogues: ranking, a sort that wins over it, a filter intersected
with the whole answer, freshness, and ``ocr:`` keeping its substring meaning.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import mongomock
import pytest
from helpers.meili_fake import FakeMeili

from pximse.query.ast import Query, Text
from pximse.query.errors import QueryError
from pximse.query.parse import parse_query
from pximse.store.meili import MeiliTextStore
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.ocrgrams import GRAMS_FIELD, backfill_grams
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog
from pximse.store.sqlite.wordindex import SqliteWordIndex
from pximse.store.text import TextDocument

SERVER_URL = os.environ.get("PXIMSE_TEST_MEILI_URL", "")
SERVER_KEY = os.environ.get("PXIMSE_TEST_MEILI_KEY", "")

DOCS = [
    TextDocument(1, "Hello World", "Summer festival", ("hatsune_miku",), ("hatsune_miku",)),
    TextDocument(2, "hello again"),
    TextDocument(3, "Thank you for reading"),
    TextDocument(4, "ありがとうございます"),
    TextDocument(5, "東京タワー 夜景"),
    TextDocument(6, "Café crème"),
    TextDocument(7, "international conference"),
    TextDocument(8, "the worlds end"),
    TextDocument(9, "SALE ends today", "Winter sale"),
    TextDocument(10, "", "夏の日", ("初音ミク", "cat"), ("初音ミク", "cat")),
    TextDocument(11, "Internationale"),
    TextDocument(12, "helo"),
    TextDocument(13, "conferance notes"),
]

CASES: list[tuple[str, str, set[int]]] = [
    ("ocr", "hello", {1, 2, 12}),  # 5 letters: one typo ("helo")
    ("ocr", "hel", {1, 2, 12}),  # the last word is a prefix
    ("ocr", "hel ", set()),  # ... unless a space ends the query
    ("ocr", "hellp", {1, 2}),  # a typo in a prefix ("helo" is two away)
    ("ocr", "wrold", {1, 8}),  # two letters swapped is one typo
    ("ocr", "hello world", {1}),  # every word must match
    ("ocr", "world hello", {1}),
    ("ocr", "cafe", {6}),  # accents do not matter
    ("ocr", "CRÈME", {6}),
    ("ocr", "東京", {5}),  # CJK: characters in a row
    ("ocr", "京タ", {5}),
    ("ocr", "ありがとう", {4}),
    ("ocr", "internacional", {7, 11}),  # 9+ letters: up to two typos
    ("ocr", "xello", set()),  # a wrong first letter costs two typos
    ("ocr", "wrld", set()),  # under 5 letters: no typo
    ("ocr", "ell", set()),  # not the start of a word
    ("ocr", "cat", set()),  # m; does not look at tags
    ("meta", "miku", {1}),  # a source tag's words
    ("meta", "summer", {1}),  # the title
    ("meta", "sale", {9}),
    ("meta", "夏", {10}),
    ("meta", "cat", {10}),
    ("meta", "hello", set()),  # mt; does not look at OCR text
]


@pytest.fixture(scope="module", params=["embedded", "fake", "server"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[object]:
    if request.param == "embedded":
        index = SqliteWordIndex(tmp_path_factory.mktemp("words") / "words.sqlite3")
        index.put(DOCS)
        yield index
        index.close()
        return
    if request.param == "fake":
        fake = FakeMeili().start()
        text = MeiliTextStore(fake.url, interval_ms=1)
        text.put(DOCS)
        yield text
        fake.stop()
        return
    if not SERVER_URL:
        pytest.skip("PXIMSE_TEST_MEILI_URL is not set: the Meilisearch server cases need a "
                    "server (see deploy/compose.yaml)")
    text = MeiliTextStore(SERVER_URL, SERVER_KEY, index=f"pximse_test_{uuid.uuid4().hex[:8]}")
    text.put(DOCS)
    yield text
    text.client.delete_index(text.uid)


@pytest.mark.parametrize(("scope", "words", "expected"), CASES,
                         ids=[f"{scope}:{words}" for scope, words, _ in CASES])
def test_the_same_ids_on_every_store(store: SqliteWordIndex, scope: str, words: str,
                                     expected: set[int]) -> None:
    found = store.search_ids(words, scope)  # type: ignore[arg-type]
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_exact_matches_rank_before_typos(store: SqliteWordIndex) -> None:
    assert store.search_ids("conference", "ocr") == [7, 13]  # 13 has "conferance"
    assert store.search_ids("conferance", "ocr") == [13, 7]


def test_source_tags_narrow_the_answer(store: SqliteWordIndex) -> None:
    assert store.search_ids("夏", "meta", source_tags=["cat"]) == [10]
    if not isinstance(store, SqliteWordIndex):  # Meilisearch filters on them itself
        assert store.search_ids("夏", "meta", source_tags=["dog"]) == []


# -- the catalogues ---------------------------------------------------------------------


TEXTS = ["hello world", "hello hello hello", "say hello", "goodbye", "HELLO there",
         "夏の日の思い出", "no text here"]


def _sha(i: int) -> str:
    return hashlib.sha256(f"text-{i}".encode()).hexdigest()


def _fill(catalog: object) -> dict[str, int]:
    root = catalog.ensure_root("r", "/lib")  # type: ignore[attr-defined]
    batch = ScanBatch(root)
    for i in range(len(TEXTS)):
        batch.new_content.append(NewContent(
            sha256=_sha(i), filesize=1000 + i, format="png", width=100 * (i + 1), height=10,
            frames=1, animated=False, phash=None, thumbnail=False,
            mtime_ns=(1_600_000_000 + i) * 10**9))
        batch.files.append(FileRecord(f"/lib/{i}.png", 1000 + i, 1, "ok", _sha(i)))
    catalog.apply_scan_batch(batch)  # type: ignore[attr-defined]
    ids: dict[str, int] = catalog.content_ids([_sha(i) for i in range(len(TEXTS))])  # type: ignore[attr-defined]
    catalog.set_ocr_many([(ids[_sha(i)], "t", text)  # type: ignore[attr-defined]
                          for i, text in enumerate(TEXTS)])
    catalog.set_tags(ids[_sha(0)], "pixiv", 1, {"Summer Sky": 1.0})  # type: ignore[attr-defined]
    return ids


@pytest.fixture(params=["sqlite", "mongo"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "sqlite":
        built: object = SqliteCatalog(tmp_path / "catalog.sqlite3")
        yield built
        built.close()  # type: ignore[attr-defined]
        return
    fake = FakeMeili().start()
    built = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "words"),
                         text_store=MeiliTextStore(fake.url, interval_ms=1))
    yield built
    fake.stop()


def _shas(catalog: object, text: str, sort: str = "", limit: int = 50) -> list[str]:
    page = catalog.search(parse_query(text, sort), limit=limit)  # type: ignore[attr-defined]
    return [item.id for item in page.items]


def test_catalogues_rank_filter_and_follow_writes(catalog: object) -> None:
    _fill(catalog)
    hello = {_sha(i) for i in (0, 1, 2, 4)}
    ranked = _shas(catalog, "m;hello")
    assert set(ranked) == hello
    if isinstance(catalog, SqliteCatalog):
        assert ranked[0] == _sha(1)  # "hello" three times: first by BM25
    # A sort names the order; the filter is intersected with every match.
    assert _shas(catalog, "m;hello", "filesize;1") == [_sha(i) for i in (0, 1, 2, 4)]
    assert set(_shas(catalog, "m;hello,width;>=300")) == {_sha(2), _sha(4)}
    assert set(_shas(catalog, "m:hello -width:>=300")) == {_sha(0), _sha(1)}
    # Paging through the ranking.
    pages = _shas(catalog, "m;hello", limit=2) + [
        item.id for item in catalog.search(parse_query("m;hello"), limit=2,  # type: ignore[attr-defined]
                                           offset=2).items]
    assert pages == ranked
    assert catalog.search(parse_query("m;hello"), limit=2).total == 4  # type: ignore[attr-defined]
    # mt; reads titles and source tags; m; OCR text only.
    assert _shas(catalog, "mt;summer") == [_sha(0)]
    assert _shas(catalog, "m;summer") == []
    # CJK characters in a row, ocr: a substring, m; words.
    assert _shas(catalog, "m;思い出") == [_sha(5)]
    assert set(_shas(catalog, "ocr:ell")) == hello
    assert _shas(catalog, "m;ell") == []
    # A write is seen by the next search.
    ids = catalog.content_ids([_sha(3)])  # type: ignore[attr-defined]
    catalog.set_ocr(ids[_sha(3)], "t", "hello again")  # type: ignore[attr-defined]
    assert _sha(3) in _shas(catalog, "m;hello")
    with pytest.raises(QueryError, match="needs letters or digits"):
        _shas(catalog, 'm;"!!!"')


def test_mongodb_without_meilisearch_says_what_to_set() -> None:
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "bare"))
    with pytest.raises(QueryError, match="meili_url"):
        catalog.search(parse_query("m;hello"))


def test_ocr_substring_on_mongodb_reads_the_gram_index() -> None:
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "grams"))
    ids = _fill(catalog)
    compiled = catalog.compiler.filter(Text("ocr", "HELLO"))
    assert GRAMS_FIELD in compiled  # an indexed field narrows before the exact check
    short = catalog.compiler.filter(Text("ocr", "夏の"))
    assert short == {GRAMS_FIELD: "夏の"}  # 1-3 characters: the index alone is exact
    assert {i.id for i in catalog.search(Query(Text("ocr", "LO TH")), limit=50).items} == {
        _sha(4)}
    assert {i.id for i in catalog.search(Query(Text("ocr", "日の")), limit=50).items} == {
        _sha(5)}
    # Documents written before the field existed get it on the next start.
    catalog.mdb.content.update_many({}, {"$unset": {GRAMS_FIELD: ""}})
    assert backfill_grams(catalog.mdb.content) == len(TEXTS)
    doc = catalog.mdb.content.find_one({"_id": ids[_sha(5)]})
    assert {"夏", "夏の", "夏の日"} <= set(doc[GRAMS_FIELD])
