"""Moving a catalogue between backends: SQLite -> MongoDB -> SQLite, vectors to
Milvus and back, resumed after an interruption, checked by counts and checksums.

MongoDB is mongomock (a real server with ``PXIMSE_TEST_MONGO_URL``), Milvus is
milvus-lite; the catalogue is the query-engine tests' library (with Pixiv
works, OCR lines, model stages, offline and gone images).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import mongomock
import numpy as np
import pytest
from click.testing import CliRunner
from helpers.mongo_pair import mongo_client
from helpers.query_library import build_library
from helpers.query_table import TABLE, table_params

from pximse.cli import main
from pximse.query.parse import parse_query
from pximse.store.migration.copy import MigrationError, copy_catalogue, verify
from pximse.store.migration.records import KINDS
from pximse.store.migration.sqlite_side import SqliteSide
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.migration_side import MongoSide
from pximse.store.sqlite.catalog import SqliteCatalog

pytestmark = pytest.mark.slow  # every test here takes seconds


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteCatalog]:
    catalog = SqliteCatalog(tmp_path_factory.mktemp("source") / "catalog.sqlite3",
                            memory_index=False)
    build_library(catalog, n=160, seed=3)
    ids = [cid for cid, in catalog.db.reader().execute("SELECT id FROM content LIMIT 12")]
    catalog.set_ocr(ids[0], "rapidocr:x", [("ありがとう", [[0, 0], [9, 0], [9, 4], [0, 4]], 0.93),
                                           ("THANKS", None, None)])
    catalog.record_stages([(cid, "tagger", "wd14:test", None if cid % 3 else "boom")
                           for cid in ids])
    catalog.finish_root_scan(1, {"/lib/main": (5, 3, 42)})
    catalog.record_pixiv_error("5000001", "connection reset", 1_700_000_000)
    yield catalog
    catalog.close()


@pytest.fixture(params=["mongomock", "server"])
def mongo(request: pytest.FixtureRequest) -> Iterator[MongoDatabase]:
    client = mongo_client(request.param)
    database = MongoDatabase(client, f"pximse_migrate_{uuid.uuid4().hex[:10]}")
    yield database
    client.drop_database(database.name)


def test_round_trip_keeps_everything(library: SqliteCatalog, mongo: MongoDatabase,
                                     tmp_path: Path) -> None:
    reports = copy_catalogue(SqliteSide(library), MongoSide(mongo), batch=37)
    assert [r.kind for r in reports] == list(KINDS)
    assert all(r.ok for r in reports), [r.to_json() for r in reports if not r.ok]
    counts = {r.kind: r.source.count for r in reports}
    assert counts["content"] > 150 and counts["pixiv_work"] > 0 and counts["pixiv_error"] == 1
    assert counts["folder_state"] == 1

    # The copy answers every query as the original does (word searches from the
    # Meilisearch index that `pximse migrate --meili-url` fills).
    from helpers.meili_fake import FakeMeili

    from pximse.store.meili import MeiliTextStore

    meili = FakeMeili().start()
    copied = MongoCatalog(mongo, text_store=MeiliTextStore(meili.url, interval_ms=1))
    copied.text_store.put(copied.text_documents(  # type: ignore[union-attr]
        doc["_id"] for doc in mongo.content.find({}, {"_id": 1})))
    for text, sort, _, _ in TABLE:
        query = parse_query(text.format(**_table_params_for(library)), sort)
        want = library.search(query, limit=1000, seed=9)
        got = copied.search(query, limit=1000, seed=9)
        assert (got.total, got.items) == (want.total, want.items), text
    sha = library.db.reader().execute("SELECT sha256 FROM content WHERE id = 1").fetchone()[0]
    assert copied.image(sha) == library.image(sha)
    meili.stop()

    # And back into a new data folder: the same checksums as the original.
    back = SqliteCatalog(tmp_path / "back.sqlite3", memory_index=False)
    assert all(r.ok for r in copy_catalogue(MongoSide(mongo), SqliteSide(back), batch=50))
    again = verify(SqliteSide(library), SqliteSide(back))
    assert all(r.ok for r in again), [r.to_json() for r in again if not r.ok]
    for text, sort, _, _ in TABLE[:12]:
        query = parse_query(text.format(**_table_params_for(library)), sort)
        assert back.search(query, limit=500).items == library.search(query, limit=500).items
    assert back.image(sha) == library.image(sha)
    # The copy takes new writes with fresh ids.
    assert back.ensure_root("new", "/new") > max(r[0] for r in back.db.reader().execute(
        "SELECT id FROM root WHERE name != 'new'"))
    back.close()


def _table_params_for(catalog: SqliteCatalog) -> dict[str, str]:
    from helpers.query_reference import Reference

    return table_params(Reference.load(catalog.db.path))


def test_an_interrupted_copy_resumes(library: SqliteCatalog, tmp_path: Path) -> None:
    mongo = MongoDatabase(mongomock.MongoClient(), "resume")
    seen: list[tuple[str, int]] = []
    with pytest.raises(MigrationError, match="stopped after 6 batches"):
        copy_catalogue(SqliteSide(library), MongoSide(mongo), batch=40, stop_after=6,
                       progress=lambda kind, n: seen.append((kind, n)))
    assert MongoSide(mongo).checkpoint("file") is not None
    first_run = len(seen)
    seen.clear()
    reports = copy_catalogue(SqliteSide(library), MongoSide(mongo), batch=40,
                             progress=lambda kind, n: seen.append((kind, n)))
    assert all(r.ok for r in reports)
    # The second run went on from the checkpoint instead of starting over.
    files_before = [n for kind, n in seen if kind == "file"]
    total_batches = sum((r.source.count + 39) // 40 for r in reports)
    assert first_run + len(seen) <= total_batches + 1
    assert files_before and files_before[-1] < reports[2].source.count
    assert all(MongoSide(mongo).checkpoint(kind) is None for kind in KINDS)


def test_a_full_target_is_refused_unless_replaced(library: SqliteCatalog) -> None:
    mongo = MongoDatabase(mongomock.MongoClient(), "full")
    copy_catalogue(SqliteSide(library), MongoSide(mongo))
    with pytest.raises(MigrationError, match="already holds a catalogue.*--replace"):
        copy_catalogue(SqliteSide(library), MongoSide(mongo))
    mongo.content.update_one({"_id": 1}, {"$set": {"width": 1}})
    assert not all(r.ok for r in verify(SqliteSide(library), MongoSide(mongo)))
    assert all(r.ok for r in copy_catalogue(SqliteSide(library), MongoSide(mongo),
                                            replace=True))


def test_vectors_to_milvus_lite_and_back(library: SqliteCatalog, tmp_path: Path) -> None:
    pytest.importorskip("milvus_lite")
    from pximse.store.migration.copy import copy_vectors, vector_checksum
    from pximse.store.vectors.embedded import EmbeddedVectorStore
    from pximse.store.vectors.milvus import MilvusVectorStore

    ids = np.array([cid for cid, in library.db.reader().execute("SELECT id FROM content")])
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ids), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedded = EmbeddedVectorStore(tmp_path / "vectors", 16, "clip:test")
    embedded.add(ids[:-5], vectors[:-5])
    embedded.save()
    milvus = MilvusVectorStore(str(tmp_path / "milvus.db"), 16, "clip:test")
    there = copy_vectors(embedded, milvus, ids)
    assert there.ok and there.source.count == len(ids) - 5
    back_store = EmbeddedVectorStore(tmp_path / "back", 16, "clip:test")
    back = copy_vectors(milvus, back_store, milvus.all_ids())
    assert back.ok
    assert vector_checksum(back_store, ids) == vector_checksum(embedded, ids)


def test_cli_round_trip(library: SqliteCatalog, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``pximse migrate`` both ways on mongomock (the server stands in through the
    connect call), with vectors through milvus-lite, the report as JSON."""
    pytest.importorskip("milvus_lite")
    from pximse.store.vectors.embedded import EmbeddedVectorStore

    client = mongomock.MongoClient()
    connected: list[str] = []

    def connect(uri: str, name: str, **_: object) -> MongoDatabase:
        connected.append(uri)
        return MongoDatabase(client, name)

    monkeypatch.setattr(MongoDatabase, "connect", staticmethod(connect))
    source = tmp_path / "data"
    source.mkdir()
    (source / "catalog.sqlite3").write_bytes(Path(library.db.path).read_bytes())
    ids = np.array([cid for cid, in library.db.reader().execute("SELECT id FROM content")])
    store = EmbeddedVectorStore(source / "vectors", 8, "clip:cli")
    store.add(ids, np.eye(8, dtype=np.float32)[ids % 8])
    store.save()
    config = tmp_path / "config.toml"
    config.write_text("[backend]\nmongodb_database = \"cli\"\n")
    runner = CliRunner()
    uri = "mongodb://pximse:s3cret@db.example:27017"
    result = runner.invoke(main, ["migrate", "--config", str(config), "--data-dir",
                                  str(source), "--to", "mongodb", "--uri", uri, "--json",
                                  "--milvus-uri", "milvus.db"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and {k["kind"] for k in report["kinds"]} >= {*KINDS,
                                                                     "vectors clip:cli"}
    assert "s3cret" not in result.output and connected == [uri]
    again = runner.invoke(main, ["migrate", "--config", str(config), "--data-dir",
                                 str(source), "--to", "mongodb", "--uri", uri])
    assert again.exit_code != 0 and "already holds a catalogue" in again.output
    back = tmp_path / "back"
    result = runner.invoke(main, ["migrate", "--config", str(config), "--data-dir", str(back),
                                  "--to", "embedded", "--uri", uri,
                                  "--milvus-uri", str(source / "milvus.db")])
    assert result.exit_code == 0, result.output
    assert "DIFFERENT" not in result.output and "vectors clip:cli" in result.output
    copied = EmbeddedVectorStore(back / "vectors", 8, "clip:cli")
    assert copied.count() == len(ids)

