"""The embedded vector store: float16 vectors in faiss inverted lists, one folder per model.

Layout: an inverted file (faiss ``IndexIVFScalarQuantizer``). The vectors are
split into lists by their nearest centre (k-means); each list holds content
ids and the vectors as IEEE float16 (not residuals, so a list's codes are the
vectors themselves). A million 512-d vectors take 1 KiB + an 8-byte id each,
and 8 bytes per content id for the list and row maps: about 0.98 GiB (float32
plus an HNSW graph took 2.2 GiB). Distances are computed in float32 from the
float16 values, in C++ (AVX2).

How a query runs:

- a narrow filter (up to the share measured as the crossover, see below) is
  answered exactly from its own rows: the bitmap's ids, each id's list and
  row (two arrays kept per content id), the float16 rows gathered out of the
  lists in one numpy operation (``listrows.py``) and scored by faiss's list
  scanner. Cost follows the allowed count, not the store;
- otherwise the filter reaches faiss as a bitmap over content ids
  (:class:`IdFilter`, an ``IDSelectorBitmap``): each id of a scanned list is
  checked in C++, in place; nothing is gathered, copied, mapped or sorted;
- how many lists to scan (``nprobe``) follows the filter's share of the store,
  from a table measured on the store's own vectors (``calibration.py``); where
  it would be more than half the lists, all are scanned and the answer is
  exact;
- the crossover between the row search and the list search is timed on the
  store itself, after the table (``measure_crossover``): on this machine's
  memory and this data, not a constant;
- a store smaller than ``train_at`` vectors is a single list: every search is
  exact (its rows, or the one list).

Why an inverted file rather than an HNSW graph (which format 1 used): with a
filter, a graph walk still visits the disallowed nodes and its recall fell to
0.72-0.93 on broad scattered filters, while a list scan's cost follows the
lists scanned and its recall follows ``nprobe``, which the calibration sets
per share; the lists also delete for real, fit float16 codes without a second
copy, and build a million vectors in about two minutes instead of twenty
(``bench/vector_search.py`` has the figures).

The centres are trained again (and every vector moved to its new list) when
the store has grown ``GROWTH_TO_RETRAIN`` times since they were trained; the
probe table is measured again after each training and whenever the store has
doubled since it was measured (a one-list store measures its crossover then too).

Files: ``<folder>/<model slug>-<hash>/`` holds ``manifest.json`` and the
generation it names (``index-<n>.faiss``, ids inside). ``save`` writes a new
generation, fsyncs it, then atomically replaces the manifest: a crash at any
point leaves the previous generation named and intact. A store saved in
format 1 (HNSW, float32) is converted when opened and saved in format 2 at
once (when the folder is writable); until that save commits, the format-1
files stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pximse.store.vectors import VectorStoreError
from pximse.store.vectors.calibration import (
    K,
    ProbeTable,
    effective_share,
    measure_crossover,
    measure_probes,
    probes_for,
)
from pximse.store.vectors.idfilter import IdFilter
from pximse.store.vectors.legacy_hnsw import FORMAT as FORMAT_1
from pximse.store.vectors.legacy_hnsw import Format1Store
from pximse.store.vectors.listrows import ListRows, row_scanner, top_of_codes

log = logging.getLogger(__name__)

FORMAT = 2
TRAIN_AT = 32_768
"""Below this many vectors the store is one list (every search exact: ~3 ms)."""
GROWTH_TO_RETRAIN = 4
"""The centres are trained again when the store has grown this many times."""
_POINTS_PER_LIST = 40
"""Training sample: this many vectors per list (faiss asks for at least 39)."""
_KMEANS_ITERATIONS = 10
_BLOCK = 65_536
"""Vectors moved or assigned at a time when training (bounds the float32 copies)."""
_COMPACT_GROWTH = 0.25
"""Lists grow by doubling their capacity; ``save`` packs them again once the store
grew by this share since they were last packed."""
_STALE_TMP_SECONDS = 3600
"""A temporary file older than this is from a save that crashed, not one running."""
_DTYPE = np.float16


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


def lists_for(count: int) -> int:
    """Lists for ``count`` vectors: the power of two nearest ``2 * sqrt(count)``, with
    enough vectors to train each centre."""
    lists = 1 << max(0, int(math.log2(2 * math.sqrt(max(count, 1))) + 0.5))
    while lists > 1 and lists * _POINTS_PER_LIST > count:
        lists //= 2
    return lists


class EmbeddedVectorStore:
    """One model's vectors in ``store_folder(folder, model_id)``, opened if saved before.

    ``train_at``: the size from which the store is split into lists (smaller
    stores are searched exactly). ``probes``: scan this many lists whatever the
    filter (for measurements; the default follows the measured table).
    ``row_share``: search the rows of filters up to this share of the store
    (for measurements; the default is the measured crossover).
    Thread-safe: calls are serialised by one lock.
    """

    stored_dtype = _DTYPE
    """Vectors come back from :meth:`get` rounded to this precision."""

    def __init__(self, folder: Path, dimensions: int, model_id: str, *,
                 train_at: int = TRAIN_AT, probes: int | None = None,
                 row_share: float | None = None) -> None:
        if dimensions <= 0:
            raise VectorStoreError(f"vector dimensions must be positive, not {dimensions}")
        self.model_id = model_id
        self.dimensions = dimensions
        self.path = store_folder(folder, model_id)
        self.train_at = train_at
        self.probes = probes
        self.row_share = row_share
        self._lock = threading.RLock()
        self._generation = 0
        self._dirty = False
        self._index: Any = None
        self._scanner: Any = None
        self._use_index(self._new_index(1))
        self._list_of = np.empty(0, np.int32)  # per content id: its list, -1 when absent
        self._offset_of = np.empty(0, np.int32)  # per content id: its row in that list
        self._rows: ListRows | None = None  # dropped on every write (lists may move)
        # measured: filters up to this share search their rows (None: not yet measured)
        self._exact_share: float | None = 0.0
        self._live = 0
        self._trained_size = 0  # vectors when the centres were trained
        self._calibrated_size = 0  # vectors when the probe table was measured
        self._packed_size = 0  # vectors when the lists were last packed
        self._probe_table: ProbeTable = []
        self._present_bits: np.ndarray | None = None
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
        ids = np.ascontiguousarray(ids[last])
        vectors = vectors[last]
        with self._lock:
            self._forget(ids)
            self._insert(ids, vectors)
            self._dirty = True
            if self._live >= max(self.train_at, GROWTH_TO_RETRAIN * self._trained_size):
                self._retrain()
            elif self._live >= 2 * self._calibrated_size:
                self._calibrate()

    def remove(self, ids: np.ndarray) -> int:
        ids = self._check_ids(ids)
        with self._lock:
            removed = self._forget(np.unique(ids))
            if removed:
                self._dirty = True
            return removed

    def _forget(self, ids: np.ndarray) -> int:
        lists = self._lists_of(ids)
        present = ids[lists >= 0]
        if not len(present):
            return 0
        self._index.remove_ids(faiss.IDSelectorBatch(present))
        self._list_of[present] = -1
        self._live -= len(present)
        self._present_bits = None
        self._number_rows(np.unique(lists[lists >= 0]))  # a removal moves a list's last row
        return len(present)

    def _insert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        # Rounded here, to nearest even: faiss's own float16 encoder rounds a few
        # values in 10^5 the other way, and the stored values should be numpy's.
        vectors = np.ascontiguousarray(vectors.astype(_DTYPE), dtype=np.float32)
        if self._index.nlist == 1:
            lists = np.zeros(len(ids), np.int64)
        else:
            lists = self._index.quantizer.search(vectors, 1)[1].reshape(-1)
        self._index.add_core(len(ids), faiss.swig_ptr(vectors), faiss.swig_ptr(ids),
                             faiss.swig_ptr(np.ascontiguousarray(lists, dtype=np.int64)))
        self._grow_list_of(int(ids.max()) + 1)
        self._list_of[ids] = lists
        self._live += len(ids)
        self._present_bits = None
        self._number_rows(np.unique(lists))

    def _number_rows(self, lists: np.ndarray) -> None:
        """Record each id's row in ``lists`` (after they changed), for the row search."""
        self._rows = None
        for list_no in lists:
            list_ids, _ = self._list_arrays(int(list_no))
            self._offset_of[list_ids] = np.arange(len(list_ids), dtype=np.int32)

    # -- reads -------------------------------------------------------------------

    def count(self) -> int:
        return self._live

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored ids among ``ids`` (in their order) and their vectors, as float32
        holding the stored float16 values."""
        ids = self._check_ids(ids)
        with self._lock:
            lists = self._lists_of(ids)
            found = np.flatnonzero(lists >= 0)
            out = np.empty((len(found), self.dimensions), np.float32)
            for list_no in np.unique(lists[found]):
                at = found[lists[found] == list_no]
                list_ids, codes = self._list_arrays(int(list_no))
                order = np.argsort(list_ids)
                where = order[np.searchsorted(list_ids, ids[at], sorter=order)]
                out[np.searchsorted(found, at)] = codes[where]
            return ids[found], out

    def present(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` have a vector (a boolean mask), without copying vectors."""
        ids = self._check_ids(ids)
        with self._lock:
            return self._lists_of(ids) >= 0

    def restrict(self, allowed: np.ndarray | IdFilter) -> IdFilter:
        """``allowed`` (ids, or a bitmap) narrowed to the ids that have a vector."""
        with self._lock:
            bits = self._presence()
        if isinstance(allowed, IdFilter):
            return allowed.intersect(bits)
        ids = self._check_ids(allowed)
        return IdFilter.from_ids(ids, len(self._list_of)).intersect(bits)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | IdFilter | None = None,
               offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Ids and scores ranked ``offset .. offset + k``, best first (ties by id), among
        ``allowed`` (sorted content ids, or an :class:`IdFilter`) when given."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if len(query) != self.dimensions:
            raise VectorStoreError(
                f"the store for model {self.model_id!r} holds {self.dimensions}-d vectors; "
                f"the query has {len(query)}")
        stop = offset + k
        with self._lock:
            if k <= 0 or self._live == 0:
                return _empty()
            chosen = None if allowed is None else self.restrict(allowed)
            candidates = self._live if chosen is None else chosen.count
            if not candidates:
                return _empty()
            if chosen is not None and self.plan(candidates, stop).rows:
                scores, labels = self._search_rows(query, stop, chosen)
            else:
                scores, labels = self._search_lists(query, stop, chosen, candidates)
            keep = labels >= 0
            labels, scores = labels[keep], scores[keep]
            order = np.lexsort((labels, -scores))[offset:]
            return labels[order], scores[order]

    def similar_pairs(self, min_score: float, k: int = 8,
                      progress: Callable[[int, int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Every pair of stored vectors at least ``min_score`` alike, among each
        vector's ``k`` nearest: ``(pairs, scores)``, pairs as ``[[a, b], ...]``
        content ids with ``a < b``. Exact while the store is one list; with lists,
        each vector's neighbours are searched as an unfiltered query is;
        ``progress(done, total)`` after each batch."""
        with self._lock:
            total = self._live
            stop = min(k + 1, total)
            nprobe = self.scan_width(total, stop)
            firsts: list[np.ndarray] = []
            seconds: list[np.ndarray] = []
            found_scores: list[np.ndarray] = []
            done = 0
            for ids, vectors in self._blocks(4096):
                scores, labels = self._scan(vectors, stop, nprobe, None)
                keep = (labels >= 0) & (scores >= min_score) & (labels != ids[:, None])
                firsts.append(np.broadcast_to(ids[:, None], labels.shape)[keep])
                seconds.append(labels[keep])
                found_scores.append(scores[keep].astype(np.float32))
                done += len(ids)
                if progress is not None:
                    progress(done, total)
        if not firsts:
            return np.empty((0, 2), np.int64), np.empty(0, np.float32)
        a, b = np.concatenate(firsts), np.concatenate(seconds)
        pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
        pairs, first = np.unique(pairs, axis=0, return_index=True)
        return pairs, np.concatenate(found_scores)[first]

    def plan(self, candidates: int, stop: int) -> SearchPlan:
        """How a filtered search among ``candidates`` allowed vectors runs: the allowed
        rows scored one by one (exact) while they are at most the measured crossover
        share of the store, else the lists ``scan_width`` gives."""
        up_to = self.exact_share() if self.row_share is None else self.row_share
        if not self.probes and candidates <= up_to * self._live:
            return SearchPlan(rows=True, lists=0)
        return SearchPlan(rows=False, lists=self.scan_width(candidates, stop))

    def exact_share(self) -> float:
        """The measured crossover: filters up to this share of the store are answered
        by scoring their rows. A store saved before the crossover was measured
        measures it here, on the first filtered search (not on opening: most
        opens serve no filtered CLIP search)."""
        with self._lock:
            share = self._exact_share
            if share is None:
                rng = np.random.default_rng(self._live)
                self._measure_crossover(np.concatenate([a[0] for a in self._each_list()]),
                                        self._sample(512, rng), rng)
                self._dirty = True  # kept by the next save
                share = self._exact_share or 0.0
            return share

    def scan_width(self, candidates: int, stop: int) -> int:
        """Lists a search scans for a page ending at ``stop`` among ``candidates``
        allowed vectors; all of them (``lists()``) means the answer is exact."""
        if self.probes:
            return min(self.probes, int(self._index.nlist))
        return probes_for(self._probe_table, effective_share(candidates, self._live, stop),
                          self._index.nlist)

    def calibrate(self) -> None:
        """Measure the probe table and the row/list crossover again now (the store
        does it on its own as it grows); saved by the next :meth:`save`."""
        with self._lock:
            self._calibrate()
            self._dirty = True

    def lists(self) -> int:
        """How many lists the vectors are split into (1: every search is exact)."""
        return int(self._index.nlist)

    def probe_table(self) -> ProbeTable:
        """The measured ``[(filter share, lists to scan), ...]``."""
        return list(self._probe_table)

    def _search_rows(self, query: np.ndarray, k: int, allowed: IdFilter
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The exact top ``k`` of the allowed rows (all stored), scored from their
        float16 codes gathered out of the lists: ``(scores, ids)``."""
        ids = allowed.ids()
        if self._rows is None:
            self._rows = ListRows(self._index)
        codes = self._rows.gather(self._list_of[ids], self._offset_of[ids])
        if self._scanner is None:
            self._scanner = row_scanner(self._index)
        return top_of_codes(self._scanner, query, codes, ids, k)

    def _search_lists(self, query: np.ndarray, k: int, allowed: IdFilter | None,
                      candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """The measured number of lists, or all of them when those held too few
        allowed vectors: ``(scores, ids)``."""
        lists = self._index.nlist
        nprobe = self.scan_width(candidates, k)
        scores, labels = self._scan(query[None, :], k, nprobe, allowed)
        if np.count_nonzero(labels[0] >= 0) < min(k, candidates) and nprobe < lists:
            scores, labels = self._scan(query[None, :], k, lists, allowed)
        return scores[0], labels[0]

    def _scan(self, queries: np.ndarray, k: int, nprobe: int, allowed: IdFilter | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """faiss's search of ``nprobe`` lists, the filter checked in place."""
        params = faiss.SearchParametersIVF()
        params.nprobe = max(1, min(nprobe, self._index.nlist))
        selector = None
        if allowed is not None:
            selector = faiss.IDSelectorBitmap(len(allowed.bits), faiss.swig_ptr(allowed.bits))
            params.sel = selector
        scores, labels = self._index.search(np.ascontiguousarray(queries, dtype=np.float32),
                                            k, params=params)
        del selector  # kept alive until the search is done
        return scores, labels

    # -- training ----------------------------------------------------------------

    def _retrain(self) -> None:
        """New centres for the current size; every vector moves to its new list."""
        started = time.perf_counter()
        old = self._index
        sample = self._sample(lists_for(self._live) * _POINTS_PER_LIST)
        self._use_index(self._trained_index(sample, self._live))
        self._list_of[:] = -1
        self._live = 0
        for ids, vectors in _list_blocks(old, self.dimensions, _BLOCK):
            self._insert(ids, vectors)
        del old
        self._trained_size = self._packed_size = self._live
        self._calibrate()
        log.info("vector store %s: %d vectors in %d lists (trained in %.1f s)",
                 self.model_id, self._live, self._index.nlist, time.perf_counter() - started)

    def _trained_index(self, sample: np.ndarray, count: int) -> Any:
        lists = lists_for(count) if count >= self.train_at else 1
        if lists == 1:
            return self._new_index(1)
        index = self._new_index(lists)
        index.cp.niter = _KMEANS_ITERATIONS
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return index

    def _calibrate(self) -> None:
        """Measure the probe table, then the crossover to the row search (which
        times the list search with that table)."""
        lists = self._index.nlist
        rng = np.random.default_rng(self._live)
        ids = np.concatenate([arrays[0] for arrays in self._each_list()])
        sample = self._sample(512, rng)
        if lists == 1:
            self._probe_table = []
        else:
            self._probe_table = measure_probes(
                lambda q, k, nprobe, allowed: self._scan(q, k, nprobe, allowed)[1],
                ids, sample, lists, rng)
        self._measure_crossover(ids, sample, rng)
        self._calibrated_size = self._live

    def _measure_crossover(self, ids: np.ndarray, sample: np.ndarray,
                           rng: np.random.Generator) -> None:
        self._exact_share = 0.0 if not len(ids) else measure_crossover(
            lambda query, allowed: self._search_rows(query, K, allowed),
            lambda query, allowed: self._search_lists(query, K, allowed, allowed.count),
            ids, sample, rng)
        log.info("vector store %s: filters up to %.2f%% of %d vectors search their rows",
                 self.model_id, 100 * self._exact_share, self._live)

    def _sample(self, count: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``count`` stored vectors drawn at random, as float32 rows."""
        rng = rng or np.random.default_rng(0)
        sizes = np.array([self._index.invlists.list_size(i) for i in range(self._index.nlist)])
        total = int(sizes.sum())
        picked = np.sort(rng.choice(total, min(count, total), replace=False))
        ends = np.cumsum(sizes)
        owner = np.searchsorted(ends, picked, side="right")
        out = np.empty((len(picked), self.dimensions), np.float32)
        for list_no in np.unique(owner):
            at = np.flatnonzero(owner == list_no)
            start = ends[list_no] - sizes[list_no]
            out[at] = self._list_arrays(int(list_no))[1][picked[at] - start]
        return out

    # -- persistence ---------------------------------------------------------------

    def save(self) -> None:
        with self._lock:
            if not self._dirty and self._generation:
                return
            if self._live > (1 + _COMPACT_GROWTH) * self._packed_size:
                self._pack_lists()
            self.path.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            index_name = f"index-{generation}.faiss"
            _write_file(self.path / index_name,
                        lambda p: faiss.write_index(self._index, str(p)))
            manifest = {
                "format": FORMAT, "model_id": self.model_id, "dimensions": self.dimensions,
                "generation": generation, "index": index_name, "dtype": "float16",
                "lists": int(self._index.nlist), "trained_size": self._trained_size,
                "calibrated_size": self._calibrated_size,
                "probes": [[share, nprobe] for share, nprobe in self._probe_table],
                "exact_share": self._exact_share,  # null: measured on first use
            }
            _commit_manifest(self.path, manifest)
            self._generation = generation
            self._dirty = False
            self._remove_stale({index_name, "manifest.json"})

    def _pack_lists(self) -> None:
        """Copy every list into memory of its exact size (growth left up to 2x slack)."""
        index = self._index
        packed: Any = faiss.ArrayInvertedLists(index.nlist, index.code_size)
        for list_no in range(index.nlist):
            size = index.invlists.list_size(list_no)
            if size:
                packed.add_entries(list_no, size, index.invlists.get_ids(list_no),
                                   index.invlists.get_codes(list_no))
        index.replace_invlists(packed, True)
        packed.this.disown()  # the index owns it now
        self._rows = None
        self._packed_size = self._live

    def _load(self) -> None:
        manifest_path = self.path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            self._check_manifest(manifest_path, manifest)
            if manifest["format"] == FORMAT_1:
                self._convert_format_1(manifest)
                return
            index = faiss.read_index(str(self.path / manifest["index"]))
        except VectorStoreError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise VectorStoreError(f"cannot read the vector store in {self.path}: {error}"
                                   ) from error
        if index.d != self.dimensions or not hasattr(index, "nlist"):
            raise VectorStoreError(f"{self.path}: the index does not match its manifest")
        self._use_index(index)
        self._generation = int(manifest["generation"])
        self._trained_size = int(manifest.get("trained_size", 0))
        self._calibrated_size = int(manifest.get("calibrated_size", 0))
        self._probe_table = [(float(s), int(n)) for s, n in manifest.get("probes", [])]
        self._list_of = np.empty(0, np.int32)
        self._offset_of = np.empty(0, np.int32)
        for list_no, (ids, _) in enumerate(self._each_list()):
            if len(ids):
                self._grow_list_of(int(ids.max()) + 1)
                self._list_of[ids] = list_no
                self._offset_of[ids] = np.arange(len(ids), dtype=np.int32)
        self._live = int(index.ntotal)
        self._packed_size = self._live
        saved = manifest.get("exact_share")  # absent: saved before the row search
        self._exact_share = float(saved) if saved is not None else None
        # No tidying here: another process may be saving its next generation,
        # not yet named by the manifest. ``save`` removes what it replaced.

    def _check_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        if manifest["format"] not in (FORMAT_1, FORMAT):
            raise VectorStoreError(
                f"{path}: format {manifest['format']}, this version reads "
                f"{FORMAT_1} and {FORMAT}; a newer PxIMSE wrote it")
        if manifest["model_id"] != self.model_id:
            raise VectorStoreError(
                f"{path} belongs to model {manifest['model_id']!r}, not {self.model_id!r}")
        if int(manifest["dimensions"]) != self.dimensions:
            raise VectorStoreError(
                f"the saved store for model {self.model_id!r} holds "
                f"{manifest['dimensions']}-d vectors, not {self.dimensions}-d; "
                f"a model with other dimensions needs its own model id")

    def _convert_format_1(self, manifest: dict[str, Any]) -> None:
        """Build this format from a format-1 store, then save it (when we may write)."""
        started = time.perf_counter()
        old = Format1Store(self.path, manifest)
        if old.dimensions != self.dimensions:
            raise VectorStoreError(f"{self.path}: the index does not match its manifest")
        count = len(old)
        sample = old.sample(lists_for(count) * _POINTS_PER_LIST, np.random.default_rng(0))
        self._use_index(self._trained_index(sample, count))
        for ids, vectors in old.blocks(_BLOCK):
            self._insert(ids, vectors)
        del old, sample
        self._trained_size = self._packed_size = self._live if self._index.nlist > 1 else 0
        self._calibrate()
        self._generation = int(manifest["generation"])
        self._dirty = True
        log.info("vector store %s: %d vectors converted from format 1 in %.1f s",
                 self.model_id, self._live, time.perf_counter() - started)
        try:
            self.save()
        except OSError as error:
            log.warning("the converted vector store %s could not be saved (%s); it is "
                        "converted again on the next open", self.path, error)

    def _remove_stale(self, keep: set[str]) -> None:
        """Files of older generations and of saves that crashed midway."""
        now = time.time()
        for path in self.path.iterdir():
            if path.name in keep:
                continue
            try:
                if path.name.startswith(("index-", "ids-")) and not path.name.endswith(".tmp"):
                    path.unlink()
                elif path.name.endswith(".tmp") and now - path.stat().st_mtime > \
                        _STALE_TMP_SECONDS:
                    path.unlink()  # younger ones may be another process's save
            except FileNotFoundError:
                continue

    # -- internals -------------------------------------------------------------------

    def _new_index(self, lists: int) -> Any:  # faiss.IndexIVFScalarQuantizer
        quantizer = faiss.IndexFlatIP(self.dimensions)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dimensions, lists, faiss.ScalarQuantizer.QT_fp16,
            faiss.METRIC_INNER_PRODUCT)
        index.by_residual = False  # codes are the vectors: read back without a centre
        if lists == 1:  # one list: nothing to train, every vector goes to list 0
            quantizer.add(np.zeros((1, self.dimensions), np.float32))
            index.is_trained = True
        return index

    def _use_index(self, index: Any) -> None:
        self._index = index
        self._rows = None
        self._scanner = None  # made for its index (see ``row_scanner``)

    def _list_arrays(self, list_no: int) -> tuple[np.ndarray, np.ndarray]:
        """A list's ids and float16 vectors: views valid until the list changes."""
        return _list_arrays(self._index, list_no, self.dimensions)

    def _each_list(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for list_no in range(self._index.nlist):
            yield self._list_arrays(list_no)

    def _blocks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All ``(ids, float32 vectors)``, about ``size`` at a time; no writes meanwhile."""
        return _list_blocks(self._index, self.dimensions, size)

    def _presence(self) -> np.ndarray:
        if self._present_bits is None:
            self._present_bits = np.packbits(self._list_of >= 0, bitorder="little")
        return self._present_bits

    def _lists_of(self, ids: np.ndarray) -> np.ndarray:
        lists = np.full(len(ids), -1, np.int32)
        known = ids < len(self._list_of)
        lists[known] = self._list_of[ids[known]]
        return lists

    def _grow_list_of(self, size: int) -> None:
        if size > len(self._list_of):
            grown = np.full(max(size, len(self._list_of) * 3 // 2), -1, np.int32)
            grown[:len(self._list_of)] = self._list_of
            self._list_of = grown
            offsets = np.zeros(len(grown), np.int32)
            offsets[:len(self._offset_of)] = self._offset_of
            self._offset_of = offsets

    @staticmethod
    def _check_ids(ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or (len(ids) and ids.dtype.kind not in "iu"):
            raise VectorStoreError("ids must be a one-dimensional array of integers")
        ids = ids.astype(np.int64, copy=False)
        if len(ids) and ids.min() < 0:
            raise VectorStoreError("content ids are non-negative")
        return ids


def _list_arrays(index: Any, list_no: int, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    size = index.invlists.list_size(list_no)
    if not size:
        return np.empty(0, np.int64), np.empty((0, dimensions), _DTYPE)
    ids = faiss.rev_swig_ptr(index.invlists.get_ids(list_no), size)
    codes = faiss.rev_swig_ptr(index.invlists.get_codes(list_no), size * index.code_size)
    return np.asarray(ids), np.asarray(codes).view(_DTYPE).reshape(size, dimensions)


def _list_blocks(index: Any, dimensions: int, size: int
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    ids: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    held = 0
    for list_no in range(index.nlist):
        list_ids, codes = _list_arrays(index, list_no, dimensions)
        if not len(list_ids):
            continue
        ids.append(list_ids.copy())
        vectors.append(codes.astype(np.float32))
        held += len(list_ids)
        if held >= size:
            yield np.concatenate(ids), np.concatenate(vectors)
            ids, vectors, held = [], [], 0
    if held:
        yield np.concatenate(ids), np.concatenate(vectors)


@dataclass(frozen=True)
class SearchPlan:
    """How a filtered search runs: ``rows`` (the allowed vectors scored one by one,
    exact) or ``lists`` inverted lists scanned (all of them: exact too)."""

    rows: bool
    lists: int


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary name of its own (two processes may save at
    once), fsynced before the rename."""
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _commit_manifest(folder: Path, manifest: dict[str, object]) -> None:
    """The commit point of a save: until this rename, the previous manifest rules."""
    fd, name = tempfile.mkstemp(prefix="manifest.json.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(manifest, indent=1))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(name, folder / "manifest.json")
    _fsync_dir(folder)
