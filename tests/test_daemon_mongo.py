"""The daemon's background work on the MongoDB catalogue (mongomock): watching
the library and running the models, as on the embedded one.

The daemon and the indexer's loop run in this process, on one mongomock
client; a real server runs the same code in two processes (the indexer is a
child process there), which the server suite covers when
``PXIMSE_TEST_MONGO_URL`` is set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from conftest import draw_picture
from helpers.waiting import wait_for
from helpers.wd14_model import NAME, build_model, make_weights

from pximse.config import Config, load_config
from pximse.events import EventBus
from pximse.query.parse import parse_query
from pximse.service import index_child
from pximse.service.runtime import Daemon
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase


@pytest.fixture
def mongo() -> Iterator[MongoCatalog]:
    database = MongoDatabase(mongomock.MongoClient(), f"pximse_{uuid.uuid4().hex[:10]}")
    catalog = MongoCatalog(database)
    yield catalog
    catalog.close()


def write_config(tmp_path: Path, library: Path, models: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n'
        '[backend]\nkind = "mongodb"\nmongodb_uri = "mongodb://127.0.0.1:1"\n'
        f'[watch]\ndebounce_ms = 200\n{models}', encoding="utf-8")
    return load_config(path, tmp_path / "data")


def paths_in(catalog: MongoCatalog, query: str = "") -> set[str]:
    page = catalog.search(parse_query(query), limit=1000)
    return {item.path for item in page.items if item.path}


def test_the_daemon_watches_the_library_on_mongodb(tmp_path: Path, mongo: MongoCatalog) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    draw_picture(1).save(library / "first.png")
    config = write_config(tmp_path, library, '[models]\ntagger = ""\nocr = ""\nclip = ""\n')
    daemon = Daemon(config, mongo, EventBus())
    daemon.start(models=False, watch=True)
    try:
        wait_for(lambda: paths_in(mongo) == {str(library / "first.png")}, what="the start scan")
        wait_for(lambda: daemon.watcher is not None
                 and len(daemon.watcher.modes) == 1, what="watching")
        time.sleep(0.3)  # the OS's watches are in place shortly after the thread starts

        pixiv = library / "pixiv" / "12345_67890_p0.png"
        pixiv.parent.mkdir()
        draw_picture(2).save(pixiv)
        wait_for(lambda: str(pixiv) in paths_in(mongo, "source:pixiv"), what="the new file")
        sha = mongo.summaries([mongo.max_content_id()])[mongo.max_content_id()].id
        before = mongo.max_content_id()

        renamed = library / "sorted" / "renamed.png"
        renamed.parent.mkdir()
        shutil.move(str(pixiv), str(renamed))
        wait_for(lambda: paths_in(mongo) == {str(library / "first.png"), str(renamed)},
                 what="the move")
        assert mongo.max_content_id() == before  # the same image, not a new one
        assert mongo.content_id_for(sha) == before

        (library / "first.png").unlink()
        wait_for(lambda: paths_in(mongo) == {str(renamed)}, what="the removal")
        assert daemon.status()["images"] == 1
    finally:
        daemon.stop()


def test_the_indexers_loop_runs_the_models_on_mongodb(
    tmp_path: Path, mongo: MongoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pximse.library.scan import scan_roots

    library = tmp_path / "lib"
    library.mkdir()
    for seed in range(5):
        draw_picture(seed).save(library / f"{seed}.png")
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    config = write_config(tmp_path, library, f'[models]\ntagger = "wd-vit-tagger-v3"\n'
                          f'tagger_path = "{model}"\nocr = ""\nclip = ""\nbatch_size = 2\n')
    scan_roots(mongo, list(config.roots), thumbnail_dir=config.thumbnail_dir,
               config=config.scan)
    new_after = mongo.max_content_id()
    draw_picture(9).save(library / "new.png")
    scan_roots(mongo, list(config.roots), thumbnail_dir=config.thumbnail_dir,
               config=config.scan)

    # The indexer's process opens the catalogue [backend] names: here, this one.
    from pximse.store import backends

    monkeypatch.setattr(backends, "open_catalog", lambda config, **_: mongo)
    monkeypatch.setattr(mongo, "close", lambda: None)
    said: list[dict[str, Any]] = []
    monkeypatch.setattr(index_child, "emit", lambda **message: said.append(message))
    args = argparse.Namespace(config=str(config.config_path), data_dir=str(config.data_dir),
                              new_after=new_after, keep_alive=0.1, isolate="",
                              quarantine="{}")
    assert index_child.run(args, index_child.Control(False)) == 0

    model_id = said[0]["plan"]["tagger"]["model_id"]
    assert mongo.count_pending("tagger", model_id) == 0
    assert len(mongo.stage_done_ids("tagger", model_id)) == 6
    finished = {doc["_id"]: doc["stages"]["tagger"]["updated_ns"]
                for doc in mongo.mdb.content.find({}, {"stages": 1})}
    assert finished[new_after + 1] == min(finished.values())  # the new image came first
    assert paths_in(mongo, "rating:general OR rating:sensitive OR rating:questionable"
                           " OR rating:explicit") == {str(p) for p in library.glob("*.png")}


MONGO_URL = os.environ.get("PXIMSE_TEST_MONGO_URL", "")


def test_serve_on_a_mongodb_server_watches_and_indexes(tmp_path: Path) -> None:
    """`pximse serve` on a real server: the daemon and its indexer process share
    the database (mongomock cannot be shared between processes)."""
    if not MONGO_URL:
        pytest.skip("PXIMSE_TEST_MONGO_URL is not set: the MongoDB server cases need a "
                    "server (see deploy/compose.yaml)")
    import httpx
    import pymongo
    from helpers.processes import free_port, pximse, write_library

    library = tmp_path / "lib"
    write_library(library, 12)
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    port, name = free_port(), f"pximse_test_{uuid.uuid4().hex[:12]}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
        f'[backend]\nkind = "mongodb"\nmongodb_uri = "{MONGO_URL}"\n'
        f'mongodb_database = "{name}"\n[watch]\ndebounce_ms = 200\n'
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\n'
        'clip = ""\n', encoding="utf-8")
    client: Any = pymongo.MongoClient(MONGO_URL, serverSelectionTimeoutMS=5000)
    with open(tmp_path / "serve.log", "ab") as log:
        serve = subprocess.Popen(
            pximse("serve", "--config", str(config), "--data-dir", str(tmp_path / "data")),
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs")})
    try:
        def tagged() -> int:
            return int(client[name].content.count_documents(
                {"stages.tagger.status": "done"}))

        def status() -> dict[str, Any]:
            try:
                return dict(httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json())
            except httpx.HTTPError:
                return {}

        wait_for(lambda: status().get("images") == 12 and tagged() == 12,
                 timeout=180, what="the scan and the models")
        draw_picture(99).save(library / "new_5000_p0.png")
        wait_for(lambda: status().get("images") == 13 and tagged() == 13,
                 timeout=120, what="the watched file, tagged")
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)  # a clean stop (it ends by the signal, as the shell expects)
    finally:
        if serve.poll() is None:
            serve.kill()
        client.drop_database(name)
        client.close()
