"""The MongoDB catalogue's work lists (see :mod:`pximse.store.sqlite.worklists`,
whose meaning these follow call for call)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.database import chunks as _chunks
from pximse.store.pathtext import os_path, stored_path

__all__ = ["MongoWorklists"]


class MongoWorklists:
    mdb: MongoDatabase

    def max_content_id(self) -> int:
        last = list(self.mdb.content.find({}, {"_id": 1}).sort("_id", -1).limit(1))
        return int(last[0]["_id"]) if last else 0

    def pending_in_class(self, stage: str, model_id: str, kind: str, *, after: int,
                         new_after: int, limit: int) -> list[tuple[int, str]]:
        key = f"stages.{stage}"
        if kind == "new":
            selector: dict[str, Any] = {"_id": {"$gt": max(after, new_after)},
                                        f"{key}.model_id": {"$ne": model_id}}
        elif kind == "backfill":
            selector = {"_id": {"$gt": after, "$lte": new_after}, key: {"$exists": False}}
        elif kind == "reindex":
            selector = {"_id": {"$gt": after, "$lte": new_after},
                        key: {"$exists": True}, f"{key}.model_id": {"$ne": model_id}}
        else:
            raise ValueError(f"unknown priority class {kind!r}")
        cursor = self.mdb.content.find({**selector, "state": 1}, {"sha256": 1}
                                       ).sort("_id", 1).limit(limit)
        return [(int(doc["_id"]), doc["sha256"]) for doc in cursor]

    def catalogued_stats(self, root_id: int, files: Iterable[str],
                         folders: Iterable[str]) -> dict[str, tuple[int, int]]:
        fields = {"path": 1, "size": 1, "mtime_ns": 1}
        docs: list[dict[str, Any]] = []
        for chunk in _chunks(sorted({stored_path(path) for path in files})):
            docs += self.mdb.files.find({"path": {"$in": chunk}}, fields)
        # Each folder and everything under it ('0' sorts right after the separator).
        under = [condition for folder in map(stored_path, folders) for condition in (
            {"folder": folder},
            {"folder": {"$gte": folder + os.sep, "$lt": folder + chr(ord(os.sep) + 1)}})]
        for chunk in _chunks(under):
            docs += self.mdb.files.find({"root_id": root_id, "$or": chunk}, fields)
        return {os_path(doc["path"]): (int(doc["size"]), int(doc["mtime_ns"])) for doc in docs}

    def gone_files(self, paths: Iterable[str]
                   ) -> list[tuple[str, int, int, int, str | None]]:
        docs: list[dict[str, Any]] = []
        for chunk in _chunks(sorted({stored_path(path) for path in paths})):
            docs += self.mdb.files.find({"path": {"$in": chunk}})
        readable = [d["content_id"] for d in docs
                    if d.get("state") == "ok" and d.get("content_id") is not None]
        shas: dict[int, str] = {}
        for chunk in _chunks(readable):
            shas.update((doc["_id"], doc["sha256"]) for doc in self.mdb.content.find(
                {"_id": {"$in": chunk}}, {"sha256": 1}))
        return [(os_path(d["path"]), int(d["_id"]), int(d["size"]), int(d["mtime_ns"]),
                 shas.get(d["content_id"]) if d.get("state") == "ok" else None)
                for d in docs]
