"""The two catalogues a migration copies between, and the vectors and text that
go with them: the one place the copy meets the concrete backends (the data
folder's SQLite catalogue and embedded vectors, a MongoDB database, Milvus,
Meilisearch), so that ``pximse migrate`` only says what to copy where."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace as changed

import numpy as np

from pximse.config import Config
from pximse.store.backends import BackendUnavailable, milvus_location, vectors_folder
from pximse.store.migration.copy import KindReport, copy_catalogue, copy_vectors
from pximse.store.migration.records import Side, Summary
from pximse.store.migration.sqlite_side import SqliteSide
from pximse.store.mongo.database import MongoDatabase, MongoUnavailable
from pximse.store.mongo.migration_side import MongoSide
from pximse.store.sqlite.catalog import SqliteCatalog

__all__ = ["Migration"]

Progress = Callable[[str, int], None]


class Migration:
    """The data folder's catalogue and a MongoDB database, opened from ``config``;
    ``target`` (``mongodb`` or ``embedded``) is where the copy goes."""

    def __init__(self, config: Config, target: str, address: str, database: str) -> None:
        self.config = config
        self.target = target
        try:
            self.mongo = MongoDatabase.connect(address, database)
        except MongoUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        self.sqlite = SqliteCatalog(config.catalog_path,
                                    tag_threshold=config.search.tag_threshold,
                                    memory_index=False)
        mongo_side, sqlite_side = MongoSide(self.mongo), SqliteSide(self.sqlite)
        self.source: Side = sqlite_side if target == "mongodb" else mongo_side
        self.sink: Side = mongo_side if target == "mongodb" else sqlite_side

    def copy_catalogue(self, *, batch: int, replace: bool, progress: Progress
                       ) -> list[KindReport]:
        return copy_catalogue(self.source, self.sink, batch=batch, replace=replace,
                              progress=progress)

    def copy_vectors(self, milvus_uri: str, progress: Progress) -> list[KindReport]:
        """The CLIP vectors: the embedded ones to Milvus (``--to mongodb``, with the
        filter columns copied onto them), or Milvus's into the data folder."""
        from pximse.store.mongo.vectorsync import sync_vector_scalars
        from pximse.store.vectors.embedded import EmbeddedVectorStore, stored_models
        from pximse.store.vectors.milvus import MilvusVectorStore, milvus_models

        config = self.config
        location = milvus_location(changed(config, backend=changed(config.backend,
                                                                     milvus_uri=milvus_uri)))
        token = config.backend.milvus_token
        folder = vectors_folder(config)
        reports = []
        if self.target == "mongodb":
            ids = np.array([cid for cid, in self.sqlite.db.reader().execute(
                "SELECT id FROM content")], dtype=np.int64)
            for model_id, dims in stored_models(folder).items():
                embedded = EmbeddedVectorStore(folder, dims, model_id)
                milvus = MilvusVectorStore(location, dims, model_id, token=token)
                reports.append(copy_vectors(embedded, milvus, ids, progress=progress))
                sync_vector_scalars(self.mongo, milvus, full=True)
        else:
            for model_id, dims, client in milvus_models(location, token=token):
                milvus = MilvusVectorStore(location, dims, model_id, token=token,
                                           client=client)
                embedded = EmbeddedVectorStore(folder, dims, model_id)
                reports.append(copy_vectors(milvus, embedded, milvus.all_ids(),
                                            progress=progress))
        return reports

    def fill_text(self, meili_url: str) -> KindReport:
        """Meilisearch's text index, from the MongoDB catalogue."""
        from pximse.store.meili import MeiliError, MeiliTextStore
        from pximse.store.mongo.catalog import MongoCatalog

        config = self.config
        key = os.environ.get("PXIMSE_MEILI_KEY") or config.backend.meili_key
        try:
            text = MeiliTextStore(meili_url, key, index=config.backend.meili_index)
            catalog = MongoCatalog(self.mongo)
            ids = [doc["_id"] for doc in self.mongo.content.find({}, {"_id": 1})]
            for start in range(0, len(ids), 1000):
                text.put(catalog.text_documents(ids[start:start + 1000]))
            count = text.count()
        except MeiliError as exc:
            raise ValueError(str(exc)) from exc
        return KindReport("meilisearch text", Summary(len(ids), "-"), Summary(count, "-"))

    def close(self) -> None:
        self.sqlite.close()
        self.mongo.close()
