"""What the sidecars need from the MongoDB catalogue (``catalog.mdb``).

The same answers as :mod:`pximse.integrations.digikam.sqlite_images`, from the
collections described in :mod:`pximse.store.mongo.database`: the write
generation is the ``gen`` counter, and every content document a write touches
(tags, OCR text, files) carries the generation of that write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

__all__ = ["SETTLE_S", "MongoImages"]

SETTLE_S = 30.0
"""How long a write call may take, in any process (the daemon, its model worker,
a command): a generation read this long ago names only finished writes."""


class MongoImages:
    """The catalogue's documents behind the sidecars."""

    def __init__(self, catalog: Any) -> None:
        self.mdb = catalog.mdb
        self.identity = f"mongodb:{self.mdb.name}"

    @property
    def settle_s(self) -> float:
        """How long before the documents of a generation read now are final: a
        write in another process (the model worker, a command) takes no lock
        here and may still be updating its documents."""
        return SETTLE_S

    def write_generation(self) -> int:
        """The last generation whose writes are complete.

        MongoDB has no transaction to read in: a write takes its generation
        first and then updates its documents one by one. The catalogue's writes
        in this process hold the database's write lock, so the counter read
        under that lock names writes of this process that have all landed;
        writes of other processes are covered by :attr:`settle_s`.
        """
        lock = getattr(self.mdb, "_lock", None)
        with lock if lock is not None else nullcontext():
            return self.mdb.counter("gen")

    def changed_content_ids(self, since: int, upto: int | None = None) -> list[int]:
        gen: dict[str, int] = {"$gt": since}
        if upto is not None:
            gen["$lte"] = upto
        cursor = self.mdb.content.find({"gen": gen, "state": 1}, {"_id": 1})
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
        return [(doc["path"], int(doc["content_id"]), roots[doc["root_id"]])
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
