"""The Pixiv fetch with the catalogue on MongoDB (mongomock).

The same fetch on SQLite and on MongoDB must leave the same works, images and
searches. (The background loop's tests run on both catalogues in
test_pixiv_background.py.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import numpy as np
import pytest
from helpers.pixiv_fake import FakePixiv, FakeWork

from pximse.config import Config, load_config
from pximse.sources.pixiv import FetchOptions, fetch_library
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

TOKEN = "background-refresh-token-0123"
NAMES = ["90000001_p0.png", "90000001_p1.png", "90000002_p0.png", "90000003_p0.png",
         "2002_90000004_p0.png"]


@pytest.fixture
def fake() -> Iterator[FakePixiv]:
    server = FakePixiv(TOKEN).start()
    server.add(FakeWork(90000001, bookmarks=77, pages=2, user_name="Alice",
                        tags=[("雨", {"en": "rain"}), ("傘", {})]))
    server.add(FakeWork(90000002, state="deleted"))
    server.add(FakeWork(90000003, state="private"))
    server.add(FakeWork(90000004, user_id=2002, user_name="Bob"))
    yield server
    server.stop()


def write_config(tmp_path: Path, fake: FakePixiv, token: str = TOKEN) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[pixiv]\nrefresh_token = '{token}'\napp_api_url = '{fake.url}'\n"
        f"ajax_url = '{fake.url}'\nrequest_interval_s = 0.0\njitter_s = 0.0\n"
        "background = true\nbackground_interval_minutes = 600\n", encoding="utf-8")
    return load_config(path, tmp_path / "data", env={})


def fill(catalog: Any, names: list[str]) -> None:
    root = catalog.ensure_root("lib", "/lib")
    shas = [hashlib.sha256(name.encode()).hexdigest() for name in names]
    catalog.apply_scan_batch(ScanBatch(
        root, new_content=[NewContent(s, 10, "png", 10, 10, 1, False, None, False, 10**18)
                           for s in shas],
        files=[FileRecord(f"/lib/{n}", 10, 10**18, "ok", s)
               for n, s in zip(names, shas, strict=True)]))


def mongo_catalog(names: list[str] = NAMES, **options: Any) -> MongoCatalog:
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(),
                                         f"pximse_test_{uuid.uuid4().hex[:12]}"), **options)
    fill(catalog, names)
    return catalog


# -- the same fetch on both catalogues ---------------------------------------------------------


def images(catalog: Any) -> list[tuple[Any, ...]]:
    """What each image's page shows of Pixiv, by file name."""
    rows = []
    for name in NAMES:
        detail = catalog.image(hashlib.sha256(name.encode()).hexdigest())
        pixiv = dict(detail.pixiv or {})
        rows.append((name, pixiv.get("state"), pixiv.get("bookmarks"), detail.title,
                     detail.posted, detail.user_id, detail.user_name,
                     sorted((t.name, t.origin) for t in detail.tags)))
    return rows


SEARCHES = ("pixiv:deleted", "pixiv:private", "pixiv:ok", "bookmarks:>50", "title:作品",
            "user:bob", "雨", "rain")


def found(catalog: Any, text: str) -> list[str | None]:
    from pximse.query.parse import parse_query

    return sorted(item.post_id for item in catalog.search(parse_query(text), limit=50).items)


def test_the_images_show_what_was_fetched(tmp_path: Path, fake: FakePixiv) -> None:
    """The same round on SQLite and on MongoDB leaves the images alike: the
    work's numbers, title, state and tags on each page, and the user's most
    recent name on images whose file name gave only the id."""
    config = write_config(tmp_path, fake)
    sqlite = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    fill(sqlite, NAMES)
    mongo = mongo_catalog()
    for catalog in (sqlite, mongo):
        ids = np.array([catalog.content_id_for(hashlib.sha256(name.encode()).hexdigest())
                        for name in ("90000002_p0.png", "2002_90000004_p0.png")])
        assert catalog.pixiv_candidates(fetched_before=1, content_ids=ids) == \
            ["90000004", "90000002"]  # never fetched: the newest work first
        fetch_library(catalog, config.pixiv, now=lambda: 1_800_000_000)
    expected = images(sqlite)
    assert images(mongo) == expected
    by_name = {row[0]: row for row in expected}
    assert by_name["90000001_p1.png"][1:3] == ("ok", 77)
    assert by_name["90000002_p0.png"][1] == "deleted"
    assert by_name["2002_90000004_p0.png"][5:7] == ("2002", "Bob")
    assert {("雨", "pixiv"), ("rain", "pixiv")} <= set(by_name["90000001_p0.png"][7])
    for text in SEARCHES:
        assert found(mongo, text) == found(sqlite, text), text
    assert found(sqlite, "pixiv:deleted") == ["90000002"]
    assert mongo.pixiv_summary(fetched_after=0) == sqlite.pixiv_summary(fetched_after=0)
    sqlite.close()
    mongo.close()


