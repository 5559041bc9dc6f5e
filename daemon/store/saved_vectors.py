"""A model's saved vectors as searches reach them, on either vector backend.

Searches read vectors that another process may be writing (the daemon's
indexer, ``pximse models run``). The embedded store is a folder whose
``manifest.json`` names the generation last saved: it is opened read-only on
first use and reopened whenever the manifest names a newer one (opening never
deletes files, so a concurrent save is safe). A Milvus collection is always
current: it is opened once. :func:`pximse.store.backends.open_saved_vectors`
makes the configured one; callers never ask which.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pximse.store.vectors import VectorStore, VectorStoreError

log = logging.getLogger(__name__)

__all__ = ["EmbeddedSavedVectors", "MilvusSavedVectors", "SavedVectors", "VectorsUnavailable"]


class VectorsUnavailable(Exception):
    """No vectors to search with: none saved yet, or they cannot be used. The
    message says what to do."""


class SavedVectors(Protocol):
    model_id: str

    def check(self) -> None:
        """Raise :class:`VectorsUnavailable` when no vectors are saved, as cheaply
        as the backend allows (the embedded one looks for its manifest only)."""

    def latest(self) -> VectorStore:
        """The store as last saved; :class:`VectorsUnavailable` when there is none
        or it cannot be read."""


def _read_generation(manifest: Path) -> int | None:
    try:
        return int(json.loads(manifest.read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class EmbeddedSavedVectors:
    """The embedded store in ``folder``, reopened when a newer generation was saved."""

    def __init__(self, folder: Path, dimensions: int, model_id: str) -> None:
        self.folder = folder
        self.dimensions = dimensions
        self.model_id = model_id
        self._lock = threading.Lock()
        self._store: VectorStore | None = None
        self._generation: int | None = None

    @property
    def _manifest(self) -> Path:
        from pximse.store.vectors.embedded import store_folder

        return store_folder(self.folder, self.model_id) / "manifest.json"

    def _none_saved(self) -> VectorsUnavailable:
        return VectorsUnavailable(
            f"no CLIP vectors are saved yet for {self.model_id}: run `pximse models "
            "run` (or keep `pximse serve` running) to embed the library")

    def check(self) -> None:
        if not self._manifest.is_file():
            raise self._none_saved()

    def latest(self) -> VectorStore:
        from pximse.store.vectors.embedded import EmbeddedVectorStore

        with self._lock:
            manifest = self._manifest
            generation = _read_generation(manifest)
            if generation is None:
                raise self._none_saved()
            if self._store is None or generation != self._generation:
                try:
                    self._store = EmbeddedVectorStore(self.folder, self.dimensions,
                                                      self.model_id)
                except VectorStoreError as exc:
                    raise VectorsUnavailable(
                        f"the CLIP vectors cannot be read ({exc}); run `pximse models run` "
                        "again") from exc
                self._generation = generation
                log.info("vector store %s opened at generation %d", manifest.parent, generation)
            return self._store


class MilvusSavedVectors:
    """A model's collection on Milvus, opened once (by ``open_store``)."""

    def __init__(self, open_store: Callable[[], VectorStore], model_id: str) -> None:
        self._open_store = open_store
        self.model_id = model_id
        self._lock = threading.Lock()
        self._store: VectorStore | None = None

    def check(self) -> None:
        self.latest()

    def latest(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                try:
                    self._store = self._open_store()
                except VectorStoreError as exc:
                    raise VectorsUnavailable(f"the Milvus vectors cannot be used: {exc}"
                                             ) from exc
            if not self._store.count():
                raise VectorsUnavailable(
                    f"Milvus holds no CLIP vectors for {self.model_id} yet: run `pximse "
                    "models run`, or `pximse migrate --milvus-uri` to copy the embedded ones")
            return self._store
