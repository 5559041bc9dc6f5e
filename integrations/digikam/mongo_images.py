"""What the sidecars need from the MongoDB catalogue (``catalog.mdb``).

The same answers as :mod:`pximse.integrations.digikam.sqlite_images`, from the
collections described in :mod:`pximse.store.mongo.database`: the write
generation is the ``gen`` counter, and every content document a write touches
(tags, OCR text, files) carries the generation of that write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pximse.store.pathtext import os_path

__all__ = ["MongoImages"]


class MongoImages:
    """The catalogue's documents behind the sidecars."""

    def __init__(self, catalog: Any) -> None:
        self.mdb = catalog.mdb
        self.identity = f"mongodb:{self.mdb.name}"

    def write_generation(self) -> int:
        """The settled generation: every write up to it has finished, in this
        process and in the others (the daemon's indexer, a command), so a write
        still updating its documents is never half-seen."""
        return int(self.mdb.settled_generation())

    def changed_content_ids(self, since: int) -> list[int]:
        cursor = self.mdb.content.find({"gen": {"$gt": since}, "state": 1}, {"_id": 1})
        return sorted(int(doc["_id"]) for doc in cursor)

    def all_content_ids(self) -> list[int]:
        return sorted(int(doc["_id"]) for doc in self.mdb.content.find({"state": 1}, {"_id": 1}))

    def online_files(self, content_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        """``(path, content id, root name)`` of the contents' online files, by file id."""
        docs = sorted(self.mdb.files.find(
            {"state": "ok", "content_id": {"$in": list(content_ids)}},
            {"path": 1, "content_id": 1, "root_id": 1},
        ), key=lambda doc: doc["_id"])
        root_ids = sorted({doc["root_id"] for doc in docs})
        roots = {doc["_id"]: doc["name"] for doc in self.mdb.roots.find(
            {"_id": {"$in": root_ids}}, {"name": 1})}
        return [(os_path(doc["path"]), int(doc["content_id"]), roots[doc["root_id"]])
                for doc in docs if doc["root_id"] in roots]

    def tags(self, content_ids: Sequence[int]) -> dict[int, list[tuple[str, int, float]]]:
        """Each content's tags as ``(name, kind, score)``, one per origin."""
        found = {int(doc["_id"]): doc.get("tags") or [] for doc in self.mdb.content.find(
            {"_id": {"$in": list(content_ids)}}, {"tags": 1})}
        keys = sorted({t["key"] for rows in found.values() for t in rows})
        names = {doc["_id"]: doc["name"] for doc in self.mdb.tags.find(
            {"_id": {"$in": keys}}, {"name": 1})} if keys else {}
        tags: dict[int, list[tuple[str, int, float]]] = defaultdict(list)
        for content_id, rows in found.items():
            for t in rows:
                tags[content_id].append(
                    (names.get(t["key"], t["key"]), int(t["kind"]), float(t["score"])))
        return tags

    def about(self, content_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
        """Each content's source site and artist name."""
        return {int(doc["_id"]): (doc.get("source"), doc.get("user_name"))
                for doc in self.mdb.content.find({"_id": {"$in": list(content_ids)}},
                                                 {"source": 1, "user_name": 1})}

    def ocr_texts(self, content_ids: Sequence[int]) -> dict[int, str]:
        return {int(doc["_id"]): doc.get("text") or "" for doc in self.mdb.ocr.find(
            {"_id": {"$in": list(content_ids)}}, {"text": 1})}
