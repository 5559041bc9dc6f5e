"""The MongoDB catalogue's reads: searches, one image, tags, status."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pximse.query.ast import Nearest, Query, SortKey, walk
from pximse.query.errors import QueryError
from pximse.store.duplicates import resolve_duplicates
from pximse.store.listing import ResultDetails
from pximse.store.mongo import listings
from pximse.store.mongo.compiler import RANDOM_MODULUS, MongoCompiler
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.documents import PROJECTION, summary_from_doc
from pximse.store.mongo.pixiv import work_from_doc
from pximse.store.mongo.vectorsync import filtered_in_store
from pximse.store.pathtext import os_path, readable
from pximse.store.records import FileEntry, ImageDetail, ImageSummary, SearchPage, TagEntry
from pximse.store.records import epoch_to_iso as iso
from pximse.store.sqlite.ocrindex import OcrLine
from pximse.store.tagnames import tag_key
from pximse.store.text import TextStore, ranked_page, ranking_of, resolve_words
from pximse.store.vector_pages import page_of, rank_within

DEFAULT_SORT = (SortKey("date", descending=True),)
SEARCHABLE = {"state": {"$in": [0, 1]}}
_KIND_NAMES = {0: "model", 1: "source", 2: "manual"}


class MongoReads:
    """Read-only calls; the base of :class:`MongoCatalog`, which adds the writes."""

    def __init__(self, database: MongoDatabase, *, tag_threshold: float = 0.5,
                 dupe_distance: int = 4) -> None:
        self.mdb = database
        self.tag_threshold = tag_threshold
        self.dupe_distance = dupe_distance
        self.compiler = MongoCompiler(tag_threshold)
        self.text_store: TextStore | None = None
        """What answers word searches (``m;``, ``mt;``): Meilisearch, or None."""

    # -- ids --------------------------------------------------------------------

    def content_ids(self, sha256s: Iterable[str | None]) -> dict[str, int]:
        wanted = sorted({s for s in sha256s if s})
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 1000):
            found.update((doc["sha256"], int(doc["_id"])) for doc in self.mdb.content.find(
                {"sha256": {"$in": wanted[start:start + 1000]}}, {"sha256": 1}))
        return found

    def content_id_for(self, sha256: str) -> int | None:
        doc = self.mdb.content.find_one({"sha256": sha256.lower()}, {"_id": 1})
        return None if doc is None else int(doc["_id"])

    def content_id_of(self, prefix: str, key: str = "similar") -> int:
        docs = list(self.mdb.content.find(
            {"sha256": {"$gte": prefix, "$lt": prefix + "g"}}, {"_id": 1}).sort(
            "sha256", 1).limit(2))
        if not docs:
            raise QueryError(f"{key}: no image has an id starting with {prefix}")
        if len(docs) > 1:
            raise QueryError(f"{key}: {prefix} is the start of several image ids; "
                             "give more digits")
        return int(docs[0]["_id"])

    def phashes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        docs = list(self.mdb.content.find({**SEARCHABLE, "phash": {"$ne": None}},
                                          {"phash": 1, "phash_version": 1}).sort("_id", 1))
        return (np.array([d["_id"] for d in docs], dtype=np.int64),
                np.array([d["phash"] for d in docs], dtype=np.int64),
                np.array([d.get("phash_version") or 1 for d in docs], dtype=np.int8))

    def _resolved(self, query: Query) -> Query:
        """``query`` with its ``dupes:`` and word searches filled in."""
        return resolve_words(self.resolve_duplicates(query), self.text_store)

    def resolve_duplicates(self, query: Query,
                           similar: Callable[[int], np.ndarray] | None = None) -> Query:
        where = resolve_duplicates(
            query.where, lambda value: self.content_id_of(value, "dupes"), self.phashes,
            self.dupe_distance, similar)
        return query if where is query.where else Query(where, query.sort)

    # -- tags ---------------------------------------------------------------------

    def tag_counts(self, keys: Sequence[str]) -> dict[str, int]:
        counts = {doc["_id"]: int(doc["count"])
                  for doc in self.mdb.tags.find({"_id": {"$in": list(keys)}})}
        counts[""] = self.mdb.counter("content")
        return counts

    def tags_with_prefix(self, prefix: str, limit: int = 20) -> list[tuple[str, int]]:
        key = tag_key(prefix)
        selector: dict[str, Any] = {"count": {"$gt": 0}}
        if key:
            selector["_id"] = {"$gte": key, "$lt": key[:-1] + chr(ord(key[-1]) + 1)}
        docs = self.mdb.tags.find(selector).sort([("count", -1), ("_id", 1)]).limit(limit)
        return [(doc["name"], int(doc["count"])) for doc in docs]

    # -- searching ------------------------------------------------------------------

    def _where(self, query: Query) -> dict[str, Any]:
        if any(isinstance(node, Nearest) for node in walk(query.where)):
            raise QueryError(
                "clip: and similar: need the CLIP vector search; search through the API or "
                "`pximse search`, whose planner runs them with the catalogue's filters")
        where = self.compiler.filter(query.where)
        return {"$and": [SEARCHABLE, where]} if where else dict(SEARCHABLE)

    def _ordered(self, match: dict[str, Any], sort: tuple[SortKey, ...], seed: int, *,
                 skip: int, limit: int | None, projection: dict[str, int],
                 timeout_ms: int) -> list[dict[str, Any]]:
        if limit == 0:
            return []
        computed, spec = self.compiler.sort(sort, seed)
        try:
            if not computed:
                cursor = self.mdb.content.find(match, projection).sort(spec).skip(skip)
                if limit is not None:
                    cursor = cursor.limit(limit)
                return list(cursor.max_time_ms(timeout_ms))
            stages: list[dict[str, Any]] = [
                {"$match": match}, {"$addFields": computed}, {"$sort": dict(spec)}]
            if skip:
                stages.append({"$skip": skip})
            if limit is not None:
                stages.append({"$limit": limit})
            stages.append({"$project": projection})
            return list(self.mdb.content.aggregate(stages, allowDiskUse=True,
                                                   maxTimeMS=timeout_ms))
        except Exception as exc:
            if type(exc).__name__ == "ExecutionTimeout":
                raise QueryError(f"the query took longer than {timeout_ms} ms; "
                                 "make it more specific") from exc
            raise

    def search(self, query: Query, *, limit: int = 50, offset: int = 0, seed: int = 0,
               timeout_ms: int = 5000, count: bool = True) -> SearchPage:
        import time

        started = time.perf_counter()
        query = self._resolved(query)
        ranking = ranking_of(query)
        if ranking is not None:
            return ranked_page(self, query, ranking, limit=limit, offset=offset,
                               timeout_ms=timeout_ms)
        match = self._where(query)
        docs = self._ordered(match, query.sort or DEFAULT_SORT, seed % RANDOM_MODULUS,
                             skip=offset, limit=limit, projection=PROJECTION,
                             timeout_ms=timeout_ms)
        if not count:
            total = -1
        elif offset == 0 and len(docs) < limit:
            total = len(docs)
        else:
            total = int(self.mdb.content.count_documents(match, maxTimeMS=timeout_ms))
        return SearchPage(total=total, offset=offset, limit=limit,
                          items=[summary_from_doc(doc) for doc in docs],
                          elapsed_ms=(time.perf_counter() - started) * 1000)

    def _filtered(self, query: Query, seed: int, timeout_ms: int, *, ordered: bool
                  ) -> np.ndarray:
        match = self._where(query)
        if not ordered:
            ids = [doc["_id"] for doc in self.mdb.content.find(match, {"_id": 1}).max_time_ms(
                timeout_ms)]
            return np.array(sorted(ids), dtype=np.int64)
        docs = self._ordered(match, query.sort, seed % RANDOM_MODULUS, skip=0, limit=None,
                             projection={"_id": 1}, timeout_ms=timeout_ms)
        return np.array([doc["_id"] for doc in docs], dtype=np.int64)

    def filtered_ids(self, query: Query, timeout_ms: int = 5000) -> np.ndarray:
        """Every content id the filter lets through, ascending."""
        return self._filtered(self._resolved(Query(query.where)), 0, timeout_ms,
                              ordered=False)

    def search_near(self, query: Query, query_vector: np.ndarray, vectors: Any, *,
                    limit: int = 50, offset: int = 0, seed: int = 0,
                    timeout_ms: int = 5000) -> tuple[SearchPage, list[float]]:
        """``query`` (a filter) inside a vector search, as ``SqliteCatalog.search_near``."""
        import time

        started = time.perf_counter()
        query = self._resolved(query)
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        expr = None if query.sort else filtered_in_store(self.mdb, vectors, query.where)
        if expr is not None:
            # Milvus filters on its copy of the columns, inside the search.
            page_ids, scores = vectors.search(vector, limit, offset=offset, expr=expr)
            pairs = list(zip(page_ids.tolist(), scores.tolist(), strict=True))
            return page_of(pairs, self.summaries(page_ids.tolist()), total=vectors.count(expr),
                           offset=offset, limit=limit, started=started)
        ids = self._filtered(query, seed, timeout_ms, ordered=bool(query.sort))
        present = ids[vectors.present(ids)] if len(ids) else ids
        pairs = rank_within(present, vector, vectors, ordered=bool(query.sort), limit=limit,
                            offset=offset)
        return page_of(pairs, self.summaries([cid for cid, _ in pairs]), total=len(present),
                       offset=offset, limit=limit, started=started)

    def summaries(self, ids: Sequence[int]) -> dict[int, ImageSummary]:
        found: dict[int, ImageSummary] = {}
        wanted = [int(i) for i in ids]
        for start in range(0, len(wanted), 1000):
            for doc in self.mdb.content.find({"_id": {"$in": wanted[start:start + 1000]}},
                                             PROJECTION):
                found[int(doc["_id"])] = summary_from_doc(doc)
        return found

    # -- one image ----------------------------------------------------------------------

    def ocr_lines(self, content_id: int) -> tuple[str, list[OcrLine]] | None:
        doc = self.mdb.ocr.find_one({"_id": content_id})
        if doc is None:
            return None
        return doc["model_id"], [(text, box, conf) for text, box, conf in doc["lines"]]

    def image(self, sha256: str) -> ImageDetail | None:
        doc = self.mdb.content.find_one({"sha256": sha256.lower()})
        if doc is None:
            return None
        detail = ImageDetail(**summary_from_doc(doc).__dict__)
        detail.sha256 = doc["sha256"]
        phash = doc.get("phash")
        detail.phash = None if phash is None else f"{phash & 0xFFFFFFFFFFFFFFFF:016x}"
        detail.title = doc.get("title")
        roots = {r["_id"]: r["name"] for r in self.mdb.roots.find({}, {"name": 1})}
        files = {f["_id"]: f for f in self.mdb.files.find({"content_id": doc["_id"]})}
        detail.paths = [
            FileEntry(readable(f["path"]), roots.get(files[e["id"]]["root_id"], ""),
                      files[e["id"]]["size"], iso(files[e["id"]]["mtime_ns"] // 1_000_000_000),
                      f["state"])
            for e in doc.get("files", []) if (f := files.get(e["id"])) is not None]
        names = {t["_id"]: t["name"] for t in self.mdb.tags.find(
            {"_id": {"$in": [t["key"] for t in doc.get("tags", [])]}}, {"name": 1})}
        rows = sorted(doc.get("tags", []), key=lambda t: (t["kind"], -t["score"], t["key"]))
        detail.tags = [TagEntry(names.get(t["key"], t["key"]), t["origin"],
                                _KIND_NAMES.get(t["kind"], "source"), round(t["score"], 4))
                       for t in rows]
        ocr = self.mdb.ocr.find_one({"_id": doc["_id"]})
        if ocr is not None:
            detail.ocr_text = ocr["text"]
            detail.ocr_model = ocr["model_id"]
            detail.ocr_lines = [{"text": t, "box": box, "confidence": conf}
                                for t, box, conf in ocr["lines"]]
        if detail.source == "pixiv" and detail.post_id:
            work = self.mdb.db["pixiv_work"].find_one({"_id": detail.post_id})
            detail.pixiv = None if work is None else work_from_doc(work).to_json()
        detail.stages = [{"stage": stage, "model_id": s["model_id"], "status": s["status"],
                          "error": s.get("error")}
                         for stage, s in sorted(doc.get("stages", {}).items())]
        return detail

    def image_sizes(self, content_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        docs = self.mdb.content.find({"_id": {"$in": [int(c) for c in content_ids]}},
                                     {"width": 1, "height": 1})
        return {int(d["_id"]): (int(d["width"]), int(d["height"])) for d in docs}

    def file_for(self, sha256: str) -> tuple[str, str] | None:
        doc = self.mdb.content.find_one({"sha256": sha256.lower()}, {"_id": 1, "format": 1})
        if doc is None:
            return None
        found = list(self.mdb.files.find({"content_id": doc["_id"], "state": "ok"},
                                         {"path": 1}).sort("_id", 1).limit(1))
        return (os_path(found[0]["path"]), doc["format"]) if found else None

    def result_details(self, sha256s: Sequence[str], min_model_score: float = 0.0
                       ) -> dict[str, ResultDetails]:
        return listings.result_details(self.mdb, sha256s, min_model_score)

    def recorded_file_at(self, root: str, relative: Sequence[str]
                         ) -> tuple[str, tuple[str, str, int, int, str]] | None:
        return listings.recorded_file_at(self.mdb, root, relative)

    def recorded_files(self, sha256: str) -> list[tuple[str, str, int, int, str]]:
        doc = self.mdb.content.find_one({"sha256": sha256.lower()}, {"_id": 1, "format": 1})
        if doc is None:
            return []
        files = list(self.mdb.files.find(
            {"content_id": doc["_id"], "state": "ok"},
            {"path": 1, "size": 1, "mtime_ns": 1, "root_id": 1}).sort("_id", 1).limit(16))
        roots = {r["_id"]: r["path"] for r in self.mdb.roots.find(
            {"_id": {"$in": sorted({f["root_id"] for f in files})}}, {"path": 1})}
        return [(os_path(f["path"]), doc["format"], int(f["size"]), int(f["mtime_ns"]),
                 os_path(roots.get(f["root_id"], ""))) for f in files]

    def status(self, *, errors: int = 20) -> dict[str, Any]:
        content = _group_count(self.mdb.content, "state")
        files = _group_count(self.mdb.files, "state")
        roots = [{"name": r["name"], "path": readable(r["path"]), "online": bool(r["online"]),
                  "offline_reason": None if r["online"] else r.get("offline_reason"),
                  "last_scan": iso(r["last_scan_ns"] // 1_000_000_000)
                  if r.get("last_scan_ns") else None,
                  "files": int(self.mdb.files.count_documents({"root_id": r["_id"]}))}
                 for r in self.mdb.roots.find().sort("name", 1)]
        recent = [{"path": readable(f["path"]), "reason": f.get("reason"),
                   "message": f.get("error")}
                  for f in self.mdb.files.find({"state": "error"}).sort(
                      "seen_ns", -1).limit(errors)]
        stages: dict[str, dict[str, dict[str, int]]] = {}
        for doc in self.mdb.content.find({"stages": {"$ne": {}}}, {"stages": 1}):
            for stage, s in doc.get("stages", {}).items():
                counts = stages.setdefault(stage, {}).setdefault(s["model_id"], {})
                counts[s["status"]] = counts.get(s["status"], 0) + 1
        return {
            "stages": stages,
            "images": content.get(1, 0) + content.get(0, 0),
            "images_online": content.get(1, 0),
            "images_offline": content.get(0, 0),
            "files": sum(files.values()),
            "files_by_state": files,
            "errors": files.get("error", 0),
            "tags": int(self.mdb.tags.count_documents({"count": {"$gt": 0}})),
            "roots": roots,
            "recent_errors": recent,
        }

    def work_page_counts(self, keys: Sequence[str]) -> dict[str, int]:
        """Searchable images per work key (the pages of a multi-page post)."""
        return {doc["_id"]: int(doc["n"]) for doc in self.mdb.content.aggregate([
            {"$match": {**SEARCHABLE, "work_key": {"$in": list(keys)}}},
            {"$group": {"_id": "$work_key", "n": {"$sum": 1}}}])}

    def root_paths(self) -> list[tuple[str, str]]:
        return [(r["name"], os_path(r["path"])) for r in self.mdb.roots.find().sort("name", 1)]


def _group_count(collection: Any, key: str) -> dict[Any, int]:
    return {doc["_id"]: int(doc["n"]) for doc in collection.aggregate(
        [{"$group": {"_id": f"${key}", "n": {"$sum": 1}}}])}
