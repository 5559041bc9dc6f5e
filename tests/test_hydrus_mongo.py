"""The Hydrus push on the MongoDB catalogue: the same writes give Hydrus the same tags.

A SQLite catalogue and a MongoDB one (mongomock) take the same scan and model
writes (:class:`mongo_tee.TeeCatalog`); each is pushed to a fake Hydrus of its
own holding the same files, and both must end up with the same tags, URLs and
notes, through the same requests. Then the background push, the sidecars and
"Send to Hydrus" run on the MongoDB catalogue alone.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mongomock
import pytest
from helpers.api_client import api_client
from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_push_loop import push_loop_setup
from helpers.hydrus_target import SERVICE, TEST_KEY, fake_hydrus_fixture  # noqa: F401 (fixture)
from helpers.mongo_tee import TeeCatalog

from pximse.api.app import create_app
from pximse.config import RootConfig
from pximse.integrations.hydrus.bridge import HydrusBridge
from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.client import HydrusClient, RetryPolicy
from pximse.integrations.hydrus.ledger import LEDGER_FILE, Ledger
from pximse.integrations.hydrus.payload import PayloadOptions, read_payloads
from pximse.integrations.hydrus.push import (
    Pusher,
    PushReport,
    all_images,
    images_changed_since,
)
from pximse.integrations.hydrus.sidecars import SIDECAR_SUFFIX, sidecar_text, write_sidecars
from pximse.library.scan import scan_roots
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import SqliteCatalog

MODEL = "wd-vit-tagger-v3"
OTHER = "camie-tagger"
SERVICE_KEY = SERVICE.encode().hex()
NAMES = {
    "pixiv": "12345_67890123_p0.png",
    "yandere": "yande.re 431721 thighhighs long_hair.png",
    "twitter": "someone-1500000000000000000-1.png",
    "plain": "holiday.png",
    "elsewhere": "not_in_hydrus.png",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mongo() -> MongoCatalog:
    return MongoCatalog(MongoDatabase(mongomock.MongoClient(),
                                      f"pximse_test_{uuid.uuid4().hex[:12]}"))


def _fake(tmp_path: Path, files: dict[str, Path]) -> FakeHydrus:
    fake = FakeHydrus(client_files=tmp_path).start()
    fake.add_key(TEST_KEY)
    fake.add_tag_service(SERVICE)
    for name, path in files.items():
        if name != "elsewhere":
            fake.add_file(path.read_bytes())
    return fake


@dataclass
class Side:
    """One catalogue, the Hydrus it pushes to and its ledger."""

    catalog: SqliteCatalog | MongoCatalog
    hydrus: FakeHydrus
    pusher: Pusher

    def push(self) -> PushReport:
        total, batches = all_images(self.catalog)
        report = self.pusher.push(batches, total=total)
        assert report.stopped is None
        return report

    def held(self, shas: list[str]) -> dict[str, tuple[set[str], set[str], dict[str, str]]]:
        found = {}
        for sha in shas:
            entry = self.hydrus.files.get(sha)
            if entry is not None:
                found[sha] = (self.hydrus.current(SERVICE_KEY, sha), set(entry.urls),
                              dict(entry.notes))
        return found


@dataclass
class Pair:
    tee: TeeCatalog
    sqlite: Side
    mongo: Side
    files: dict[str, Path]
    ids: dict[str, int]

    @property
    def shas(self) -> list[str]:
        return sorted(_sha(path) for path in self.files.values())


@pytest.fixture
def pair(tmp_path: Path, make_image) -> Iterator[Pair]:
    library = tmp_path / "library"
    files = {name: make_image(library / file, seed=60 + n)
             for n, (name, file) in enumerate(NAMES.items())}
    sqlite = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    mongo = _mongo()
    tee = TeeCatalog(sqlite, mongo)
    scan_roots(tee, [RootConfig("library", library)],  # type: ignore[arg-type]
               thumbnail_dir=tmp_path / "thumbs")
    ids = {name: sqlite.content_ids([_sha(p)])[_sha(p)] for name, p in files.items()}
    tee.set_model_tags_many([
        (ids[name], MODEL, {"long_hair": 0.9, "1girl": 0.95, "smile": 0.3 + 0.1 * n,
                            "^_^": 0.7, "character:hatsune_miku": 0.8,
                            "rating:general": 0.2, "rating:sensitive": 0.7})
        for n, name in enumerate(NAMES)])
    tee.set_model_tags_many([(ids["plain"], OTHER, {"Long_Hair": 0.6, "sky": 0.55})])
    tee.set_ocr(ids["pixiv"], "rapidocr", "ありがとう")
    tee.set_ocr(ids["plain"], "rapidocr", "  ")
    sides = []
    for name, catalog in (("sqlite", sqlite), ("mongo", mongo)):
        hydrus = _fake(tmp_path / name / "hydrus", files)
        client = HydrusClient(hydrus.url, TEST_KEY, retry=RetryPolicy(3, 0.01, 0.02))
        pusher = Pusher(catalog, client, Ledger(tmp_path / name / LEDGER_FILE),
                        client.tag_service(SERVICE), PayloadOptions())
        sides.append(Side(catalog, hydrus, pusher))
    yield Pair(tee, sides[0], sides[1], files, ids)
    for side in sides:
        side.pusher.client.close()
        side.pusher.ledger.close()
        side.hydrus.stop()
    sqlite.close()
    mongo.close()


def _same_report(first: PushReport, second: PushReport) -> dict[str, object]:
    a, b = first.to_json(), second.to_json()
    for body in (a, b):
        body.pop("seconds")
    assert a == b, f"SQLite {a} != MongoDB {b}"
    return a


def test_same_payloads_and_files(pair: Pair) -> None:
    ids = sorted(pair.ids.values()) + [10_000]  # an unknown id is left out on both
    for options in (PayloadOptions(), PayloadOptions(tag_threshold=0.65, urls=False,
                                                     ocr_note=False, creator=False)):
        expected = read_payloads(pair.sqlite.catalog, ids, options)
        found = read_payloads(pair.mongo.catalog, ids, options)
        assert found == expected and len(found) == len(NAMES)
        assert [p.digest for p in found] == [p.digest for p in expected]
    sqlite, mongo = reads_for(pair.sqlite.catalog), reads_for(pair.mongo.catalog)
    assert sorted(mongo.online_files(ids)) == sorted(sqlite.online_files(ids))
    assert mongo.sha256s(ids) == sqlite.sha256s(ids)
    assert all_images(pair.mongo.catalog)[0] == all_images(pair.sqlite.catalog)[0] == 5
    assert list(all_images(pair.mongo.catalog, batch=2)[1]) == \
        list(all_images(pair.sqlite.catalog, batch=2)[1])


def test_hydrus_ends_up_with_the_same_tags(pair: Pair) -> None:
    first = _same_report(pair.sqlite.push(), pair.mongo.push())
    assert (first["images"], first["updated"], first["not_in_hydrus"]) == (5, 4, 1)
    held = pair.mongo.held(pair.shas)
    assert held == pair.sqlite.held(pair.shas) and len(held) == 4
    tags, urls, notes = held[_sha(pair.files["pixiv"])]
    assert {"long hair", "1girl", "character:hatsune miku", "rating:sensitive",
            f"pximse:{MODEL}"} <= tags and "smile" not in tags
    assert "https://www.pixiv.net/artworks/67890123" in urls
    assert notes == {"ocr": "ありがとう"}
    assert {"thighhighs", "long hair"} <= held[_sha(pair.files["yandere"])][0]
    assert f"pximse:{OTHER}" in held[_sha(pair.files["plain"])][0]
    assert held[_sha(pair.files["plain"])][2] == {}  # blank OCR: no note
    # The same requests with the same bodies (a batch's requests go out side by
    # side, so their order may differ).
    def requests(side: Any) -> list[str]:
        return sorted(json.dumps([path, body], sort_keys=True) for path, body in side.hydrus.bodies)

    assert requests(pair.mongo) == requests(pair.sqlite)

    # Nothing changed: nothing sent but the look-up of the file Hydrus lacks.
    again = _same_report(pair.sqlite.push(), pair.mongo.push())
    assert (again["unchanged"], again["updated"], again["requests"]) == (4, 0, 1)


def test_a_second_push_sends_only_the_change(pair: Pair) -> None:
    _same_report(pair.sqlite.push(), pair.mongo.push())
    marks = [len(side.hydrus.bodies) for side in (pair.sqlite, pair.mongo)]
    pair.tee.set_model_tags_many([(pair.ids["yandere"], MODEL,
                                   {"long_hair": 0.9, "1girl": 0.95, "blue_sky": 0.8,
                                    "rating:sensitive": 0.7})])
    report = _same_report(pair.sqlite.push(), pair.mongo.push())
    assert (report["updated"], report["unchanged"]) == (1, 3)
    assert (report["tags_added"], report["tags_removed"]) == (1, 2)
    sent = [side.hydrus.bodies[mark:] for side, mark in
            zip((pair.sqlite, pair.mongo), marks, strict=True)]
    assert sorted(map(str, sent[0])) == sorted(map(str, sent[1]))
    tag_bodies = [body for path, body in sent[1] if path == "/add_tags/add_tags"]
    yandere = _sha(pair.files["yandere"])
    assert len(tag_bodies) == 1 and tag_bodies[0]["hashes"] == [yandere]
    actions = tag_bodies[0]["service_keys_to_actions_to_tags"][SERVICE_KEY]
    assert sorted(actions["0"]) == ["blue sky"]
    assert sorted(actions["1"]) == ["^_^", "character:hatsune miku"]
    assert pair.mongo.held(pair.shas) == pair.sqlite.held(pair.shas)
    assert "blue sky" in pair.mongo.hydrus.current(SERVICE_KEY, yandere)


def test_sidecars_from_the_mongodb_catalogue(pair: Pair, tmp_path: Path) -> None:
    catalog = pair.mongo.catalog
    ledger = Ledger(tmp_path / "sidecars" / LEDGER_FILE)
    total, batches = all_images(catalog)
    report = write_sidecars(catalog, ledger, batches, PayloadOptions(), total=total)
    assert (report.written, report.errors) == (5, [])
    payloads = {p.sha256: p for p in read_payloads(catalog, sorted(pair.ids.values()),
                                                   PayloadOptions())}
    for path in pair.files.values():
        sidecar = Path(str(path) + SIDECAR_SUFFIX)
        assert sidecar.read_text(encoding="utf-8") == sidecar_text(payloads[_sha(path)].tags)
    again = write_sidecars(catalog, ledger, all_images(catalog)[1], PayloadOptions())
    assert (again.written, again.unchanged) == (0, 5)
    ledger.close()


def test_changes_since_a_generation_never_miss_a_write_under_way(pair: Pair) -> None:
    mongo = pair.mongo.catalog
    assert isinstance(mongo, MongoCatalog)
    mark, _ = images_changed_since(mongo, 0)
    newest, ids = images_changed_since(mongo, mark)
    assert newest == mark and set(ids) <= {pair.ids["plain"]}  # the newest, read again
    first, second = pair.ids["pixiv"], pair.ids["twitter"]
    with mongo.mdb.write():  # a write that has stamped one image and not yet the other
        gen = mongo.mdb.gen
        mongo.mdb.content.update_one({"_id": first}, {"$set": {"gen": gen}})
        midway, seen = images_changed_since(mongo, mark)
        assert first in seen and midway < gen
        mongo.mdb.content.update_one({"_id": second}, {"$set": {"gen": gen}})
    after, seen = images_changed_since(mongo, midway)
    assert {first, second} <= set(seen) and midway <= after < gen + 1


@pytest.fixture
def daemon_setup(tmp_path: Path, make_image, fake_hydrus: FakeHydrus):
    folder = tmp_path / "library"
    pictures = [make_image(folder / f"yande.re {200 + n} cat.png", seed=80 + n)
                for n in range(3)]
    yield from push_loop_setup(tmp_path, pictures, fake_hydrus, lambda _config: _mongo(),
                               extra="[models]\nclip = ''\n\n")


def test_the_background_push_runs_on_mongodb(daemon_setup, fake_hydrus: FakeHydrus) -> None:
    loop, catalog, shas, ids, now = daemon_setup
    assert loop.run_once() == 5
    assert loop.state()["last"]["updated"] == 2
    assert {"long hair", "cat"} <= fake_hydrus.current(SERVICE_KEY, shas[0])
    before = len(fake_hydrus.log)
    for _ in range(3):  # nothing written since: not one request
        assert loop.run_once() == 5
    assert len(fake_hydrus.log) == before
    catalog.set_model_tags_many([(ids[shas[1]], MODEL, {"long_hair": 0.9, "smile": 0.8})])
    loop.run_once()
    assert loop.state()["last"]["updated"] == 1
    assert "smile" in fake_hydrus.current(SERVICE_KEY, shas[1])
    assert fake_hydrus.current(SERVICE_KEY, shas[0]) >= {"long hair"}
    # The file Hydrus lacked is looked for again after an hour, and tagged then.
    fake_hydrus.add_file(sha256=shas[2])
    loop.run_once()
    assert fake_hydrus.current(SERVICE_KEY, shas[2]) == set()
    now[0] = time.time() + 3601  # an hour after the look (made on the real clock)
    loop.run_once()
    assert "long hair" in fake_hydrus.current(SERVICE_KEY, shas[2])


def test_the_daemon_pushes_and_sends_to_hydrus_on_mongodb(daemon_setup,
                                                          fake_hydrus: FakeHydrus) -> None:
    loop, catalog, shas, *_ = daemon_setup
    app = create_app(loop.config, catalog)
    app.state.hydrus_bridge = HydrusBridge(loop.config, retry=RetryPolicy(2, 0.01, 0.01))
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while loop.state()["last"] is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.state()["last"]["updated"] == 2
        with api_client(app) as client:
            assert client.get("/api/hydrus").json()["configured"] is True
            answer = client.post("/api/hydrus/show", json={"q": "cat"})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["sent"], body["total"], body["not_in_hydrus"]) == (2, 3, 1)
            assert sorted(fake_hydrus.pages[-1].hashes) == sorted(shas[:2])
            bad = client.post("/api/hydrus/show", json={"q": "cat ("})
            assert bad.status_code == 400 and bad.json()["message"]
    finally:
        loop.stopping.set()
        thread.join(timeout=30)
        app.state.hydrus_bridge.close()
    assert not thread.is_alive()