def test_failures_are_kept_apart(tmp_path: Path, fake: FakePixiv) -> None:
    config, catalog = write_config(tmp_path, fake), mongo_catalog()
    fake.script(90000002, 500, 500)
    report = fetch_library(catalog, config.pixiv, options=FetchOptions(
        request_interval_s=0, jitter_s=0, max_retries=1, backoff_start_s=0.01,
        backoff_max_s=0.01), sleep=lambda seconds: True)
    assert report.errors == 1 and report.states["ok"] == 2
    assert catalog.pixiv_work("90000002") is None
    errors = catalog.pixiv_errors()
    assert [(e["illust_id"], e["attempts"]) for e in errors] == [("90000002", 1)]
    assert catalog.pixiv_summary()["errors"] == 1
    # The next run tries it again, and the answer clears the failure.
    fetch_library(catalog, config.pixiv, options=FetchOptions(
        request_interval_s=0, jitter_s=0), sleep=lambda seconds: True)
    assert catalog.pixiv_work("90000002").state == "deleted"  # type: ignore[union-attr]
    assert catalog.pixiv_errors() == []
    catalog.close()


def test_fetched_tags_reach_the_text_store(tmp_path: Path, fake: FakePixiv) -> None:
    """With Meilisearch beside MongoDB, a work's Pixiv tags and their translations
    are copied to its images' text documents as they are stored."""
    from helpers.meili_fake import FakeMeili

    from pximse.store.meili import MeiliTextStore

    meili = FakeMeili(master_key="key").start()
    try:
        text = MeiliTextStore(meili.url, "key", index="catalog", interval_ms=5)
        catalog = mongo_catalog(text_store=text)
        fetch_library(catalog, write_config(tmp_path, fake).pixiv)
        ids = [catalog.content_id_for(hashlib.sha256(n.encode()).hexdigest())
               for n in ("90000001_p0.png", "90000001_p1.png")]
        documents = text.documents(ids)  # type: ignore[arg-type]
        assert [sorted(documents[i]["tags1"]) for i in ids] == [["rain", "傘", "雨"]] * 2
        catalog.close()
    finally:
        meili.stop()


def test_a_new_name_reaches_the_images(tmp_path: Path, fake: FakePixiv) -> None:
    """A user renamed on Pixiv: the next fetch gives the images that had only the
    user id the new name, on both catalogues; a second full pass changes nothing."""
    config = write_config(tmp_path, fake)
    sqlite = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    fill(sqlite, NAMES)
    mongo = mongo_catalog()
    for catalog in (sqlite, mongo):
        fetch_library(catalog, config.pixiv, now=lambda: 1_800_000_000)
    fake.works["90000004"].user_name = "Bobby"
    for catalog in (sqlite, mongo):
        fetch_library(catalog, config.pixiv, options=FetchOptions(
            max_age_days=1, request_interval_s=0, jitter_s=0), now=lambda: 1_900_000_000)
    assert images(mongo) == images(sqlite)
    assert {row[0]: row[6] for row in images(mongo)}["2002_90000004_p0.png"] == "Bobby"
    assert found(mongo, "user:bobby") == found(sqlite, "user:bobby") == ["90000004"]
    assert mongo.update_user_names() == sqlite.update_user_names() == 0
    sqlite.close()
    mongo.close()


def test_the_shared_rules() -> None:
    from pximse.store.pixiv_fields import best_names, merge_hidden, most_recent_name, work_values
    from pximse.store.records import PixivTag, PixivWork

    assert most_recent_name([("b", 5), ("a", 5), ("c", 4)]) == "a"  # a tie: the smaller
    assert most_recent_name([]) is None
    assert best_names([("1", "old", 1), ("1", "new", 2), ("2", "x", 0)]) == {"1": "new",
                                                                              "2": "x"}
    old = work_values(PixivWork("9", "ok", "app", 1, title="Rain", views=10,
                                tags=[PixivTag("雨", "rain")]))
    hidden = merge_hidden(work_values(PixivWork("9", "private", "ajax", 2, title="Hidden")),
                          old)
    assert (hidden["state"], hidden["via"], hidden["fetched_at"]) == ("private", "ajax", 2)
    assert (hidden["title"], hidden["views"], hidden["tags"]) == ("Hidden", 10, old["tags"])
    fresh = work_values(PixivWork("9", "ok", "app", 3))
    assert merge_hidden(fresh, old) == fresh  # an ok answer replaces everything
