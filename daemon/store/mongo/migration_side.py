"""The MongoDB catalogue as migration records (see pximse.store.migration.records)."""

from __future__ import annotations

from typing import Any

from pximse.store.migration.records import COLUMNS, CONTENT_COLUMNS, Record
from pximse.store.mongo.compiler import ascii_lower
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.documents import file_fields
from pximse.store.mongo.ocrgrams import text_grams
from pximse.store.sqlite.ocrindex import fold

_COLLECTIONS = {"root": "roots", "folder_state": "folder_state", "file": "files",
                "tag": "tags", "content": "content", "pixiv_work": "pixiv_work",
                "pixiv_error": "pixiv_error", "pixiv_user_name": "pixiv_user_name"}
_ID_FIELD = {"root": "id", "folder_state": "folder", "file": "id", "tag": "key",
             "content": "id", "pixiv_work": "illust_id", "pixiv_error": "illust_id"}
"""The record field stored as ``_id`` (pixiv_user_name's ``_id`` joins its two keys)."""


def _to_record(kind: str, doc: dict[str, Any]) -> Record:
    record = {name: doc.get(name) for name in COLUMNS[kind]}
    if kind in _ID_FIELD:
        record[_ID_FIELD[kind]] = doc["_id"]
    if kind == "pixiv_work":
        record["tags"] = doc.get("tags") or []
    return record


class MongoSide:
    def __init__(self, database: MongoDatabase) -> None:
        self.mdb = database
        self.name = f"MongoDB database {database.name}"

    def _collection(self, kind: str) -> Any:
        return self.mdb.db[_COLLECTIONS[kind]]

    # -- reading ------------------------------------------------------------------------

    def read(self, kind: str, after: tuple[Any, ...] | None, limit: int) -> list[Record]:
        collection = self._collection(kind)
        if kind == "pixiv_user_name":
            selector: dict[str, Any] = {}
            if after is not None:
                selector = {"$or": [{"user_id": {"$gt": after[0]}},
                                    {"user_id": after[0], "name": {"$gt": after[1]}}]}
            docs = collection.find(selector).sort([("user_id", 1), ("name", 1)]).limit(limit)
        else:
            selector = {} if after is None else {"_id": {"$gt": after[0]}}
            docs = collection.find(selector).sort("_id", 1).limit(limit)
        records = []
        for doc in docs:
            record = _to_record(kind, doc)
            if kind == "content":
                self._complete_content(record, doc)
            records.append(record)
        if kind == "content" and records:
            texts = {d["_id"]: d for d in self.mdb.ocr.find(
                {"_id": {"$in": [r["id"] for r in records]}})}
            for record in records:
                ocr = texts.get(record["id"])
                record["ocr"] = None if ocr is None else {
                    "model_id": ocr["model_id"], "text": ocr["text"],
                    "lines": [list(line) for line in ocr["lines"]]}
        return records

    @staticmethod
    def _complete_content(record: Record, doc: dict[str, Any]) -> None:
        record["tags"] = sorted([t["key"], t["origin"], t["kind"], t["score"]]
                                for t in doc.get("tags", []))
        record["stages"] = sorted([stage, s["model_id"], s["status"], s.get("error"),
                                   s["updated_ns"]]
                                  for stage, s in (doc.get("stages") or {}).items())

    def count(self, kind: str) -> int:
        return int(self._collection(kind).count_documents({}))

    def counters(self) -> dict[str, int]:
        found = {}
        for name, kind in (("root", "root"), ("file", "file"), ("content", "content")):
            top = list(self._collection(kind).find({}, {"_id": 1}).sort("_id", -1).limit(1))
            found[name] = int(top[0]["_id"]) if top else 0
        found["gen"] = self.mdb.counter("gen")
        return found

    # -- writing ------------------------------------------------------------------------

    @staticmethod
    def _replace(collection: Any, docs: list[dict[str, Any]]) -> None:
        """Replace a batch: delete the batch's key range, then insert (two requests; a
        crash between them loses nothing the resumed copy does not write again, as
        the checkpoint moves only after both). Batches come in key order, so the
        range holds exactly this batch's keys, and a range is cheaper to match than
        a list of keys."""
        collection.delete_many({"_id": _key_range(docs)})
        collection.insert_many(docs, ordered=False)

    def write(self, kind: str, records: list[Record]) -> None:
        if not records:
            return
        if kind == "content":
            self._write_content(records)
            return
        docs = []
        for record in records:
            doc = dict(record)
            if kind == "pixiv_user_name":
                doc["_id"] = f"{record['user_id']}\x00{record['name']}"
            else:
                doc["_id"] = doc.pop(_ID_FIELD[kind])
            if kind == "tag":
                doc["gen"] = 0
            docs.append(doc)
        self._replace(self._collection(kind), docs)

    def _write_content(self, records: list[Record]) -> None:
        ids = [r["id"] for r in records]
        files: dict[int, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for found in self.mdb.files.find(
                {"content_id": {"$gte": ids[0], "$lte": ids[-1]}},
                {"path": 1, "folder": 1, "name": 1, "state": 1, "content_id": 1}):
            if found["content_id"] in files:
                files[found["content_id"]].append(found)
        contents, texts = [], []
        for record in records:
            doc: dict[str, Any] = {name: record[name] for name in CONTENT_COLUMNS if name != "id"}
            doc["_id"] = record["id"]
            name, title = record["user_name"], record["title"]
            ocr = record["ocr"]
            doc.update(
                user_ci=None if name is None else ascii_lower(name),
                title_cf=None if title is None else title.casefold(),
                tags=[{"key": k, "origin": o, "kind": kind, "score": s}
                      for k, o, kind, s in record["tags"]],
                stages={stage: {"model_id": model, "status": status, "error": error,
                                "updated_ns": updated}
                        for stage, model, status, error, updated in record["stages"]},
                ocr_folded=None if ocr is None else fold(ocr["text"]),
                ocr_grams=None if ocr is None else text_grams(fold(ocr["text"])),
                **file_fields(files[record["id"]]))
            contents.append(doc)
            if ocr is not None:
                texts.append({"_id": record["id"], "model_id": ocr["model_id"],
                              "text": ocr["text"], "lines": ocr["lines"]})
        self._replace(self.mdb.content, contents)
        self.mdb.ocr.delete_many({"_id": _key_range(contents)})
        if texts:
            self.mdb.ocr.insert_many(texts, ordered=False)

    # -- bookkeeping --------------------------------------------------------------------

    def checkpoint(self, kind: str) -> tuple[Any, ...] | None:
        doc = self.mdb.meta.find_one({"_id": f"migrate:{kind}"})
        return None if doc is None else tuple(doc["key"])

    def set_checkpoint(self, kind: str, key: tuple[Any, ...] | None) -> None:
        if key is None:
            self.mdb.meta.delete_one({"_id": f"migrate:{kind}"})
        else:
            self.mdb.meta.replace_one({"_id": f"migrate:{kind}"},
                                      {"_id": f"migrate:{kind}", "key": list(key)}, upsert=True)

    def is_empty(self) -> bool:
        return all(self._collection(kind).find_one({}, {"_id": 1}) is None
                   for kind in ("root", "file", "content", "tag"))

    def clear(self) -> None:
        for kind in _COLLECTIONS:
            self._collection(kind).delete_many({})
        self.mdb.ocr.delete_many({})
        self.mdb.meta.delete_many({"_id": {"$regex": "^migrate:"}})

    def finish(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            self.mdb.raise_counter(name, value)


def _key_range(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$gte": docs[0]["_id"], "$lte": docs[-1]["_id"]}
