"""The daemon's background Pixiv fetch ([pixiv] background = true) against a fake
Pixiv over real HTTP: rounds fetch and publish events, a refused token is one
warning, and the loop stops with the daemon; each on SQLite and on MongoDB
(mongomock)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.api_client import api_client
from helpers.pixiv_fake import FakePixiv, FakeWork
from helpers.waiting import wait_for

from pximse.config import Config, load_config
from pximse.events import EventBus
from pximse.sources import pixiv_background
from pximse.sources.pixiv_background import PixivFetchLoop
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

TOKEN = "background-refresh-token-0123"


@pytest.fixture
def fake() -> Iterator[FakePixiv]:
    server = FakePixiv(TOKEN).start()
    server.add(FakeWork(90000001, bookmarks=77))
    server.add(FakeWork(90000002, state="deleted"))
    yield server
    server.stop()


Make = Callable[..., tuple[Config, Any]]


@pytest.fixture(params=["sqlite", "mongomock"])
def make(request: pytest.FixtureRequest) -> Make:
    """A configuration and a catalogue of two Pixiv works, on each catalogue backend."""
    if request.param == "mongomock":
        pytest.importorskip("mongomock", reason="mongomock is not installed (the test extra)")

    def build(tmp_path: Path, fake: FakePixiv, token: str = TOKEN) -> tuple[Config, Any]:
        path = tmp_path / "config.toml"
        path.write_text(
            f"[pixiv]\nrefresh_token = '{token}'\napp_api_url = '{fake.url}'\n"
            f"ajax_url = '{fake.url}'\nrequest_interval_s = 0.0\njitter_s = 0.0\n"
            "background = true\nbackground_interval_minutes = 600\n", encoding="utf-8")
        config = load_config(path, tmp_path / "data", env={})
        catalog = (SqliteCatalog(config.catalog_path) if request.param == "sqlite"
                   else mongo_catalog())
        root = catalog.ensure_root("lib", "/lib")
        names = ["90000001_p0.png", "90000002_p0.png"]
        shas = [hashlib.sha256(name.encode()).hexdigest() for name in names]
        catalog.apply_scan_batch(ScanBatch(
            root, new_content=[NewContent(s, 10, "png", 10, 10, 1, False, None, False, 10**18)
                               for s in shas],
            files=[FileRecord(f"/lib/{n}", 10, 10**18, "ok", s)
                   for n, s in zip(names, shas, strict=True)]))
        return config, catalog

    return build


def mongo_catalog() -> Any:
    import mongomock

    from pximse.store.mongo.catalog import MongoCatalog
    from pximse.store.mongo.database import MongoDatabase

    return MongoCatalog(MongoDatabase(mongomock.MongoClient(),
                                      f"pximse_test_{uuid.uuid4().hex[:12]}"))


def test_a_round_fetches_and_publishes(tmp_path: Path, fake: FakePixiv, make: Make) -> None:
    config, catalog = make(tmp_path, fake)
    events = EventBus()
    subscription = events.subscribe(10)
    loop = PixivFetchLoop(config, catalog, threading.Event(), events=events)
    report = loop.round()
    assert report is not None and report.states == {"ok": 1, "deleted": 1, "private": 0}
    event = subscription.get(timeout=5)
    assert event is not None and event.kind == "pixiv"
    assert event.data["report"]["ok"] == 1 and event.data["error"] is None
    assert loop.state()["rounds"] == 1 and loop.state()["last"]["deleted"] == 1
    # The next round has nothing to do: both works are within the max age.
    assert loop.round().selected == 0  # type: ignore[union-attr]
    assert len(fake.detail_requests()) == 2
    catalog.close()


def test_a_refused_token_is_one_warning(tmp_path: Path, fake: FakePixiv, make: Make,
                                        caplog: pytest.LogCaptureFixture) -> None:
    config, catalog = make(tmp_path, fake, token="refused-token-xyz")
    loop = PixivFetchLoop(config, catalog, threading.Event())
    with caplog.at_level(logging.WARNING, logger="pximse.sources.pixiv_background"):
        loop.round()
        loop.round()
    warnings = [r for r in caplog.records if r.name == "pximse.sources.pixiv_background"]
    assert len(warnings) == 1 and "refused the refresh token" in warnings[0].getMessage()
    assert "refused-token-xyz" not in caplog.text
    assert "refused" in loop.state()["error"]
    catalog.close()


def test_the_daemon_runs_it_and_stops_it(tmp_path: Path, fake: FakePixiv, make: Make,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pximse.service.runtime import Daemon

    monkeypatch.setattr(pixiv_background, "FIRST_ROUND_AFTER_S", 0.05)
    config, catalog = make(tmp_path, fake)
    daemon = Daemon(config, catalog, EventBus())
    daemon.start(scan=False, models=False, watch=False)
    try:
        assert wait_for(lambda: daemon.loops.get("pixiv fetch") is not None
                        and daemon.loops["pixiv fetch"].state()["rounds"] >= 1)
        work = catalog.pixiv_work("90000001")
        assert work is not None and work.bookmarks == 77
    finally:
        daemon.stop()
    threads = [t for t in threading.enumerate() if t.name == "pixiv fetch"]
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    catalog.close()


def test_off_by_default(tmp_path: Path, fake: FakePixiv, make: Make) -> None:
    from dataclasses import replace

    from pximse.service.runtime import Daemon

    config, catalog = make(tmp_path, fake)
    config = replace(config, pixiv=replace(config.pixiv, background=False))
    daemon = Daemon(config, catalog, EventBus())
    daemon.start(scan=False, models=False, watch=False)
    daemon.stop()
    assert daemon.loops.get("pixiv fetch") is None
    catalog.close()


def test_the_api_reports_and_fetches_on_request(tmp_path: Path, fake: FakePixiv,
                                                make: Make) -> None:

    from pximse.api.app import create_app

    config, catalog = make(tmp_path, fake)
    app = create_app(config, catalog)
    with api_client(app) as client:
        before = client.get("/api/pixiv").json()
        assert (before["works"], before["unfetched"], before["via"]) == (2, 2, "app")
        assert before["refresh_token"] == "set" and TOKEN not in json.dumps(before)
        assert client.post("/api/pixiv/fetch").status_code == 202
        daemon = app.state.daemon
        assert wait_for(lambda: daemon.loops["pixiv fetch"].state()["rounds"] >= 1)
        after = client.get("/api/pixiv").json()
        assert (after["ok"], after["deleted"], after["unfetched"]) == (1, 1, 0)
        assert after["fetch_state"]["last"]["ok"] == 1

        # One round at a time.
        release = threading.Event()

        def slow_fetch(*args: object, **kwargs: object) -> None:
            release.wait(10)

        daemon.loops["pixiv fetch"]._fetch = slow_fetch
        assert client.post("/api/pixiv/fetch").status_code == 202
        assert wait_for(lambda: daemon.loops["pixiv fetch"].state()["running"])
        busy = client.post("/api/pixiv/fetch")
        assert busy.status_code == 409 and "already running" in busy.json()["message"]
        release.set()
        assert wait_for(lambda: not daemon.loops["pixiv fetch"].state()["running"])
    catalog.close()


def test_a_round_waits_its_turn_while_another_fetch_runs(tmp_path: Path, fake: FakePixiv,
                                                         make: Make) -> None:
    from pximse.sources.fetch_lock import FetchLock

    config, catalog = make(tmp_path, fake)
    loop = PixivFetchLoop(config, catalog, threading.Event())
    with FetchLock(config.data_dir):
        assert loop.round() is None
    assert "already running" in loop.state()["error"] and fake.detail_requests() == []
    assert loop.round() is not None and len(fake.detail_requests()) == 2
    catalog.close()
