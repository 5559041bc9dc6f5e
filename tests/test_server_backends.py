"""The server backends end to end: ``[backend] kind = "mongodb"`` picked from the
configuration, real image files indexed into MongoDB by ``pximse index``, then
searched through the CLI and the HTTP API; the daemon on MongoDB scans and
serves and says what it leaves out.

MongoDB is mongomock standing in at the connection (``MongoDatabase.connect``),
or the server at ``PXIMSE_TEST_MONGO_URL``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mongomock
import pytest
from click.testing import CliRunner
from helpers.api_client import api_client
from helpers.mongo_pair import MONGO_URL
from PIL import Image

from pximse.api.app import create_app
from pximse.cli import main
from pximse.config import load_config
from pximse.store.backends import BackendUnavailable, open_catalog
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase


@pytest.fixture(params=["mongomock", "server"])
def mongo_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[str]:
    """A database name; connections to it reach mongomock or the test server."""
    name = f"pximse_e2e_{uuid.uuid4().hex[:10]}"
    if request.param == "server":
        if not MONGO_URL:
            pytest.skip("PXIMSE_TEST_MONGO_URL is not set: the MongoDB server cases need a "
                        "server (see deploy/compose.yaml)")
        monkeypatch.setenv("PXIMSE_MONGODB_URI", MONGO_URL)
        yield name
        import pymongo

        pymongo.MongoClient(MONGO_URL).drop_database(name)
        return
    client = mongomock.MongoClient()
    monkeypatch.setattr(MongoDatabase, "connect",
                        staticmethod(lambda uri, db, **_: MongoDatabase(client, db)))
    yield name


def make_library(tmp_path: Path, database: str) -> Path:
    pixiv = tmp_path / "lib" / "pixiv" / "Alice_1001"
    pixiv.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (100 + 10 * i, 80), (40 * i, 90, 200)).save(
            pixiv / f"1001_{7000 + i // 2}_p{i % 2}.png")
    Image.new("RGB", (640, 480), (10, 10, 10)).save(tmp_path / "lib" / "wallpaper.jpg")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[backend]\nkind = "mongodb"\nmongodb_database = "{database}"\n\n'
        f'[[library.roots]]\nname = "lib"\npath = "{(tmp_path / "lib").as_posix()}"\n')
    return config


def run(config: Path, tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [args[0], "--config", str(config), "--data-dir",
                                       str(tmp_path / "data"), *args[1:]])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_index_and_search_on_mongodb(mongo_backend: str, tmp_path: Path) -> None:
    config = make_library(tmp_path, mongo_backend)
    report = json.loads(run(config, tmp_path, "index", "--no-models", "--json"))
    assert report["new_images"] == 5
    found = json.loads(run(config, tmp_path, "search", "source:pixiv", "width:>=110",
                           "order:width", "--json"))
    assert [item["width"] for item in found] == [130, 120, 110]
    assert {item["user_name"] for item in found} == {"Alice"}
    status = json.loads(run(config, tmp_path, "status", "--json"))
    assert status["images"] == 5 and status["roots"][0]["files"] == 5
    assert not (tmp_path / "data" / "catalog.sqlite3").exists()  # nothing went to SQLite

    # A file removed and the library indexed again: the catalogue follows.
    (tmp_path / "lib" / "wallpaper.jpg").unlink()
    report = json.loads(run(config, tmp_path, "index", "--no-models", "--json"))
    assert report["removed"] == 1
    assert json.loads(run(config, tmp_path, "search", "format:jpeg", "--json")) == []


def test_the_api_serves_the_mongodb_catalogue(mongo_backend: str, tmp_path: Path) -> None:
    config_path = make_library(tmp_path, mongo_backend)
    run(config_path, tmp_path, "index", "--no-models")
    config = load_config(config_path, tmp_path / "data", create=False, env={})
    catalog = open_catalog(config)
    assert isinstance(catalog, MongoCatalog)
    with api_client(create_app(config, catalog)) as client:
        body = client.get("/api/search", params={"q": "pixiv:7000", "sort": "page"}).json()
        assert body["total"] == 2
        assert [item["work_pages"] for item in body["items"]] == [2, 2]
        image = client.get(f"/api/images/{body['items'][0]['id']}").json()
        assert image["paths"][0]["root"] == "lib"
        assert client.get("/api/search", params={"q": "width:>>3"}).status_code == 400


def test_the_daemon_on_mongodb_scans_and_watches(
        mongo_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config_path = make_library(tmp_path, mongo_backend)
    config = load_config(config_path, tmp_path / "data", create=False, env={})
    app = create_app(config)
    daemon = app.state.daemon
    with caplog.at_level(logging.WARNING):
        daemon.start(scan=False, models=False, watch=True)
    try:
        body = daemon.scan("test")
        assert body["new_images"] == 5, body
        assert app.state.catalog.status()["images"] == 5
        deadline = time.monotonic() + 60
        while daemon.watcher is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert daemon.watcher is not None  # watching, as on the embedded catalogue
        assert "MongoDB" not in caplog.text  # nothing left out, nothing to warn about
    finally:
        daemon.stop()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text('[backend]\nkind = "mongodb"\n'
                           'mongodb_uri = "mongodb://pximse:s3cret@127.0.0.1:9/?'
                           'serverSelectionTimeoutMS=300"\n')
    config = load_config(config_path, tmp_path / "data", create=False, env={})
    with pytest.raises(BackendUnavailable, match=r"cannot reach MongoDB at "
                       r"mongodb://pximse:\*\*\*@127\.0\.0\.1:9") as info:
        open_catalog(config)
    assert "s3cret" not in str(info.value)
    result = CliRunner().invoke(main, ["status", "--config", str(config_path), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code != 0 and "cannot reach MongoDB" in result.output
    assert "s3cret" not in result.output
