"""The catalogue as the rest of PxIMSE sees it, and the backends ``[backend]`` picks.

:class:`Catalog` is the surface the scanner, the model pipeline, the search
planner, the API and the CLI use; :class:`~pximse.store.sqlite.catalog.SqliteCatalog`
(embedded) and :class:`~pximse.store.mongo.catalog.MongoCatalog` (MongoDB) both
provide it with the same meaning (the differential tests hold them to it).
:func:`open_catalog`, :func:`open_vector_store` and :func:`open_text_store` make
the configured ones; credentials come from the file or the environment
(``PXIMSE_MONGODB_URI``, ``PXIMSE_MILVUS_TOKEN``, ``PXIMSE_MEILI_KEY``) and are
never logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pximse.query.ast import Query
from pximse.store.records import ImageDetail, ImageSummary, SearchPage

if TYPE_CHECKING:
    from pximse.config import Config
    from pximse.store.scan_records import ScanBatch
    from pximse.store.text import TextStore
    from pximse.store.vectors import VectorStore


class Catalog(Protocol):
    """What every catalogue backend offers (see SqliteCatalog for each call's meaning)."""

    tag_threshold: float

    # scanning
    def ensure_root(self, name: str, path: str) -> int: ...
    def set_root_online(self, root_id: int, online: bool, why: str | None = None) -> None: ...
    def finish_root_scan(self, root_id: int,
                         signatures: Mapping[str, tuple[int, int, int]] | None = None,
                         vanished: Iterable[str] = (),
                         identity: tuple[int, str] | None = None) -> None: ...
    def root_identity(self, root_id: int) -> tuple[int, str] | None: ...
    def root_sample(self, root_id: int, limit: int = 16) -> list[tuple[str, int, int]]: ...
    def folder_signatures(self, root_id: int) -> dict[str, tuple[int, int, int]]: ...
    def folder_stats(self, folders: Iterable[str]) -> dict[str, int]: ...
    def offline_files(self, root_id: int) -> dict[str, int]: ...
    def file_ids(self, paths: Iterable[str]) -> dict[str, int]: ...
    def content_ids(self, sha256s: Iterable[str | None]) -> dict[str, int]: ...
    def apply_scan_batch(self, batch: ScanBatch) -> None: ...

    # model results
    def set_tags(self, content_id: int, origin: str, kind: int,
                 tags: Mapping[str, float]) -> None: ...
    def set_model_tags_many(self, results: Iterable[tuple[int, str, Mapping[str, float]]]
                            ) -> None: ...
    def set_ocr_many(self, results: Iterable[tuple[int, str, Any]]) -> None: ...
    def record_stages(self, results: Iterable[tuple[int, str, str, str | None]]) -> None: ...
    def forget_stage(self, stage: str, content_ids: Iterable[int]) -> None: ...
    def stage_done_ids(self, stage: str, model_id: str) -> np.ndarray: ...
    def pending_for_stage(self, stage: str, model_id: str, limit: int = 256, *,
                          after: int = 0) -> list[tuple[int, str]]: ...
    def count_pending(self, stage: str, model_id: str) -> int: ...
    def max_content_id(self) -> int: ...
    def pending_in_class(self, stage: str, model_id: str, kind: str, *, after: int,
                         new_after: int, limit: int) -> list[tuple[int, str]]: ...

    # what the watcher compares the disk with
    def catalogued_stats(self, root_id: int, files: Iterable[str],
                         folders: Iterable[str]) -> dict[str, tuple[int, int]]: ...
    def gone_files(self, paths: Iterable[str]
                   ) -> list[tuple[str, int, int, int, str | None]]: ...

    # reads and searches
    def content_id_for(self, sha256: str) -> int | None: ...
    def content_id_of(self, prefix: str, key: str = "similar") -> int: ...
    def phashes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def tag_counts(self, keys: Sequence[str]) -> dict[str, int]: ...
    def tags_with_prefix(self, prefix: str, limit: int = 20) -> list[tuple[str, int]]: ...
    def image(self, sha256: str) -> ImageDetail | None: ...
    def file_for(self, sha256: str) -> tuple[str, str] | None: ...
    def image_sizes(self, content_ids: Sequence[int]) -> dict[int, tuple[int, int]]: ...
    def work_page_counts(self, keys: Sequence[str]) -> dict[str, int]: ...
    def recorded_files(self, sha256: str) -> list[tuple[str, str, int, int, str]]: ...
    def status(self, *, errors: int = 20) -> dict[str, Any]: ...
    def root_paths(self) -> list[tuple[str, str]]: ...
    def search(self, query: Query, *, limit: int = 50, offset: int = 0, seed: int = 0,
               timeout_ms: int = 5000, count: bool = True) -> SearchPage: ...
    def search_near(self, query: Query, query_vector: np.ndarray, vectors: Any, *,
                    limit: int = 50, offset: int = 0, seed: int = 0,
                    timeout_ms: int = 5000) -> tuple[SearchPage, list[float]]: ...
    def filtered_ids(self, query: Query, timeout_ms: int = 5000) -> np.ndarray: ...
    def summaries(self, ids: Sequence[int]) -> dict[int, ImageSummary]: ...
    def resolve_duplicates(self, query: Query,
                           similar: Callable[[int], np.ndarray] | None = None) -> Query: ...
    def close(self) -> None: ...


class BackendUnavailable(RuntimeError):
    """A configured server that cannot be used; the message says which and why."""


def mongodb_uri(config: Config) -> str:
    return os.environ.get("PXIMSE_MONGODB_URI") or config.backend.mongodb_uri


def open_catalog(config: Config, *, memory_index: bool = True) -> Catalog:
    """The configured catalogue: SQLite in the data folder, or MongoDB."""
    from pximse.store.name_vocabulary import use_tag_vocabulary

    use_tag_vocabulary(config)  # Danbooru's file names are read with the tagger's tag list
    search = config.search
    if config.backend.kind == "mongodb":
        from pximse.store.mongo.catalog import MongoCatalog
        from pximse.store.mongo.database import MongoDatabase, MongoUnavailable

        try:
            database = MongoDatabase.connect(mongodb_uri(config),
                                             config.backend.mongodb_database)
        except MongoUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        return MongoCatalog(database, tag_threshold=search.tag_threshold,
                            dupe_distance=search.dupe_distance,
                            text_store=open_text_store(config))
    from pximse.store.sqlite.catalog import SqliteCatalog

    return SqliteCatalog(config.catalog_path, tag_threshold=search.tag_threshold,
                         dupe_distance=search.dupe_distance, memory_index=memory_index)


def milvus_location(config: Config) -> str:
    """``[backend] milvus_uri``, a milvus-lite file made absolute in the data folder."""
    uri = config.backend.milvus_uri
    if uri and "://" not in uri:
        path = Path(uri).expanduser()
        return str(path if path.is_absolute() else config.data_dir / path)
    return uri


def vectors_folder(config: Config) -> Path:
    """Where the embedded vector stores live: ``vectors/`` in the data folder."""
    return config.data_dir / "vectors"


def open_vector_store(config: Config, model_id: str, dimensions: int) -> VectorStore:
    """A model's vector store: on Milvus when ``[backend] milvus_uri`` is set, else the
    embedded one in the data folder."""
    if not config.backend.milvus_uri:
        from pximse.store.vectors.embedded import EmbeddedVectorStore

        return EmbeddedVectorStore(vectors_folder(config), dimensions, model_id)
    from pximse.store.vectors.milvus import MilvusVectorStore

    token = os.environ.get("PXIMSE_MILVUS_TOKEN") or config.backend.milvus_token
    return MilvusVectorStore(milvus_location(config), dimensions, model_id, token=token)


def open_text_store(config: Config) -> TextStore | None:
    """The Meilisearch text index when ``[backend] meili_url`` is set, else None."""
    if not config.backend.meili_url:
        return None
    from pximse.store.meili import MeiliError, MeiliTextStore

    key = os.environ.get("PXIMSE_MEILI_KEY") or config.backend.meili_key
    try:
        return MeiliTextStore(config.backend.meili_url, key, index=config.backend.meili_index)
    except MeiliError as exc:
        raise BackendUnavailable(str(exc)) from exc
