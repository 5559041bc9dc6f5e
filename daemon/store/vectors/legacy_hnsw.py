"""Reading a vector store saved in format 1 (a faiss HNSW graph over float32
vectors plus an id per graph row), so that it can be converted on open.

Format 1 kept removed vectors as dead rows (id -1) because HNSW cannot delete;
only the live rows are carried over.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

FORMAT = 1


class Format1Store:
    """The live vectors of a format-1 store, read from its files."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self._index: Any = faiss.read_index(str(folder / manifest["index"]))
        row_ids = np.load(folder / manifest["ids"]).astype(np.int64, copy=False)
        if self._index.ntotal != len(row_ids):
            raise ValueError("the index and its id list disagree")
        self.dimensions = int(self._index.d)
        self._live = np.flatnonzero(row_ids >= 0)
        self.ids = row_ids[self._live]
        if self._index.ntotal:
            graph: Any = faiss.downcast_index(self._index)
            storage: Any = faiss.downcast_index(graph.storage)
            codes = faiss.rev_swig_ptr(storage.codes.data(),
                                       self._index.ntotal * storage.code_size)
            # a view into the graph's memory, valid while self._index lives
            self._matrix = np.asarray(codes).view(np.float32).reshape(-1, self.dimensions)
        else:
            self._matrix = np.empty((0, self.dimensions), np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def blocks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, float32 vectors)`` of the live rows, at most ``size`` at a time."""
        for start in range(0, len(self._live), size):
            rows = self._live[start:start + size]
            yield self.ids[start:start + size], np.ascontiguousarray(self._matrix[rows])

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` live vectors drawn at random (float32 rows)."""
        picked = np.sort(rng.choice(len(self._live), min(count, len(self._live)),
                                    replace=False))
        return np.ascontiguousarray(self._matrix[self._live[picked]])
