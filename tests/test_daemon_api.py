"""The daemon's routes (the contract the tray and the web page build on):
status with indexing and watching, pause/resume, rescans, and the event stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_client import api_client
from helpers.events_stream import sse_messages
from helpers.waiting import wait_for

from pximse.api.app import create_app
from pximse.store.sqlite.catalog import SqliteCatalog


@pytest.fixture
def served(library: Path, make_image, make_config) -> Iterator[tuple[TestClient, Any]]:
    make_image(library / "a.png", seed=1)
    config = make_config({"main": library}, "[models]\ntagger = \"\"\nocr = \"\"\nclip = \"\"\n")
    catalog = SqliteCatalog(config.catalog_path)
    app = create_app(config, catalog)
    with api_client(app) as client:
        yield client, app
    catalog.close()


def test_status_has_indexing_watching_and_errors(served: tuple[TestClient, Any]) -> None:
    client, app = served
    body = client.get("/api/status").json()
    assert body["indexing"] == {"paused": False, "running": False, "stages": {},
                                "worker": {"deaths": 0, "last_death": None, "in_hand": [],
                                           "suspects": [], "quarantined": 0}}
    assert body["watch"]["enabled"] is True and body["watch"]["roots"] == {}
    assert body["recent_errors"] == []
    app.state.daemon.state.error("/lib/x.png", "unreadable", "permission denied")
    app.state.daemon.state.set_root_mode("main", "polling")
    body = client.get("/api/status").json()
    assert body["recent_errors"][0]["path"] == "/lib/x.png"
    assert body["recent_errors"][0]["reason"] == "unreadable" and body["recent_errors"][0]["time"]
    assert body["watch"]["roots"] == {"main": "polling"}


def test_pause_and_resume(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    assert client.post("/api/indexing/pause").json() == {"paused": True}
    assert client.get("/api/status").json()["indexing"]["paused"] is True
    assert client.post("/api/indexing/resume").json() == {"paused": False}
    assert client.get("/api/status").json()["indexing"]["paused"] is False


def test_scan_runs_in_the_background_once_at_a_time(served: tuple[TestClient, Any]) -> None:
    client, app = served
    response = client.post("/api/scan")
    assert response.status_code == 202 and response.json() == {"started": True}
    wait_for(lambda: (client.get("/api/status").json()["scan"]["last"] or {}).get("files"))
    assert client.get("/api/status").json()["images"] == 1
    with app.state.daemon._scan_lock:  # a scan in progress
        busy = client.post("/api/scan")
    assert busy.status_code == 202
    assert busy.json() == {"started": False, "reason": "already running"}


def test_event_stream_sends_status_then_each_event(served: tuple[TestClient, Any]) -> None:
    client, app = served
    daemon = app.state.daemon
    got: list[dict[str, Any]] = []

    def publish_when_connected() -> None:
        wait_for(lambda: got)
        daemon.state.files_changed(2, 1, 0, ["abc"])
        daemon.state.error("/lib/bad.png", "not-image")

    threading.Thread(target=publish_when_connected, daemon=True).start()
    with client.stream("GET", "/api/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in sse_messages(response.iter_lines()):
            got.append(message)
            if message["event"] == "error":
                daemon.begin_stop()  # ends the stream
    first, files, error = got[0], got[1], got[2]
    assert first["event"] == "status" and first["data"]["kind"] == "status"
    assert first["data"]["data"]["images"] == 0 and "indexing" in first["data"]["data"]
    assert int(files["id"]) > int(first["id"])
    assert files["data"]["data"] == {"added": 2, "removed": 1, "moved": 0, "ids": ["abc"]}
    assert error["data"]["data"]["path"] == "/lib/bad.png"


def test_event_stream_takes_the_page_cookie_and_never_a_token_in_the_url(
    library: Path, make_config
) -> None:
    config = make_config({"main": library}, '[server]\ntoken = "s3cret-token-value"\n')
    catalog = SqliteCatalog(config.catalog_path)
    app = create_app(config, catalog)
    with api_client(app) as client:
        assert client.get("/api/events").status_code == 401
        assert client.post("/api/indexing/pause").status_code == 401
        with client.stream("GET", "/api/events", params={"token": "s3cret-token-value"}) as r:
            assert r.status_code == 401
        signed = client.post("/api/session", json={"token": "s3cret-token-value"})
        assert signed.status_code == 200 and "httponly" in signed.headers["set-cookie"].lower()
        app.state.daemon.begin_stop()  # the stream ends after its first message
        with client.stream("GET", "/api/events") as r:  # the cookie the client keeps
            assert r.status_code == 200
            assert next(sse_messages(r.iter_lines()))["event"] == "status"
    catalog.close()
