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
from pximse.store.records import (
    ContentFile,
    ContentSource,
    ContentTag,
    ImageDetail,
    ImageSummary,
    OcrText,
    SearchPage,
    TagTally,
)

if TYPE_CHECKING:
    from pximse.config import Config
    from pximse.store.saved_vectors import SavedVectors
    from pximse.store.scan_records import ScanBatch
    from pximse.store.text import TextStore
    from pximse.store.vectors import VectorStore


PRIORITY_CLASSES = ("new", "backfill", "reindex")
"""The worklists of :meth:`Catalog.pending_in_class`, in the order a model stage
takes them: images new since the daemon started, those never done, those done
by another model."""


class SchemaError(RuntimeError):
    """The catalogue was written by a newer PxIMSE."""


class ContentLookup(Protocol):
    """Whether the catalogue knows a content hash, asked from the scan's worker
    processes (picklable)."""

    def knows(self, sha256: str) -> bool: ...
    def close(self) -> None: ...


class QueryIndex(Protocol):
    """An in-memory index a catalogue answers queries from."""

    def warm(self) -> None:
        """Load it now rather than on the first search."""


class Catalog(Protocol):
    """What every catalogue backend offers (see SqliteCatalog for each call's meaning)."""

    tag_threshold: float
    copies_vector_scalars: bool
    """Whether :meth:`sync_vector_scalars` copies filter columns onto vector
    stores (MongoDB's catalogue, for Milvus), so a model stage calls it after
    saving its vectors."""

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

    # what the integrations (XMP sidecars, the Hydrus push) and the search page
    # read of many contents at once; "listed" contents have files: online ones,
    # and offline ones with ``include_offline`` (store.sqlite.content_reads)
    def identity(self) -> str:
        """Which catalogue this is: state kept for another one starts over."""
    def settled_generation(self) -> int:
        """The write generation up to which every write has finished: every
        content a later write touches (files, tags, OCR text) gets a higher one."""
    def changed_since(self, generation: int, *, include_offline: bool = True
                      ) -> tuple[int, list[int]]:
        """The generation up to which every write has now been seen (the
        watermark to go on from), and the listed contents written after
        ``generation``, ascending."""
    def count_images(self, *, include_offline: bool = True) -> int:
        """How many contents are listed."""
    def content_ids_after(self, after: int = 0, limit: int | None = None, *,
                          include_offline: bool = True) -> list[int]:
        """The next ``limit`` (or all) listed content ids above ``after``, ascending."""
    def content_files(self, content_ids: Sequence[int], *, online_only: bool = True
                      ) -> list[ContentFile]:
        """The files of these contents (the online ones only by default), by file id
        within each chunk of ids."""
    def content_sources(self, content_ids: Sequence[int]) -> dict[int, ContentSource]:
        """Where each of these contents came from (unknown ids are left out)."""
    def content_tags(self, content_ids: Sequence[int]) -> dict[int, list[ContentTag]]:
        """Each content's tags, one per origin (a content without tags is left out)."""
    def ocr_texts(self, content_ids: Sequence[int], *, line_scores: bool = False
                  ) -> dict[int, OcrText]:
        """The OCR text of each content OCR ran on, with its lines' confidences
        when ``line_scores``."""
    def tag_tally(self, sha256s: Sequence[str], threshold: float) -> TagTally:
        """The tags and artists of these searchable images, counted (a tagger's tag
        only at or above ``threshold``)."""
    def tags_containing(self, key: str, limit: int = 10) -> list[tuple[str, int]]:
        """Used tags whose key holds ``key`` anywhere, most used first."""
    def user_names_matching(self, word: str, limit: int = 10) -> list[tuple[str, int]]:
        """Artists' names that start with ``word`` (any case), then that hold it,
        with how many searchable images each has, most first."""

    # what a backend may offer the scan, the daemon and the model stages
    def content_lookup(self) -> ContentLookup | None:
        """A hash lookup the scan's workers can ask, so that a new file is read
        once (hashed and decoded together); None: hash all, then decode the new."""
    def query_index(self) -> QueryIndex | None:
        """The in-memory query index to warm at start-up, where there is one."""
    def sync_vector_scalars(self, store: VectorStore, *, full: bool = False) -> int:
        """Copy the filter columns that changed onto ``store``'s vectors; how many
        were updated (0 where the catalogue or the store keeps none)."""
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


def open_saved_vectors(config: Config, model_id: str, dimensions: int) -> SavedVectors:
    """A model's saved vectors as searches read them (see :mod:`pximse.store.saved_vectors`):
    on Milvus when ``[backend] milvus_uri`` is set, else the embedded store."""
    from pximse.store.saved_vectors import EmbeddedSavedVectors, MilvusSavedVectors

    if not config.backend.milvus_uri:
        return EmbeddedSavedVectors(vectors_folder(config), dimensions, model_id)
    return MilvusSavedVectors(lambda: open_vector_store(config, model_id, dimensions), model_id)


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
