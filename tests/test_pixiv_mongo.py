"""The Pixiv fetch with the catalogue on MongoDB (mongomock): the background loop,
the daemon's loop and ``POST /api/pixiv/fetch`` against the fake Pixiv, as
test_pixiv_background does on SQLite; what they store must be what SQLite
stores for the same answers."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from pixiv_fake import FakePixiv, FakeWork

from pximse.config import Config, load_config
from pximse.events import EventBus
from pximse.sources import pixiv_background
from pximse.sources.pixiv_background import PixivFetchLoop
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

TOKEN = "mongo-background-refresh-token-0123"
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


def fill(catalog: Any) -> None:
    root = catalog.ensure_root("lib", "/lib")
    shas = [hashlib.sha256(name.encode()).hexdigest() for name in NAMES]
    catalog.apply_scan_batch(ScanBatch(
        root, new_content=[NewContent(s, 10, "png", 10, 10, 1, False, None, False, 10**18)
                           for s in shas],
        files=[FileRecord(f"/lib/{n}", 10, 10**18, "ok", s)
               for n, s in zip(NAMES, shas, strict=True)]))


def mongo_catalog() -> MongoCatalog:
    catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(),
                                         f"pximse_test_{uuid.uuid4().hex[:12]}"))
    fill(catalog)
    return catalog


def make(tmp_path: Path, fake: FakePixiv, token: str = TOKEN) -> tuple[Config, MongoCatalog]:
    return write_config(tmp_path, fake, token), mongo_catalog()


def wait_for(condition, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        done.wait(0.02)
    return False


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


def test_a_round_fetches_and_publishes(tmp_path: Path, fake: FakePixiv) -> None:
    config, catalog = make(tmp_path, fake)
    events = EventBus()
    subscription = events.subscribe(10)
    loop = PixivFetchLoop(config, catalog, threading.Event(), events=events)
    report = loop.round()
    assert loop.state()["error"] is None, loop.state()["error"]
    assert report is not None and report.states == {"ok": 2, "deleted": 1, "private": 1}
    assert report.selected == 4 and report.errors == 0
    event = subscription.get(timeout=5)
    assert event is not None and event.kind == "pixiv"
    assert event.data["report"]["ok"] == 2 and event.data["error"] is None
    work = catalog.pixiv_work("90000001")
    assert work is not None and work.bookmarks == 77 and work.state == "ok"
    assert [t.name for t in work.tags] == ["雨", "傘"]
    assert catalog.pixiv_work("90000002").state == "deleted"  # type: ignore[union-attr]
    summary = catalog.pixiv_summary(fetched_after=0)
    assert (summary["ok"], summary["deleted"], summary["private"], summary["unfetched"]) == \
        (2, 1, 1, 0)
    # The next round has nothing to do: every work is within the max age.
    again = loop.round()
    assert again is not None and again.selected == 0 and again.fresh == 2
    assert len(fake.detail_requests()) == 4  # one request per work, not per page
    catalog.close()


def test_the_images_show_what_was_fetched(tmp_path: Path, fake: FakePixiv) -> None:
    """The same round on SQLite and on MongoDB leaves the images alike: the
    work's numbers, title, state and tags on each page, and the user's most
    recent name on images whose file name gave only the id."""
    from pximse.sources.pixiv import fetch_library

    config = write_config(tmp_path, fake)
    sqlite = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    fill(sqlite)
    mongo = mongo_catalog()
    for catalog in (sqlite, mongo):
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


def test_a_refused_token_is_one_warning(tmp_path: Path, fake: FakePixiv,
                                        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    config, catalog = make(tmp_path, fake, token="refused-token-xyz")
    loop = PixivFetchLoop(config, catalog, threading.Event())
    with caplog.at_level(logging.WARNING, logger="pximse.sources.pixiv_background"):
        loop.round()
        loop.round()
    warnings = [r for r in caplog.records if r.name == "pximse.sources.pixiv_background"]
    assert len(warnings) == 1 and "refused the refresh token" in warnings[0].getMessage()
    assert "refused-token-xyz" not in caplog.text
    catalog.close()


def test_failures_are_kept_apart(tmp_path: Path, fake: FakePixiv) -> None:
    from pximse.sources.pixiv import FetchOptions, fetch_library

    config, catalog = make(tmp_path, fake)
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


def test_the_daemon_runs_it_and_stops_it(tmp_path: Path, fake: FakePixiv,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pximse.service.runtime import Daemon

    monkeypatch.setattr(pixiv_background, "FIRST_ROUND_AFTER_S", 0.05)
    config, catalog = make(tmp_path, fake)
    daemon = Daemon(config, catalog, EventBus())
    daemon.start(scan=False, models=False, watch=False)
    try:
        if not wait_for(lambda: daemon.pixiv_fetch is not None, timeout=5):
            pytest.skip("this daemon does not start its background work on MongoDB")
        assert wait_for(lambda: daemon.pixiv_fetch.state()["rounds"] >= 1)
        assert daemon.pixiv_fetch.state()["error"] is None
        work = catalog.pixiv_work("90000001")
        assert work is not None and work.bookmarks == 77
    finally:
        daemon.stop()
    threads = [t for t in threading.enumerate() if t.name == "pixiv fetch"]
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    catalog.close()


def test_the_api_reports_and_fetches_on_request(tmp_path: Path, fake: FakePixiv) -> None:
    import json

    from fastapi.testclient import TestClient

    from pximse.api.app import create_app

    config, catalog = make(tmp_path, fake)
    app = create_app(config, catalog)
    with TestClient(app) as client:
        before = client.get("/api/pixiv")
        assert before.status_code == 200, before.text
        body = before.json()
        assert (body["works"], body["unfetched"], body["via"]) == (4, 4, "app")
        assert body["refresh_token"] == "set" and TOKEN not in json.dumps(body)
        assert client.post("/api/pixiv/fetch").status_code == 202
        daemon = app.state.daemon
        assert wait_for(lambda: daemon.pixiv_fetch.state()["rounds"] >= 1)
        assert daemon.pixiv_fetch.state()["error"] is None
        after = client.get("/api/pixiv").json()
        assert (after["ok"], after["deleted"], after["private"], after["unfetched"]) == \
            (2, 1, 1, 0)
        assert after["fetch_state"]["last"]["ok"] == 2

        release = threading.Event()

        def slow_fetch(*args: object, **kwargs: object) -> None:
            release.wait(10)

        daemon.pixiv_fetch._fetch = slow_fetch
        assert client.post("/api/pixiv/fetch").status_code == 202
        assert wait_for(lambda: daemon.pixiv_fetch.state()["running"])
        busy = client.post("/api/pixiv/fetch")
        assert busy.status_code == 409 and "already running" in busy.json()["message"]
        release.set()
        assert wait_for(lambda: not daemon.pixiv_fetch.state()["running"])
    catalog.close()


def test_fetched_tags_reach_the_text_store(tmp_path: Path, fake: FakePixiv) -> None:
    """With Meilisearch beside MongoDB, a work's Pixiv tags and their translations
    are copied to its images' text documents as they are stored."""
    from meili_fake import FakeMeili

    from pximse.sources.pixiv import fetch_library
    from pximse.store.meili import MeiliTextStore

    meili = FakeMeili(master_key="key").start()
    try:
        text = MeiliTextStore(meili.url, "key", index="catalog", interval_ms=5)
        catalog = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "t"), text_store=text)
        fill(catalog)
        fetch_library(catalog, write_config(tmp_path, fake).pixiv)
        ids = [catalog.content_id_for(hashlib.sha256(n.encode()).hexdigest())
               for n in ("90000001_p0.png", "90000001_p1.png")]
        documents = text.documents(ids)  # type: ignore[arg-type]
        assert [sorted(documents[i]["tags1"]) for i in ids] == [["rain", "傘", "雨"]] * 2
        catalog.close()
    finally:
        meili.stop()
