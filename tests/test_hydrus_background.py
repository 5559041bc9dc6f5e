"""The daemon's continuous push: catches up from the catalogue's write generation,
retries a stopped or busy Hydrus quietly, and stops with the daemon."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from helpers.api_client import api_client
from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_push_loop import MODEL, push_loop_setup
from helpers.hydrus_target import SERVICE, TEST_KEY, fake_hydrus_fixture  # noqa: F401 (fixture)

from pximse.integrations.hydrus.background import MISCONFIGURED_RETRY_S
from pximse.store.sqlite.catalog import SqliteCatalog


@pytest.fixture
def setup(tmp_path: Path, make_image, fake_hydrus: FakeHydrus):
    folder = tmp_path / "library"
    pictures = [make_image(folder / f"{n}.png", seed=40 + n) for n in range(3)]
    yield from push_loop_setup(tmp_path, pictures, fake_hydrus,
                               lambda config: SqliteCatalog(config.catalog_path))


def test_catches_up_from_the_write_generation(setup, fake_hydrus: FakeHydrus) -> None:
    loop, catalog, shas, ids, now = setup
    service = SERVICE.encode().hex()
    assert loop.run_once() == 5
    assert loop.state()["last"]["updated"] == 2
    assert "long hair" in fake_hydrus.current(service, shas[0])
    assert [e.data["updated"] for e in loop.events.recent("hydrus_push")] == [2]
    before = len(fake_hydrus.log)
    assert loop.run_once() == 5  # nothing written since: not one request
    assert len(fake_hydrus.log) == before
    catalog.set_model_tags_many([(ids[shas[1]], MODEL, {"long_hair": 0.9, "smile": 0.8})])
    loop.run_once()
    assert loop.state()["last"]["updated"] == 1
    assert "smile" in fake_hydrus.current(service, shas[1])
    # The file Hydrus lacked is looked for again after an hour, and tagged once it is there.
    fake_hydrus.add_file(sha256=shas[2])
    loop.run_once()
    assert fake_hydrus.current(service, shas[2]) == set()
    now[0] = time.time() + 3601  # an hour after the look (made on the real clock)
    loop.run_once()
    assert "long hair" in fake_hydrus.current(service, shas[2])


def test_a_busy_or_stopped_hydrus_is_retried_quietly(setup, fake_hydrus: FakeHydrus,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    loop, *_ = setup
    fake_hydrus.busy(10_000)
    with caplog.at_level(logging.WARNING, logger="pximse.integrations.hydrus"):
        delays = [loop.run_once() for _ in range(4)]
    assert delays == [5, 10, 20, 40]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "busy" in warnings[0].getMessage()
    assert loop.state()["error"]["error"] == "hydrus_unavailable"
    fake_hydrus.busy(0)
    with caplog.at_level(logging.WARNING, logger="pximse.integrations.hydrus"):
        assert loop.run_once() == 5
    assert "answers again" in caplog.records[-1].getMessage()
    assert loop.state()["error"] is None and loop.state()["last"]["updated"] == 2


def test_a_missing_tag_service_waits_for_the_user(setup, fake_hydrus: FakeHydrus) -> None:
    loop, *_ = setup
    del fake_hydrus.services[SERVICE.encode().hex()]
    assert loop.run_once() == MISCONFIGURED_RETRY_S
    assert "no local tag service" in loop.state()["error"]["message"]


def test_runs_until_the_daemon_stops(setup, fake_hydrus: FakeHydrus) -> None:
    loop, *_ = setup
    thread = threading.Thread(target=loop.run)
    thread.start()
    for _ in range(500):
        if loop.state()["last"] is not None:
            break
        threading.Event().wait(0.01)
    loop.stopping.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert loop.state()["last"]["updated"] == 2


def test_the_daemon_starts_it_when_push_is_on(setup, fake_hydrus: FakeHydrus) -> None:

    from pximse.api.app import create_app

    loop, catalog, *_ = setup
    app = create_app(loop.config, catalog)
    daemon = app.state.daemon
    daemon.start(scan=False, models=False, watch=False)
    try:
        for _ in range(1000):
            pusher = daemon.loops.get("hydrus push")
            if pusher is not None and pusher.state()["last"]:
                break
            threading.Event().wait(0.01)
        with api_client(app) as client:
            body = client.get("/api/hydrus").json()
        assert body["push"] is True and body["push_state"]["last"]["updated"] == 2
    finally:
        daemon.stop()
