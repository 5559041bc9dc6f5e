"""The embedded vector store: a faiss HNSW graph over float32 vectors, one folder per model.

Why faiss and not usearch: both build and search HNSW at similar speed (see
``bench/vector_search.py``), but only faiss lets Python apply a filter *inside*
the graph search (``SearchParametersHNSW.sel`` with an ``IDSelectorBitmap``);
usearch's Python ``Index.search`` takes no predicate, so a filter there means
post-filtering a truncated candidate list — the original PxIMSE's recall problem.

How a query runs:

- the filter's ids become graph rows; when few remain (``exact_below``, or
  up to ``exact_share`` of the store), the answer is an exact float32 matrix
  product over just those rows (a 1%-selective filter on a million images costs
  a few milliseconds and is always exact);
- otherwise HNSW search with the rows as a bitmap selector, so the graph walk
  only collects allowed rows; when it finds fewer than asked, exact search
  answers instead;
- the walk's width (``efSearch``) grows with the store, since a bigger graph
  needs a wider walk for the same recall.

Vectors are kept once, as float32 (the codes of faiss's flat storage, viewed in
place as a numpy matrix for the exact path): 2 KiB per 512-d vector plus about
256 bytes of graph links at ``M=32``. float16 storage (faiss ``QT_fp16``) would
halve that, but converting float16 rows back costs more than the exact product
itself (measured: ~6x slower on 10k rows), and the exact path is what keeps
selective filters exact and fast.

HNSW cannot delete, so an upsert appends a new row and marks the old one dead;
dead rows are still walked through but never returned. ``save`` rebuilds the
graph when more than a quarter of the rows are dead.

Files: ``<folder>/<model slug>-<hash>/`` holds ``manifest.json`` and the
generation it names (``index-<n>.faiss``, ``ids-<n>.npy``). ``save`` writes a new
generation, fsyncs it, then atomically replaces the manifest: a crash at any point
leaves the previous generation named and intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pximse.store.vectors import VectorStoreError

FORMAT = 1
EXACT_BELOW = 50_000
"""Filters letting through at most this many vectors are answered exactly.

Measured on 1M clustered 512-d vectors (2 cores): exact search costs ~0.3 ms per
thousand allowed vectors, while HNSW with a selector slows down as the filter
tightens (the walk visits ~k/selectivity nodes); they cross near 5%."""
EXPANSION_SEARCH = 256
"""HNSW ``efSearch`` floor. A bigger graph needs a wider walk for the same
recall (bench/vector_search.py, 1M clustered 512-d vectors: recall@100 0.93 at
ef 256, 0.94 at 512, 0.95 at 1024), so the walk widens with the store: one
candidate per ``_EF_PER_VECTORS`` vectors, between this floor and ``_EF_MAX``."""
_EF_PER_VECTORS = 900
_EF_MAX = 2048
EXACT_SHARE = 0.10
"""...and so are filters letting through at most this share of the store.
faiss's HNSW walk with a selector loses recall on scattered filters in a big
graph (recall@100 0.79 at 2%, 0.86 at 5-10%, 0.88 at 30% on the 1M bench), and
over-fetching the unfiltered graph did no better (0.77 at 10%): the deep end
of a long HNSW result list is as approximate as the walk. Exact search is
bound by gathering the allowed rows from memory (~2 ms per thousand scattered
rows here), so the share stops where that reaches a few hundred milliseconds;
broader filters take the walk's recall."""
_CHUNK = 8192
"""Rows gathered at a time by the exact path: bounds memory, and a gather that
stays in cache is faster (1M store, 100k scattered rows: 221 ms in blocks of
8,192 against 388 ms in blocks of 65,536 on this machine)."""
_REBUILD_DEAD_SHARE = 0.25


