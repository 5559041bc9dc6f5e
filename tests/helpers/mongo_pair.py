"""A SQLite catalogue and a MongoDB one (mongomock, or a server) holding the same library."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import mongomock
import pytest

from helpers.mongo_tee import TeeCatalog
from helpers.query_library import (
    THRESHOLD,
    Library,
    build_library,
)
from helpers.query_reference import Reference
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import SqliteCatalog

MONGO_URL = os.environ.get("PXIMSE_TEST_MONGO_URL", "")

def mongo_client(kind: str):  # type: ignore[no-untyped-def]
    if kind == "mongomock":
        return mongomock.MongoClient()
    if not MONGO_URL:
        pytest.skip("PXIMSE_TEST_MONGO_URL is not set: the MongoDB server cases need a "
                    "server (see deploy/compose.yaml)")
    import pymongo

    return pymongo.MongoClient(MONGO_URL, serverSelectionTimeoutMS=5000)


@dataclass(repr=False)
class Pair:
    sqlite: SqliteCatalog
    mongo: MongoCatalog
    tee: TeeCatalog
    library: Library
    path: Path

    def reference(self) -> Reference:
        return Reference.load(self.path, THRESHOLD)


def open_pair(tmp_path: Path, kind: str, n: int, seed: int) -> Pair:
    """The two catalogues; word searches go to the embedded index on SQLite and to
    (the fake) Meilisearch on MongoDB, so the table's m;/mt; cases compare the two."""
    from helpers.meili_fake import FakeMeili
    from pximse.store.meili import MeiliTextStore

    client = mongo_client(kind)
    name = f"pximse_test_{uuid.uuid4().hex[:12]}"
    meili = FakeMeili().start()
    mongo = MongoCatalog(MongoDatabase(client, name), tag_threshold=THRESHOLD,
                         text_store=MeiliTextStore(meili.url, interval_ms=1))
    mongo.meili = meili  # type: ignore[attr-defined]
    path = tmp_path / "catalog.sqlite3"
    sqlite = SqliteCatalog(path, tag_threshold=THRESHOLD, memory_index=False)
    tee = TeeCatalog(sqlite, mongo)
    library = build_library(tee, n=n, seed=seed)  # type: ignore[arg-type]
    return Pair(sqlite, mongo, tee, library, path)


def close_pair(pair: Pair) -> None:
    pair.sqlite.close()
    pair.mongo.mdb.client.drop_database(pair.mongo.mdb.name)
    pair.mongo.close()
    pair.mongo.meili.stop()  # type: ignore[attr-defined]
