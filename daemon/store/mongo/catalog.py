"""The catalogue on MongoDB: the writes the scanner and the model pipeline make.

Same calls, same meaning as :class:`pximse.store.sqlite.catalog.SqliteCatalog`
(the differential tests feed both the same writes and compare every answer);
the reads and searches are in :mod:`pximse.store.mongo.reads`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pximse.store.content_fields import FILENAME_TAG_ORIGINS, KIND_MODEL, KIND_SOURCE
from pximse.store.mongo.content_reads import ContentReads
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.database import chunks as _chunks
from pximse.store.mongo.documents import file_fields, new_content, tag_count, user_fields
from pximse.store.mongo.ocrgrams import text_grams
from pximse.store.mongo.pixiv import MongoPixiv
from pximse.store.mongo.reads import MongoReads
from pximse.store.mongo.vectorsync import sync_vector_scalars
from pximse.store.mongo.worklists import MongoWorklists
from pximse.store.names import SourceInfo, parse_name
from pximse.store.pathtext import os_path, readable, stored_path
from pximse.store.records import iso_to_epoch
from pximse.store.scan_records import ScanBatch
from pximse.store.sqlite.ocrindex import OcrLine, fold, join_lines
from pximse.store.tagnames import tag_key
from pximse.store.text import TextDocument, TextStore

_STAGE_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _stage_key(stage: str) -> str:
    if not stage or not set(stage) <= _STAGE_NAME_OK:
        raise ValueError(f"stage name {stage!r}: use lower-case letters, digits, _ and -")
    return f"stages.{stage}"


class MongoCatalog(MongoReads, ContentReads, MongoPixiv, MongoWorklists):
    """The catalogue in one MongoDB database (see :mod:`pximse.store.mongo.database`)."""

    copies_vector_scalars = True  # Milvus filters on columns copied from here

    def __init__(self, database: MongoDatabase, *, tag_threshold: float = 0.5,
                 dupe_distance: int = 4, text_store: TextStore | None = None) -> None:
        super().__init__(database, tag_threshold=tag_threshold, dupe_distance=dupe_distance)
        self.text_store = text_store
        """A :class:`pximse.store.meili.MeiliTextStore` that OCR text, titles and
        source tags are copied to as they are written (a failed copy raises), and
        that answers word searches; or None."""

    def text_documents(self, ids: Iterable[int]) -> list[TextDocument]:
        """The images as the text store keeps them: OCR text, title, source tags."""
        wanted = sorted({int(i) for i in ids})
        docs: list[TextDocument] = []
        for chunk in _chunks(wanted):
            texts = {d["_id"]: d["text"] for d in self.mdb.ocr.find({"_id": {"$in": chunk}})}
            found = {d["_id"]: d for d in self.mdb.content.find({"_id": {"$in": chunk}},
                                                                {"tags": 1, "title": 1})}
            keys = sorted({t["key"] for d in found.values() for t in d.get("tags", [])
                           if t["kind"] != KIND_MODEL})
            names = {t["_id"]: t["name"] for t in self.mdb.tags.find({"_id": {"$in": keys}})}
            for cid in chunk:
                if cid in found:
                    own = sorted({t["key"] for t in found[cid]["tags"]
                                  if t["kind"] != KIND_MODEL})
                    docs.append(TextDocument(cid, texts.get(cid, ""),
                                             found[cid].get("title") or "",
                                             tuple(names.get(key, key) for key in own),
                                             tuple(own)))
        return docs

    def _mirror_text(self, ids: Iterable[int]) -> None:
        if self.text_store is not None:
            self.text_store.put(self.text_documents(ids))

    @classmethod
    def connect(cls, uri: str, name: str = "pximse", **options: Any) -> MongoCatalog:
        return cls(MongoDatabase.connect(uri, name), **options)

    def close(self) -> None:
        self.mdb.close()

    def sync_vector_scalars(self, store: Any, *, full: bool = False) -> int:
        """Copy the filter columns that changed onto a Milvus store's vectors (the
        embedded store keeps none: nothing to copy)."""
        if not hasattr(store, "filter_expression"):
            return 0
        return sync_vector_scalars(self.mdb, store, full=full)

    def content_lookup(self) -> None:
        return None  # the scan hashes every file, then decodes the new ones

    def query_index(self) -> None:
        return None  # the server answers every query itself

    # -- roots ----------------------------------------------------------------

    def ensure_root(self, name: str, path: str) -> int:
        path = stored_path(path)
        with self.mdb.write():
            found = self.mdb.roots.find_one({"name": name})
            if found is None:
                root_id = self.mdb.next_ids("root")
                self.mdb.roots.insert_one({"_id": root_id, "name": name, "path": path,
                                           "online": 1, "last_scan_ns": None})
                return root_id
            if found["path"] != path:
                self.mdb.roots.update_one({"_id": found["_id"]}, {"$set": {"path": path}})
            return int(found["_id"])

    def set_root_online(self, root_id: int, online: bool, why: str | None = None) -> None:
        """A root that went missing keeps its files, marked offline; nothing is deleted."""
        with self.mdb.write():
            self.mdb.roots.update_one({"_id": root_id}, {"$set": {
                "online": int(online), "offline_reason": None if online else why}})
            if online:
                return
            selector = {"root_id": root_id, "state": "ok"}
            touched = {f["content_id"] for f in self.mdb.files.find(selector, {"content_id": 1})
                       if f.get("content_id") is not None}
            self.mdb.files.update_many(selector, {"$set": {"state": "offline"}})
            self._refresh_content(touched)

    def finish_root_scan(self, root_id: int,
                         signatures: Mapping[str, tuple[int, int, int]] | None = None,
                         vanished: Iterable[str] = (),
                         identity: tuple[int, str] | None = None) -> None:
        with self.mdb.write():
            fields: dict[str, Any] = {"online": 1, "offline_reason": None,
                                      "last_scan_ns": time.time_ns()}
            if identity is not None:
                fields.update(device=identity[0], mount=stored_path(identity[1]))
            self.mdb.roots.update_one({"_id": root_id}, {"$set": fields})
            for folder, (mtime_ns, count, total) in (signatures or {}).items():
                folder = stored_path(folder)
                self.mdb.folder_state.replace_one({"_id": folder}, {
                    "_id": folder, "root_id": root_id, "mtime_ns": mtime_ns, "files": count,
                    "stat_sum": str(total)}, upsert=True)
            gone = [stored_path(folder) for folder in vanished]
            if gone:
                self.mdb.folder_state.delete_many({"_id": {"$in": gone}})

    def root_identity(self, root_id: int) -> tuple[int, str] | None:
        doc = self.mdb.roots.find_one({"_id": root_id}, {"device": 1, "mount": 1})
        if doc is None or doc.get("device") is None or doc.get("mount") is None:
            return None
        return int(doc["device"]), os_path(doc["mount"])

    def root_sample(self, root_id: int, limit: int = 16) -> list[tuple[str, int, int]]:
        docs = self.mdb.files.find({"root_id": root_id, "state": {"$in": ["ok", "offline"]}},
                                   {"path": 1, "size": 1, "mtime_ns": 1}).limit(limit)
        return [(os_path(d["path"]), int(d["size"]), int(d["mtime_ns"])) for d in docs]

    def folder_signatures(self, root_id: int) -> dict[str, tuple[int, int, int]]:
        return {os_path(doc["_id"]): (doc["mtime_ns"], doc["files"], int(doc["stat_sum"]))
                for doc in self.mdb.folder_state.find({"root_id": root_id})}

    def folder_stats(self, folders: Iterable[str]) -> dict[str, int]:
        """Path -> ``stat_key(size, mtime_ns)`` of the catalogue's files in ``folders``."""
        found: dict[str, int] = {}
        for chunk in _chunks([stored_path(folder) for folder in folders]):
            for doc in self.mdb.files.find({"folder": {"$in": chunk}},
                                           {"path": 1, "size": 1, "mtime_ns": 1}):
                found[os_path(doc["path"])] = (doc["mtime_ns"] << 44) | doc["size"]
        return found

    def offline_files(self, root_id: int) -> dict[str, int]:
        return {os_path(doc["path"]): int(doc["_id"]) for doc in self.mdb.files.find(
            {"root_id": root_id, "state": "offline"}, {"path": 1})}

    def file_ids(self, paths: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks([stored_path(path) for path in paths]):
            found.update((os_path(doc["path"]), int(doc["_id"]))
                         for doc in self.mdb.files.find({"path": {"$in": chunk}}, {"path": 1}))
        return found

    # -- scan writes -----------------------------------------------------------

    def apply_scan_batch(self, batch: ScanBatch) -> None:
        now = time.time_ns()
        with self.mdb.write():
            known = self.content_ids(item.sha256 for item in batch.new_content)
            fresh = [item for item in _unique_by_sha(batch.new_content)
                     if item.sha256 not in known]
            if fresh:
                first = self.mdb.next_ids("content", len(fresh))
                self.mdb.content.insert_many([
                    new_content(first + k, item, self.mdb.gen, now)
                    for k, item in enumerate(fresh)])
            touched: set[int] = set()
            sha_ids = self.content_ids({f.sha256 for f in batch.files})
            paths = {f.path: stored_path(f.path) for f in batch.files}
            old_files = {doc["path"]: doc for doc in self.mdb.files.find(
                {"path": {"$in": list(paths.values())}})} if batch.files else {}
            for record in batch.files:
                content_id = (sha_ids.get(record.sha256)
                              if record.state == "ok" and record.sha256 else None)
                path = paths[record.path]
                folder, name = os.path.split(path)
                old = old_files.get(path)
                if old is not None and old.get("content_id") is not None:
                    touched.add(old["content_id"])
                fields = {"root_id": batch.root_id, "size": record.size,
                          "mtime_ns": record.mtime_ns, "content_id": content_id,
                          "state": record.state, "reason": record.reason,
                          "error": None if record.error is None else readable(record.error),
                          "seen_ns": now}
                if old is None:
                    self.mdb.files.insert_one({"_id": self.mdb.next_ids("file"),
                                               "path": path, "folder": folder,
                                               "name": name, **fields})
                else:
                    self.mdb.files.update_one({"_id": old["_id"]}, {"$set": fields})
                if content_id is not None:
                    touched.add(content_id)
            for ids in (batch.restored, batch.removed):
                if ids:
                    touched.update(doc["content_id"] for doc in self.mdb.files.find(
                        {"_id": {"$in": list(ids)}, "content_id": {"$ne": None}},
                        {"content_id": 1}))
            if batch.restored:
                self.mdb.files.update_many({"_id": {"$in": list(batch.restored)}},
                                           {"$set": {"state": "ok", "seen_ns": now}})
            if batch.removed:
                self.mdb.files.delete_many({"_id": {"$in": list(batch.removed)}})
            self._refresh_content(touched)
        self._mirror_text(touched)  # tags from file names are source tags too

    def _refresh_content(self, content_ids: Iterable[int]) -> None:
        """Recompute what a content document derives from its files (see SqliteCatalog)."""
        ids = sorted(set(content_ids))
        by_content: dict[int, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for chunk in _chunks(ids):
            for doc in self.mdb.files.find({"content_id": {"$in": chunk}}):
                by_content[doc["content_id"]].append(doc)
        for content_id in ids:
            files = sorted(by_content[content_id], key=lambda f: (f["state"] != "ok", f["_id"]))
            states = {f["state"] for f in files}
            state = 1 if "ok" in states else 0 if "offline" in states else -1
            info = SourceInfo(source="other")
            for doc in files:
                parsed = parse_name(os_path(doc["name"]),
                                    os.path.basename(os_path(doc["folder"])))
                if parsed.source != "other" or parsed.post_id:
                    info = parsed
                    break
            update: dict[str, Any] = {
                "state": state, "source": info.source, "user_id": info.user_id,
                **user_fields(info.user_name), "post_id": info.post_id, "page": info.page,
                "posted": iso_to_epoch(info.posted) if info.posted else None,
                "title": info.title,
                "title_cf": None if info.title is None else info.title.casefold(),
                "work_key": info.work_key, "gen": self.mdb.gen,
                **file_fields(files)}
            date = files[0]["mtime_ns"] // 1_000_000_000 if files else None
            if date is not None:
                update["date"] = date
            self.mdb.content.update_one({"_id": content_id}, {"$set": update})
            self.apply_pixiv(content_id, info, date)
            origin = info.source if info.source in FILENAME_TAG_ORIGINS else None
            doc = self.mdb.content.find_one({"_id": content_id}, {"tags": 1})
            stale = {t["origin"] for t in (doc or {}).get("tags", [])
                     if t["origin"] in FILENAME_TAG_ORIGINS}
            if origin is not None and info.tags:
                stale.add(origin)
            for known in sorted(stale):
                wanted = {tag: 1.0 for tag in info.tags} if known == origin else {}
                self._replace_tags(content_id, known, KIND_SOURCE, wanted)

    # -- tags -----------------------------------------------------------------

    def set_tags(self, content_id: int, origin: str, kind: int,
                 tags: Mapping[str, float]) -> None:
        with self.mdb.write():
            self._replace_tags(content_id, origin, kind, tags)
        if kind != KIND_MODEL:
            self._mirror_text([content_id])

    def set_model_tags_many(self, results: Iterable[tuple[int, str, Mapping[str, float]]]
                            ) -> None:
        with self.mdb.write():
            for content_id, model_id, tags in results:
                doc = self.mdb.content.find_one({"_id": content_id}, {"tags": 1}) or {}
                stale = {t["origin"] for t in doc.get("tags", [])
                         if t["kind"] == KIND_MODEL and t["origin"] != model_id}
                for origin in sorted(stale):
                    self._replace_tags(content_id, origin, KIND_MODEL, {})
                self._replace_tags(content_id, model_id, KIND_MODEL, tags)

    def _replace_tags(self, content_id: int, origin: str, kind: int,
                      tags: Mapping[str, float]) -> None:
        doc = self.mdb.content.find_one({"_id": content_id}, {"tags": 1})
        if doc is None:
            return
        current = doc.get("tags", [])
        if not tags and not any(t["origin"] == origin for t in current):
            return
        new: dict[str, float] = {}
        for name, score in tags.items():
            key = tag_key(name)
            if not key:
                continue
            self.mdb.tags.update_one({"_id": key}, {"$setOnInsert": {"name": name, "count": 0}},
                                     upsert=True)
            new[key] = max(float(score), new.get(key, 0.0))
        kept = [t for t in current if t["origin"] != origin]
        rows = kept + [{"key": key, "origin": origin, "kind": kind, "score": score}
                       for key, score in new.items()]
        had, has = {t["key"] for t in current}, {t["key"] for t in rows}
        self.mdb.content.update_one({"_id": content_id}, {"$set": {
            "tags": rows, "tagcount": tag_count(rows, self.tag_threshold), "gen": self.mdb.gen}})
        for key in had ^ has:
            self.mdb.tags.update_one({"_id": key}, {"$inc": {"count": 1 if key in has else -1},
                                                    "$set": {"gen": self.mdb.gen}})

    # -- model stages -----------------------------------------------------------

    def stage_done_ids(self, stage: str, model_id: str) -> np.ndarray:
        key = _stage_key(stage)
        ids = [doc["_id"] for doc in self.mdb.content.find(
            {f"{key}.model_id": model_id, f"{key}.status": "done"}, {"_id": 1})]
        return np.array(sorted(ids), dtype=np.int64)

    def forget_stage(self, stage: str, content_ids: Iterable[int]) -> None:
        ids = [int(cid) for cid in content_ids]
        with self.mdb.write():
            for chunk in _chunks(ids):
                self.mdb.content.update_many({"_id": {"$in": chunk}},
                                             {"$unset": {_stage_key(stage): ""}})

    def record_stages(self, results: Iterable[tuple[int, str, str, str | None]]) -> None:
        now = time.time_ns()
        with self.mdb.write():
            for content_id, stage, model_id, error in results:
                self.mdb.content.update_one({"_id": int(content_id)}, {"$set": {
                    _stage_key(stage): {"model_id": model_id,
                                        "status": "error" if error else "done",
                                        "error": error, "updated_ns": now}}})

    def record_stage(self, content_id: int, stage: str, model_id: str, *,
                     error: str | None = None) -> None:
        self.record_stages([(content_id, stage, model_id, error)])

    def pending_for_stage(self, stage: str, model_id: str, limit: int = 256, *,
                          after: int = 0) -> list[tuple[int, str]]:
        cursor = self.mdb.content.find(self._pending(stage, model_id, after),
                                       {"sha256": 1}).sort("_id", 1).limit(limit)
        return [(int(doc["_id"]), doc["sha256"]) for doc in cursor]

    def count_pending(self, stage: str, model_id: str) -> int:
        return int(self.mdb.content.count_documents(self._pending(stage, model_id, 0)))

    @staticmethod
    def _pending(stage: str, model_id: str, after: int) -> dict[str, Any]:
        return {"state": 1, "_id": {"$gt": after},
                f"{_stage_key(stage)}.model_id": {"$ne": model_id}}

    # -- OCR ------------------------------------------------------------------

    def set_ocr(self, content_id: int, model_id: str, lines: Sequence[OcrLine] | str) -> None:
        self.set_ocr_many([(content_id, model_id, lines)])

    def set_ocr_many(self, results: Iterable[tuple[int, str, Sequence[OcrLine] | str]]) -> None:
        written: list[int] = []
        with self.mdb.write():
            for content_id, model_id, lines in results:
                text, items = join_lines(lines)
                folded = fold(text)
                self.mdb.ocr.replace_one({"_id": content_id}, {
                    "_id": content_id, "model_id": model_id, "text": text,
                    "lines": [[t, _plain(box), conf] for t, box, conf in items]}, upsert=True)
                self.mdb.content.update_one({"_id": content_id}, {"$set": {
                    "textlen": len(text), "ocr_folded": folded,
                    "ocr_grams": text_grams(folded), "gen": self.mdb.gen}})
                written.append(content_id)
        self._mirror_text(written)


def _plain(box: Any) -> Any:
    """A box as nested lists of plain numbers (numpy values and tuples are not BSON)."""
    if isinstance(box, list | tuple | np.ndarray):
        return [_plain(v) for v in box]
    return box.item() if isinstance(box, np.generic) else box


def _unique_by_sha(items: Sequence[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.sha256 not in seen:
            seen.add(item.sha256)
            out.append(item)
    return out
