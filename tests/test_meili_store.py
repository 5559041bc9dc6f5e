"""The Meilisearch text store against a fake of Meilisearch's HTTP API (meili_fake),
and against a real server when ``PXIMSE_TEST_MEILI_URL`` is set (with
``PXIMSE_TEST_MEILI_KEY`` for its master key)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import mongomock
import pytest
from helpers.meili_fake import FakeMeili

from pximse.store.meili import MeiliError, MeiliTextStore
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch
from pximse.store.text import TextDocument

SERVER_URL = os.environ.get("PXIMSE_TEST_MEILI_URL", "")
SERVER_KEY = os.environ.get("PXIMSE_TEST_MEILI_KEY", "")
KEY = "test-master-key"


@pytest.fixture
def fake() -> Iterator[FakeMeili]:
    server = FakeMeili(master_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture(params=["fake", "server"])
def store(request: pytest.FixtureRequest) -> Iterator[MeiliTextStore]:
    index = f"pximse_test_{uuid.uuid4().hex[:10]}"
    if request.param == "fake":
        server = FakeMeili(master_key=KEY).start()
        yield MeiliTextStore(server.url, KEY, index=index, interval_ms=5)
        server.stop()
        return
    if not SERVER_URL:
        pytest.skip("PXIMSE_TEST_MEILI_URL is not set: the Meilisearch server cases need a "
                    "server (see deploy/compose.yaml)")
    text = MeiliTextStore(SERVER_URL, SERVER_KEY, index=index)
    yield text
    text.client.delete_index(index)


DOCS = [
    TextDocument(1, "Thank you for reading", "", ("オリジナル", "cat"), ("オリジナル", "cat")),
    TextDocument(2, "ありがとう ございます", "夏の日", ("風景",), ("風景",)),
    TextDocument(3, "SALE ends today", "", (), ()),
    TextDocument(40, "", "Cat nap", ("cat", "Girl"), ("cat", "girl")),
]


def test_writes_are_awaited_and_searchable(store: MeiliTextStore) -> None:
    assert store.put(DOCS) == 4
    assert store.count() == 4  # the tasks had finished when put returned
    assert store.search_ids("thank", "ocr") == [1]
    assert store.search_ids("sale today", "ocr") == [3]
    assert sorted(store.search_ids("cat", "meta")) == [1, 40]  # a tag, and a title
    assert store.search_ids("cat", "meta", source_tags=["girl"]) == [40]
    assert store.search_ids("cat", "ocr") == []
    assert store.documents([2, 40, 99]) == {
        2: DOCS[1].to_json(), 40: DOCS[3].to_json()}
    store.put([TextDocument(1, "replaced text")])
    assert store.search_ids("thank", "ocr") == [] and store.count() == 4
    store.delete([1, 2])
    assert store.count() == 2
    store.clear()
    assert store.count() == 0


def test_the_fake_needs_waiting(fake: FakeMeili) -> None:
    """A write is only done when its task ran: one poll shows it processing."""
    store = MeiliTextStore(fake.url, KEY, index="t", interval_ms=5)
    task = store.index.add_documents([{"id": 9, "text": "x"}], "id")
    assert store.client.get_task(task.task_uid).status == "processing"
    assert store.count() == 0
    store._wait("writing", task)
    assert store.count() == 1
    polls = [path for method, path in fake.requests if path.startswith("/tasks/")]
    assert len(polls) >= 3


def test_a_failed_task_is_an_error_with_its_reason(fake: FakeMeili) -> None:
    store = MeiliTextStore(fake.url, KEY, index="t", interval_ms=5)
    fake.fail_next("no_space_left_on_device", "There is no more space left on the device.")
    with pytest.raises(MeiliError, match=r"writing 1 documents .* failed: There is no more "
                       r"space left on the device. \[no_space_left_on_device\]"):
        store.put([TextDocument(5, "lost?")])
    assert store.count() == 0
    store.put([TextDocument(5, "kept")])  # the next one goes through
    assert store.count() == 1
    # The fake refuses what Meilisearch refuses (the store never sends such ids).
    task = store.index.add_documents([{"id": "not valid!", "text": ""}], "id")
    with pytest.raises(MeiliError, match="invalid_document_id"):
        store._wait("writing", task)


def test_keys_and_reachability(fake: FakeMeili) -> None:
    with pytest.raises(MeiliError, match="invalid_api_key"):
        MeiliTextStore(fake.url, "wrong", index="t")
    with pytest.raises(MeiliError, match="invalid_api_key"):  # the client sends "Bearer None"
        MeiliTextStore(fake.url, "", index="t")
    import httpx

    answer = httpx.get(f"{fake.url}/indexes/t")
    assert answer.status_code == 401 and answer.json()["code"] == "missing_authorization_header"
    with pytest.raises(MeiliError, match="cannot reach Meilisearch"):
        MeiliTextStore("http://127.0.0.1:9", KEY, index="t", timeout_ms=2000)


def test_mongo_catalogue_copies_the_tags_in_file_names(fake: FakeMeili) -> None:
    text = MeiliTextStore(fake.url, KEY, index="names", interval_ms=5)
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "n"), text_store=text)
    root = catalog.ensure_root("r", "/lib")
    sha = "cd" * 32
    path = "/lib/yande.re 431721 blue_sky cat.jpg"
    catalog.apply_scan_batch(ScanBatch(root, [NewContent(sha, 10, "jpeg", 4, 4, 1, False, None,
                                                         False, 10**18)],
                                       [FileRecord(path, 10, 10**18, "ok", sha)]))
    cid = catalog.content_id_for(sha)
    assert cid is not None
    assert text.documents([cid]) == {cid: TextDocument(
        cid, "", "", ("blue_sky", "cat"), ("blue_sky", "cat")).to_json()}
    # Renamed with other tags: the copy follows the name.
    file_id = catalog.file_ids([path])[path]
    catalog.apply_scan_batch(ScanBatch(root, files=[FileRecord(
        "/lib/yande.re 431721 cat.jpg", 10, 10**18, "ok", sha)], removed=[file_id]))
    assert text.documents([cid]) == {cid: TextDocument(cid, "", "", ("cat",), ("cat",)).to_json()}


def test_mongo_catalogue_copies_text_and_source_tags(fake: FakeMeili) -> None:
    text = MeiliTextStore(fake.url, KEY, index="catalog", interval_ms=5)
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "t"), text_store=text)
    root = catalog.ensure_root("r", "/lib")
    sha = "ab" * 32
    catalog.apply_scan_batch(ScanBatch(root, [NewContent(sha, 10, "png", 4, 4, 1, False, None,
                                                         False, 10**18)],
                                       [FileRecord("/lib/1_2_p0.png", 10, 10**18, "ok", sha)]))
    cid = catalog.content_id_for(sha)
    assert cid is not None
    catalog.set_ocr(cid, "ocr:test", "Hello there")
    catalog.set_tags(cid, "pixiv", 1, {"Blue Sky": 1.0})
    catalog.set_tags(cid, "wd14:x", 0, {"model_tag": 0.9})  # model tags stay out
    assert text.documents([cid]) == {cid: TextDocument(
        cid, "Hello there", "", ("Blue Sky",), ("blue_sky",)).to_json()}
    fake.fail_next("internal", "boom")
    with pytest.raises(MeiliError, match="boom"):
        catalog.set_ocr(cid, "ocr:test", "Lost text")