def store_folder(folder: Path, model_id: str) -> Path:
    """The folder of ``model_id``'s store: readable, and distinct per model id."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:60] or "model"
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:8]
    return Path(folder) / f"{slug}-{digest}"


def stored_models(folder: Path) -> dict[str, int]:
    """Model ids with a saved store under ``folder``, and their dimensions."""
    found: dict[str, int] = {}
    for manifest in sorted(Path(folder).glob("*/manifest.json")):
        try:
            data = json.loads(manifest.read_text())
            found[str(data["model_id"])] = int(data["dimensions"])
        except (OSError, ValueError, KeyError):
            continue
    return found


class EmbeddedVectorStore:
    """One model's vectors in ``store_folder(folder, model_id)``, opened if saved before.

    ``connectivity`` (HNSW ``M``) and ``expansion_add`` (``efConstruction``) apply
    to a new store; a saved one keeps the values it was built with. Thread-safe:
    calls are serialised by one lock.
    """

    def __init__(self, folder: Path, dimensions: int, model_id: str, *,
                 connectivity: int = 32, expansion_add: int = 64,
                 expansion_search: int | None = None,
                 exact_below: int = EXACT_BELOW,
                 exact_share: float = EXACT_SHARE) -> None:
        if dimensions <= 0:
            raise VectorStoreError(f"vector dimensions must be positive, not {dimensions}")
        self.model_id = model_id
        self.dimensions = dimensions
        self.path = store_folder(folder, model_id)
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.exact_below = exact_below
        self.exact_share = exact_share
        self._lock = threading.RLock()
        self._generation = 0
        self._dirty = False
        self._index = self._new_index()
        self._row_ids = np.empty(0, np.int64)  # content id per graph row, -1 when dead
        self._id_rows = np.empty(0, np.int64)  # graph row per content id, -1 when absent
        self._live = 0
        self._matrix: np.ndarray | None = None  # float32 view of the index's codes
        self._alive_bits: np.ndarray | None = None
        if (self.path / "manifest.json").exists():
            self._load()

    # -- writes ------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = self._check_ids(ids)
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimensions:
            raise VectorStoreError(
                f"the store for model {self.model_id!r} holds {self.dimensions}-d vectors; "
                f"got an array of shape {vectors.shape}")
        if len(vectors) != len(ids):
            raise VectorStoreError(f"{len(ids)} ids for {len(vectors)} vectors")
        if not len(ids):
            return
        # a batch may name an id twice: the last vector wins
        last = len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]
        ids, vectors = ids[last], vectors[last]
        with self._lock:
            self._forget(ids)
            first = self._index.ntotal
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            rows = np.arange(first, first + len(ids), dtype=np.int64)
            self._row_ids = np.concatenate([self._row_ids, ids])
            self._grow_id_rows(int(ids.max()) + 1)
            self._id_rows[ids] = rows
            self._live += len(ids)
            self._matrix = None
            self._alive_bits = None
            self._dirty = True

    def remove(self, ids: np.ndarray) -> int:
        ids = self._check_ids(ids)
        with self._lock:
            removed = self._forget(np.unique(ids))
            if removed:
                self._alive_bits = None
                self._dirty = True
            return removed

    def _forget(self, ids: np.ndarray) -> int:
        known = ids[ids < len(self._id_rows)]
        rows = self._id_rows[known]
        rows = rows[rows >= 0]
        self._row_ids[rows] = -1
        self._id_rows[known] = -1
        self._live -= len(rows)
        if len(rows):
            self._alive_bits = None
        return len(rows)

    # -- reads -------------------------------------------------------------------

    def count(self) -> int:
        return self._live

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = self._check_ids(ids)
        with self._lock:
            rows = self._rows_of(ids)
            present = rows >= 0
            return ids[present], self._vectors()[rows[present]]

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if len(query) != self.dimensions:
            raise VectorStoreError(
                f"the store for model {self.model_id!r} holds {self.dimensions}-d vectors; "
                f"the query has {len(query)}")
        stop = offset + k
        with self._lock:
            if k <= 0 or self._live == 0:
                return _empty()
            if allowed is None:
                rows = None
                candidates = self._live
            else:
                rows = self._rows_of(self._check_ids(allowed))
                rows = np.sort(rows[rows >= 0])
                candidates = len(rows)
                if not candidates:
                    return _empty()
            exact = candidates <= self.exact_below or (
                rows is not None and candidates <= self.exact_share * self._live)
            if not exact and stop < candidates:
                found = self._search_graph(query, stop, rows)
                if found is not None:
                    return found[0][offset:], found[1][offset:]
            return self._search_exact(query, stop, rows, offset)

    def similar_pairs(self, min_score: float, k: int = 8,
                      progress: Callable[[int, int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Every pair of stored vectors at least ``min_score`` alike, among each
        vector's ``k`` nearest: ``(pairs, scores)``, pairs as ``[[a, b], ...]``
        content ids with ``a < b``. Exact below ``exact_below`` vectors, the
        graph (batched) above; ``progress(done, total)`` after each batch."""
        with self._lock:
            matrix = self._vectors()
            live_rows = np.flatnonzero(self._row_ids >= 0)
            row_ids = self._row_ids
            exact = len(live_rows) <= self.exact_below
            firsts: list[np.ndarray] = []
            seconds: list[np.ndarray] = []
            found_scores: list[np.ndarray] = []
            stop = min(k + 1, len(live_rows))
            # exact: a block of scores at most 2**24 floats (64 MB)
            step = max(1, (1 << 24) // max(len(live_rows), 1)) if exact else 4096
            for start in range(0, len(live_rows), step):
                rows = live_rows[start:start + step]
                queries = np.ascontiguousarray(matrix[rows])
                if exact:
                    scores = queries @ matrix[live_rows].T
                    top = np.argpartition(-scores, stop - 1, axis=1)[:, :stop]
                    labels = live_rows[top]
                    scores = np.take_along_axis(scores, top, axis=1)
                else:
                    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
                    params.efSearch = max(self.expansion(), stop)
                    bits = self._alive_bitmap()
                    if bits is not None:
                        params.sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
                    scores, labels = self._index.search(queries, stop, params=params)
                    del bits
                keep = (labels >= 0) & (scores >= min_score) & (labels != rows[:, None])
                query_rows = np.broadcast_to(rows[:, None], labels.shape)[keep]
                firsts.append(row_ids[query_rows])
                seconds.append(row_ids[labels[keep]])
                found_scores.append(scores[keep].astype(np.float32))
                if progress is not None:
                    progress(min(start + len(rows), len(live_rows)), len(live_rows))
        if not firsts:
            return np.empty((0, 2), np.int64), np.empty(0, np.float32)
        a, b = np.concatenate(firsts), np.concatenate(seconds)
        pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
        pairs, first = np.unique(pairs, axis=0, return_index=True)
        return pairs, np.concatenate(found_scores)[first]

    def expansion(self) -> int:
        """``efSearch``: ``expansion_search`` when given, else grown with the
        store's size (see EXPANSION_SEARCH)."""
        if self.expansion_search is not None:
            return self.expansion_search
        grown = min(self._index.ntotal // _EF_PER_VECTORS, _EF_MAX)
        return max(EXPANSION_SEARCH, grown)

    def _search_graph(self, query: np.ndarray, stop: int, rows: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # not in the stubs
        ef = max(self.expansion(), stop)
        if rows is not None:  # the walk meets allowed rows at the filter's rate
            ef = min(int(ef * self._index.ntotal / len(rows)), len(rows))
        params.efSearch = ef
        bits = self._alive_bitmap() if rows is None else _bitmap(rows, self._index.ntotal)
        if bits is not None:
            params.sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        scores, labels = self._index.search(query[None, :], stop, params=params)
        del bits  # kept alive until the search is done
        labels, scores = labels[0], scores[0]
        if labels[-1] < 0:  # fewer hits than asked: the graph walk missed some
            return None
        return self._row_ids[labels], scores

    def _search_exact(self, query: np.ndarray, stop: int, rows: np.ndarray | None,
                      offset: int) -> tuple[np.ndarray, np.ndarray]:
        matrix = self._vectors()
        total = len(matrix) if rows is None else len(rows)
        scores = np.empty(total, np.float32)
        for start in range(0, total, _CHUNK):
            end = min(start + _CHUNK, total)
            block = matrix[start:end] if rows is None else matrix[rows[start:end]]
            scores[start:end] = block @ query
        ids = self._row_ids if rows is None else self._row_ids[rows]
        if rows is None:
            live = ids >= 0
            ids, scores = ids[live], scores[live]
        if stop < len(ids):
            top = np.argpartition(-scores, stop - 1)[:stop]
            ids, scores = ids[top], scores[top]
        order = np.lexsort((ids, -scores))[offset:]
        return ids[order], scores[order]

    # -- persistence ---------------------------------------------------------------

    def save(self) -> None:
        with self._lock:
            if not self._dirty and self._generation:
                return
            dead = self._index.ntotal - self._live
            if dead and dead > _REBUILD_DEAD_SHARE * self._index.ntotal:
                self.compact()
            self.path.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            index_name, ids_name = f"index-{generation}.faiss", f"ids-{generation}.npy"
            _write_file(self.path / index_name,
                        lambda p: faiss.write_index(self._index, str(p)))
            _write_file(self.path / ids_name, lambda p: _save_array(p, self._row_ids))
            manifest = {
                "format": FORMAT, "model_id": self.model_id, "dimensions": self.dimensions,
                "generation": generation, "index": index_name, "ids": ids_name,
                "connectivity": self.connectivity, "expansion_add": self.expansion_add,
            }
            _commit_manifest(self.path, manifest)
            self._generation = generation
            self._dirty = False
            self._remove_stale({index_name, ids_name, "manifest.json"})

    def compact(self) -> None:
        """Rebuild the graph from the live rows only (minutes for a million vectors)."""
        with self._lock:
            live = np.flatnonzero(self._row_ids >= 0)
            matrix = self._vectors()
            index = self._new_index()
            for start in range(0, len(live), _CHUNK):
                index.add(matrix[live[start:start + _CHUNK]])
            self._index = index
            self._row_ids = self._row_ids[live]
            self._id_rows[:] = -1
            self._id_rows[self._row_ids] = np.arange(len(live), dtype=np.int64)
            self._matrix = None
            self._alive_bits = None
            self._dirty = True

    def _load(self) -> None:
        manifest_path = self.path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest["format"] != FORMAT:
                raise VectorStoreError(
                    f"{manifest_path}: format {manifest['format']}, this version reads {FORMAT}")
            if manifest["model_id"] != self.model_id:
                raise VectorStoreError(
                    f"{manifest_path} belongs to model {manifest['model_id']!r}, "
                    f"not {self.model_id!r}")
            if int(manifest["dimensions"]) != self.dimensions:
                raise VectorStoreError(
                    f"the saved store for model {self.model_id!r} holds "
                    f"{manifest['dimensions']}-d vectors, not {self.dimensions}-d; "
                    f"a model with other dimensions needs its own model id")
            index = faiss.read_index(str(self.path / manifest["index"]))
            row_ids = np.load(self.path / manifest["ids"])
        except VectorStoreError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise VectorStoreError(f"cannot read the vector store in {self.path}: {error}"
                                   ) from error
        if index.ntotal != len(row_ids) or index.d != self.dimensions:
            raise VectorStoreError(f"{self.path}: the index and its id list disagree")
        self._index = index
        self.connectivity = int(manifest.get("connectivity", self.connectivity))
        self.expansion_add = int(manifest.get("expansion_add", self.expansion_add))
        self._generation = int(manifest["generation"])
        self._row_ids = row_ids.astype(np.int64, copy=False)
        live = np.flatnonzero(self._row_ids >= 0)
        self._live = len(live)
        self._grow_id_rows(int(self._row_ids.max()) + 1 if self._live else 0)
        self._id_rows[self._row_ids[live]] = live
        # No tidying here: another process may be saving its next generation,
        # not yet named by the manifest. ``save`` removes what it replaced.

    def _remove_stale(self, keep: set[str]) -> None:
        """Files of older generations and of saves that crashed midway."""
        for path in self.path.iterdir():
            if path.name not in keep and (path.name.startswith(("index-", "ids-"))
                                          or path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)

    # -- internals -------------------------------------------------------------------

    def _new_index(self) -> Any:  # faiss.IndexHNSWFlat; the stubs lack its attributes
        index = faiss.IndexHNSWFlat(self.dimensions, self.connectivity,
                                    faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.expansion_add
        return index

    def _vectors(self) -> np.ndarray:
        """The stored vectors, one row per graph row: a view of faiss's float32 codes."""
        if self._matrix is None:
            n = self._index.ntotal
            if n == 0:
                self._matrix = np.empty((0, self.dimensions), np.float32)
            else:
                storage: Any = faiss.downcast_index(self._index.storage)
                codes = faiss.rev_swig_ptr(storage.codes.data(), n * storage.code_size)
                self._matrix = np.asarray(codes).view(np.float32).reshape(n, self.dimensions)
        return self._matrix

    def _alive_bitmap(self) -> np.ndarray | None:
        if self._live == self._index.ntotal:
            return None
        if self._alive_bits is None:
            self._alive_bits = np.packbits(self._row_ids >= 0, bitorder="little")
        return self._alive_bits

    def present(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` have a vector (a boolean mask), without copying vectors."""
        ids = self._check_ids(ids)
        with self._lock:
            return self._rows_of(ids) >= 0

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        rows = np.full(len(ids), -1, np.int64)
        known = ids < len(self._id_rows)
        rows[known] = self._id_rows[ids[known]]
        return rows

    def _grow_id_rows(self, size: int) -> None:
        if size > len(self._id_rows):
            grown = np.full(max(size, len(self._id_rows) * 3 // 2), -1, np.int64)
            grown[:len(self._id_rows)] = self._id_rows
            self._id_rows = grown

    @staticmethod
    def _check_ids(ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or (len(ids) and ids.dtype.kind not in "iu"):
            raise VectorStoreError("ids must be a one-dimensional array of integers")
        ids = ids.astype(np.int64, copy=False)
        if len(ids) and ids.min() < 0:
            raise VectorStoreError("content ids are non-negative")
        return ids


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def _bitmap(rows: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[rows] = True
    return np.packbits(mask, bitorder="little")


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a file name would get ".npy" appended
        np.save(handle, array)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary name, fsynced before the rename."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _commit_manifest(folder: Path, manifest: dict[str, object]) -> None:
    """The commit point of a save: until this rename, the previous manifest rules."""
    temporary = folder / "manifest.json.tmp"
    temporary.write_text(json.dumps(manifest, indent=1))
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, folder / "manifest.json")
    _fsync_dir(folder)
