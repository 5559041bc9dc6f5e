"""Vectors on a Milvus server (or milvus-lite, which runs the same code on a local file).

One collection per model id: the content id (primary key), the L2-normalised
vector (HNSW, ``M=32``, ``efConstruction=64`` by default, as the original
PxIMSE built it; inner product), and the catalogue columns of
:data:`pximse.store.vectors.milvus_filter.SCALARS`, so that a filter on them
runs inside Milvus' search (``expr``). Any other filter arrives as the allowed
content ids, which become an ``id in [...]`` term inside Milvus — never a
post-filter over a truncated candidate list.

Paging: a Milvus server answers at most 16,384 hits per search (``offset +
limit``, its ``maxTopK``); a deeper page is asked for as is first (milvus-lite
has no such limit) and, when the server refuses, walked a limit's worth of
hits at a time, each search leaving out the ids already ranked.

Servers before Milvus 2.5 have no nullable fields: there a collection keeps
a ``has_<field>`` flag beside each column that may be missing, and filters
test it (:mod:`pximse.store.vectors.milvus_features` says what each server
offers; an existing collection keeps the layout it was made with).

Scalars are copied from the catalogue by :meth:`MilvusVectorStore.update_scalars`
(the MongoDB catalogue's ``sync_vector_scalars`` does it for what changed);
a vector added without them has ``state = -2`` (unsynced) and is only found
through allowed ids until the next sync.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pximse.config.uris import redact_uri
from pximse.store.vectors import VectorStoreError
from pximse.store.vectors.milvus_features import (
    MAX_TOPK,
    PRESENCE_PREFIX,
    MilvusFeatures,
    detect_features,
)
from pximse.store.vectors.milvus_filter import SCALARS, UNSYNCED_STATE, milvus_filter

log = logging.getLogger(__name__)

__all__ = ["MAX_TOPK", "MilvusVectorStore", "collection_name", "milvus_models"]

_READS = "Strong"
"""Every read sees every write made before it (Milvus' default, Bounded, can miss
a vector added a moment ago: a new image would not be found at once)."""
EXPANSION_SEARCH = 256
"""HNSW ``ef`` floor at search time (raised to the page's depth)."""
_BATCH = 1000
_DEFAULTS = {"int": 0, "float": 0.0, "str": ""}


def collection_name(model_id: str, prefix: str = "pximse") -> str:
    """A valid Milvus collection name for a model id, distinct per model id."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", model_id).strip("_")[:60] or "model"
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:8]
    return f"{prefix}_{slug}_{digest}"


_DESCRIPTION = "PxIMSE vectors of "
_MODEL_PROPERTY = "pximse.model_id"
"""A collection property naming the model (milvus-lite keeps no description)."""


def milvus_models(uri: str, *, token: str = "", prefix: str = "pximse"
                  ) -> list[tuple[str, int, Any]]:
    """(model id, dimensions, client) of each PxIMSE collection on a Milvus server."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
    found = []
    for name in sorted(client.list_collections()):
        if not name.startswith(prefix + "_"):
            continue
        described = client.describe_collection(name)
        model_id = (described.get("properties") or {}).get(_MODEL_PROPERTY)
        if not model_id:
            continue
        dims = next(int(f["params"]["dim"]) for f in described["fields"]
                    if f["name"] == "vector")
        found.append((str(model_id), dims, client))
    return found


class MilvusVectorStore:
    """One model's vectors in a Milvus collection; see the module docstring."""

    def __init__(self, uri: str, dimensions: int, model_id: str, *, token: str = "",
                 db_name: str = "", prefix: str = "pximse", m: int = 32,
                 ef_construction: int = 64, ef_search: int = EXPANSION_SEARCH,
                 max_topk: int = MAX_TOPK, client: Any = None,
                 features: MilvusFeatures | None = None) -> None:
        self.model_id = model_id
        self.max_topk = max_topk  # the server's limit on offset + limit
        self.dimensions = int(dimensions)
        self.ef_search = ef_search
        self.collection = collection_name(model_id, prefix)
        if client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise VectorStoreError("the Milvus vector store needs pymilvus: "
                                       "pip install 'pximse[server]'") from exc
            options: dict[str, Any] = {"uri": uri}
            if token:
                options["token"] = token
            if db_name:
                options["db_name"] = db_name
            try:
                client = MilvusClient(**options)
            except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds
                raise VectorStoreError(f"cannot reach Milvus at {redact_uri(uri)}: {exc}") from exc
        self.client = client
        self.features = features or detect_features(client)
        self.presence_flags = not self.features.nullable
        """Missing values are ``has_<field>`` flags (set from the collection's own fields)."""
        self._ensure_collection(m, ef_construction)

    # -- the collection ---------------------------------------------------------------

    def _ensure_collection(self, m: int, ef_construction: int) -> None:
        from pymilvus import DataType

        if self.client.has_collection(self.collection):
            described = self.client.describe_collection(self.collection)
            names = {spec.get("name") for spec in described.get("fields", [])}
            self.presence_flags = any(str(name).startswith(PRESENCE_PREFIX) for name in names)
            for spec in described.get("fields", []):
                if spec.get("name") == "vector":
                    dim = int(spec.get("params", {}).get("dim", self.dimensions))
                    if dim != self.dimensions:
                        raise VectorStoreError(
                            f"the Milvus collection {self.collection} holds {dim}-d vectors; "
                            f"model {self.model_id!r} makes {self.dimensions}-d ones")
            self.client.load_collection(self.collection)
            return
        types = {"int": DataType.INT64, "float": DataType.DOUBLE, "str": DataType.VARCHAR}
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False,
                                           description=_DESCRIPTION + self.model_id)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimensions)
        for name, (kind, nullable) in SCALARS.items():
            extra: dict[str, Any] = {"max_length": 64} if kind == "str" else {}
            if nullable and self.presence_flags:
                schema.add_field(PRESENCE_PREFIX + name, DataType.BOOL)
                schema.add_field(name, types[kind], **extra)
            else:
                schema.add_field(name, types[kind], nullable=nullable, **extra)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="IP",
                        params={"M": m, "efConstruction": ef_construction})
        for name in ("state", "date", "width", "height", "filesize", "source", "format"):
            index.add_index(name, index_type=self.features.scalar_index(SCALARS[name][0]))
        try:
            self.client.create_collection(self.collection, schema=schema, index_params=index,
                                          properties={_MODEL_PROPERTY: self.model_id},
                                          consistency_level=_READS)
        except Exception:  # noqa: BLE001 - a server without scalar indexes: vectors only
            if self.client.has_collection(self.collection):
                self.client.drop_collection(self.collection)
            index = self.client.prepare_index_params()
            index.add_index("vector", index_type="HNSW", metric_type="IP",
                            params={"M": m, "efConstruction": ef_construction})
            self.client.create_collection(self.collection, schema=schema, index_params=index,
                                          properties={_MODEL_PROPERTY: self.model_id},
                                          consistency_level=_READS)
        log.info("Milvus collection %s created on %s (HNSW M=%d efConstruction=%d%s)",
                 self.collection, self.features.version, m, ef_construction,
                 ", has_ flags for missing values" if self.presence_flags else "")

    def drop(self) -> None:
        self.client.drop_collection(self.collection)

    # -- writes -------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray,
            scalars: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        """Insert or replace vectors (normalised here); ``scalars`` by content id."""
        ids = _check_ids(ids)
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if matrix.shape[1] != self.dimensions:
            raise VectorStoreError(f"vectors for {self.model_id!r} must have "
                                   f"{self.dimensions} dimensions, not {matrix.shape[1]}")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # Vectors already of unit length are kept bit for bit (a copy between
        # stores must not change them); others are normalised for IP search.
        scale = np.where((np.abs(norms - 1) > 1e-4) & (norms > 0), norms, 1)
        matrix = (matrix / scale).astype(np.float32)
        rows = [self._row(int(i), matrix[n], (scalars or {}).get(int(i)))
                for n, i in enumerate(ids.tolist())]
        for start in range(0, len(rows), _BATCH):
            self.client.upsert(self.collection, rows[start:start + _BATCH])

    def _row(self, content_id: int, vector: np.ndarray, scalars: Mapping[str, Any] | None
             ) -> dict[str, Any]:
        row: dict[str, Any] = {"id": content_id, "vector": vector.tolist()}
        for name, (kind, nullable) in SCALARS.items():
            value = None if scalars is None else scalars.get(name)
            if nullable and self.presence_flags:
                row[PRESENCE_PREFIX + name] = value is not None
            if value is None and (not nullable or self.presence_flags):
                value = UNSYNCED_STATE if name == "state" and scalars is None else _DEFAULTS[kind]
            row[name] = None if value is None else (
                float(value) if kind == "float" else str(value)[:64] if kind == "str"
                else int(value))
        return row

    def update_scalars(self, scalars: Mapping[int, Mapping[str, Any]]) -> int:
        """Copy catalogue columns onto stored vectors; returns how many were stored."""
        ids = np.array(sorted(scalars), dtype=np.int64)
        updated = 0
        for start in range(0, len(ids), _BATCH):
            found, vectors = self.get(ids[start:start + _BATCH])
            rows = [self._row(int(i), vectors[n], scalars[int(i)])
                    for n, i in enumerate(found.tolist())]
            if rows:
                self.client.upsert(self.collection, rows)
            updated += len(rows)
        return updated

    def all_ids(self) -> np.ndarray:
        """Every stored content id, ascending."""
        return np.array(sorted(int(row["id"]) for row in self._query("", ["id"])),
                        dtype=np.int64)

    def unsynced_ids(self) -> np.ndarray:
        """Vectors added without catalogue columns (to copy at the next sync)."""
        rows = self._query(f"state == {UNSYNCED_STATE}", ["id"])
        return np.array(sorted(row["id"] for row in rows), dtype=np.int64)

    def remove(self, ids: np.ndarray) -> int:
        ids = _check_ids(ids)
        present = ids[self.present(ids)]
        for start in range(0, len(present), _BATCH):
            chunk = present[start:start + _BATCH].tolist()
            self.client.delete(self.collection, filter=f"id in {chunk}")
        return len(present)

    def save(self) -> None:
        self.client.flush(self.collection)

    # -- reads --------------------------------------------------------------------------

    def _query(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        try:
            iterator = self.client.query_iterator(self.collection, batch_size=_BATCH * 4,
                                                  filter=expr, output_fields=fields,
                                                  consistency_level=_READS)
        except Exception:  # noqa: BLE001 - a server or client without query iterators
            return self._query_by_id_ranges(expr, fields)
        while True:
            batch = iterator.next()
            if not batch:
                iterator.close()
                return rows
            rows.extend(batch)

    def _query_by_id_ranges(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching ``expr`` without an iterator: a query answers at most
        ``MAX_TOPK`` rows, so ids are read in ranges, a range that comes back full
        read again in halves."""
        rows: list[dict[str, Any]] = []
        wanted = list(dict.fromkeys(["id", *fields]))
        ranges = [(0, 1 << 62)]
        while ranges:
            low, high = ranges.pop()
            bounds = f"id >= {low} and id < {high}"
            found = self.client.query(self.collection, output_fields=wanted,
                                      filter=f"({expr}) and {bounds}" if expr else bounds,
                                      limit=MAX_TOPK, consistency_level=_READS)
            if len(found) >= MAX_TOPK and high - low > 1:
                middle = (low + high) // 2
                ranges += [(low, middle), (middle, high)]
                continue
            rows.extend(found)
        return rows

    def count(self, expr: str = "") -> int:
        """Stored vectors (matching ``expr``, a Milvus filter, when given)."""
        rows = self.client.query(self.collection, filter=expr, output_fields=["count(*)"],
                                 consistency_level=_READS)
        return int(rows[0]["count(*)"])

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = _check_ids(ids)
        by_id: dict[int, list[float]] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start:start + _BATCH].tolist()
            for row in self.client.query(self.collection, filter=f"id in {chunk}",
                                         output_fields=["id", "vector"],
                                         consistency_level=_READS):
                by_id[int(row["id"])] = row["vector"]
        found = np.array([i for i in ids.tolist() if i in by_id], dtype=np.int64)
        matrix = np.array([by_id[i] for i in found.tolist()], dtype=np.float32)
        return found, matrix.reshape(len(found), self.dimensions)

    def present(self, ids: np.ndarray) -> np.ndarray:
        ids = _check_ids(ids)
        known: set[int] = set()
        for start in range(0, len(ids), _BATCH * 10):
            chunk = ids[start:start + _BATCH * 10].tolist()
            known.update(int(row["id"]) for row in self.client.query(
                self.collection, filter=f"id in {chunk}", output_fields=["id"],
                consistency_level=_READS))
        return np.array([i in known for i in ids.tolist()], dtype=bool)

    def filter_expression(self, where: Any) -> str | None:
        """The Milvus expression for a query filter, or None when it needs the catalogue."""
        return milvus_filter(where, presence_flags=self.presence_flags)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               offset: int = 0, *, expr: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Ranks ``offset .. offset + k`` by inner product, among ``allowed`` ids and
        the rows matching ``expr`` (both applied inside Milvus' search)."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if len(vector) != self.dimensions:
            raise VectorStoreError(
                f"the store for model {self.model_id!r} holds {self.dimensions}-d vectors; "
                f"the query has {len(vector)}")
        if k <= 0 or (allowed is not None and len(allowed) == 0):
            return _empty()
        parts = [f"({expr})"] if expr else []
        if allowed is not None:
            parts.append(f"id in {_check_ids(allowed).tolist()}")
        filter_text = " and ".join(parts)
        if offset + k <= self.max_topk:
            return _arrays(self._hits(vector, offset, k, filter_text))
        return self._search_deep(vector, offset, k, filter_text)

    def _search_deep(self, vector: np.ndarray, offset: int, k: int, filter_text: str
                     ) -> tuple[np.ndarray, np.ndarray]:
        """A page past the server's hit limit (``maxTopK``, 16,384 by default).
        milvus-lite (and a server configured with a higher limit) answers the
        plain search; a server that refuses it is walked a limit's worth of hits
        at a time, each search leaving out the ids already ranked -- plain
        searches any Milvus version answers, unlike search iterators."""
        try:
            return _arrays(self._hits(vector, offset, k, filter_text))
        except Exception as exc:  # noqa: BLE001 - pymilvus' MilvusException
            if "topk" not in str(exc).lower() and "limit" not in str(exc).lower():
                raise
            log.info("Milvus refused a page at %d (%s); walking the ranking instead",
                     offset, exc)
        ranked: list[int] = []
        pairs: list[tuple[int, float]] = []
        while len(ranked) < offset + k:
            step = min(self.max_topk, offset + k - len(ranked))
            parts = [f"({filter_text})"] if filter_text else []
            if ranked:
                parts.append(f"id not in {ranked}")
            hits = self._hits(vector, 0, step, " and ".join(parts), passed=len(ranked))
            if not hits:
                break
            for content_id, score in hits:
                if len(ranked) >= offset:
                    pairs.append((content_id, score))
                ranked.append(content_id)
        # Each step is an approximate search: one may find a hit the step before
        # missed, scoring a little higher than its last. The page is in score order.
        return _arrays(sorted(pairs[:k], key=lambda pair: -pair[1]))

    def _hits(self, vector: np.ndarray, offset: int, k: int, filter_text: str, *,
              passed: int = 0) -> list[tuple[int, float]]:
        """Ranks ``offset .. offset + k``: (content id, score) pairs, one search.
        ``passed``: how many of the nearest the filter leaves out; the graph
        search must look past them too (HNSW finds too few otherwise)."""
        ef = min(max(self.ef_search, offset + k + passed), 32_768)
        params = {"metric_type": "IP", "params": {"ef": ef}}
        hits = self.client.search(self.collection, [vector.tolist()], limit=k,
                                  consistency_level=_READS,
                                  offset=offset, filter=filter_text,
                                  search_params=params, output_fields=["id"])[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]


def _arrays(pairs: Iterable[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    items = list(pairs)
    return (np.array([i for i, _ in items], dtype=np.int64),
            np.array([s for _, s in items], dtype=np.float32))


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def _check_ids(ids: np.ndarray) -> np.ndarray:
    return np.asarray(ids, dtype=np.int64).reshape(-1)
