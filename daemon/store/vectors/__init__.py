"""Vector stores for image embeddings (CLIP), keyed by catalogue content id.

A store holds one model's vectors: L2-normalised float vectors compared by inner
product. ``allowed`` in :meth:`VectorStore.search` is the sorted array of content
ids the query language's filter let through (what ``MemoryIndex.run`` returns);
the store applies it inside the search, so a selective filter still yields a full
page of the best matching images rather than the few survivors of a truncated
candidate list.

The embedded implementation (:class:`EmbeddedVectorStore`, float16 vectors in
faiss inverted lists, the filter checked in place as a bitmap, exact over narrow
filters) is imported on first use, so that importing this package does not need
the ``vectors`` extra. It also takes ``allowed`` as an :class:`IdFilter` bitmap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from pximse.store.vectors.embedded import EmbeddedVectorStore, stored_models

__all__ = ["EmbeddedVectorStore", "SimilarPairs", "VectorStore", "VectorStoreError",
           "stored_models"]


class VectorStoreError(Exception):
    """A store that cannot be opened or used as asked (wrong dimensions, bad files)."""


@runtime_checkable
class SimilarPairs(Protocol):
    """A store that finds every pair of alike vectors in one pass (the embedded
    one); ``pximse dupes`` compares CLIP embeddings only on such a store."""

    def similar_pairs(self, min_score: float, k: int = 8,
                      progress: Callable[[int, int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]: ...


class VectorStore(Protocol):
    """One model's vectors, searchable with a filter applied inside the search."""

    model_id: str
    dimensions: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace the vectors of ``ids`` (int64), one row each."""

    def remove(self, ids: np.ndarray) -> int:
        """Forget ``ids``; returns how many were present."""

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ids among ``ids`` that are stored, and their vectors (float32)."""

    def count(self) -> int:
        """How many ids are stored."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores ranked ``offset .. offset + k`` by similarity to ``query``,
        best first, among ``allowed`` (sorted content ids) when given."""

    def save(self) -> None:
        """Write the store to its folder; a crash midway leaves the last save readable."""


def __getattr__(name: str) -> Any:
    if name in ("EmbeddedVectorStore", "stored_models"):
        from pximse.store.vectors import embedded

        return getattr(embedded, name)
    raise AttributeError(name)
