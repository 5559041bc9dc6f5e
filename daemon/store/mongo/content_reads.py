"""What the integrations (XMP sidecars, the Hydrus push) and the search page read
of many contents at once, from the collections of
:mod:`pximse.store.mongo.database`: the same answers as
:mod:`pximse.store.sqlite.content_reads` (the differential tests hold them to it).

A content document carries its tags (keys; the names are in ``tags``), its
state and the write generation that last changed it; OCR text is in ``ocr``,
files in ``files``. Each call reads in chunks of ids, one query a chunk.

MongoDB has no multi-document transactions: a write call stamps its documents
one after another with its generation, and the daemon and its indexer write at
the same time, so a read may see part of a write still under way.
:meth:`ContentReads.changed_since` therefore reports as seen only the
generations every write up to which had finished before the read
(``MongoDatabase.settled_generation``): the contents of a write under way are
read again next time, and none is missed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pximse.store.mongo.database import MongoDatabase, chunks
from pximse.store.pathtext import os_path
from pximse.store.records import ContentFile, ContentSource, ContentTag, OcrText, TagTally

_SEARCHABLE = {"state": {"$in": [0, 1]}}


def _listed(include_offline: bool) -> dict[str, Any]:
    """Contents with files: online (state 1), and offline ones (0) when asked."""
    return {"state": {"$gte": 0}} if include_offline else {"state": 1}


def _ids(content_ids: Iterable[int]) -> list[int]:
    return [int(cid) for cid in content_ids]


class ContentReads:
    """Mixed into :class:`~pximse.store.mongo.catalog.MongoCatalog`, which owns ``mdb``."""

    mdb: MongoDatabase

    def identity(self) -> str:
        return f"mongodb:{self.mdb.name}"

    def settled_generation(self) -> int:
        """Every write up to it has finished, in this process and in the others
        (the daemon's indexer, a command): a write still updating its documents is
        never half-seen."""
        return int(self.mdb.settled_generation())

    def changed_since(self, generation: int, *, include_offline: bool = True
                      ) -> tuple[int, list[int]]:
        settled = self.settled_generation()  # before reading: all of it is visible
        docs = self.mdb.content.find({**_listed(include_offline), "gen": {"$gt": int(generation)}},
                                     {"_id": 1}).sort("_id", 1)
        return max(int(generation), settled), [int(doc["_id"]) for doc in docs]

    def count_images(self, *, include_offline: bool = True) -> int:
        return int(self.mdb.content.count_documents(_listed(include_offline)))

    def content_ids_after(self, after: int = 0, limit: int | None = None, *,
                          include_offline: bool = True) -> list[int]:
        cursor = self.mdb.content.find({**_listed(include_offline), "_id": {"$gt": int(after)}},
                                       {"_id": 1}).sort("_id", 1)
        if limit is not None:
            cursor = cursor.limit(int(limit))
        return [int(doc["_id"]) for doc in cursor]

    def _sha256s(self, content_ids: list[int]) -> dict[int, str]:
        return {int(doc["_id"]): doc["sha256"] for doc in self.mdb.content.find(
            {"_id": {"$in": content_ids}}, {"sha256": 1})}

    def content_files(self, content_ids: Sequence[int], *, online_only: bool = True
                      ) -> list[ContentFile]:
        online = {"state": "ok"} if online_only else {}
        roots: dict[Any, str] | None = None
        found: list[ContentFile] = []
        for chunk in chunks(_ids(content_ids)):
            docs = list(self.mdb.files.find(
                {**online, "content_id": {"$in": chunk}},
                {"path": 1, "name": 1, "content_id": 1, "root_id": 1}).sort("_id", 1))
            if not docs:
                continue
            if roots is None:
                roots = {doc["_id"]: doc["name"] for doc in self.mdb.roots.find({}, {"name": 1})}
            shas = self._sha256s(sorted({int(doc["content_id"]) for doc in docs}))
            found += [ContentFile(int(doc["content_id"]), shas[int(doc["content_id"])],
                                  os_path(doc["path"]), doc["name"], roots[doc["root_id"]])
                      for doc in docs
                      if doc["root_id"] in roots and int(doc["content_id"]) in shas]
        return found

    def content_sources(self, content_ids: Sequence[int]) -> dict[int, ContentSource]:
        found: dict[int, ContentSource] = {}
        for chunk in chunks(_ids(content_ids)):
            for doc in self.mdb.content.find(
                    {"_id": {"$in": chunk}},
                    {"sha256": 1, "source": 1, "user_id": 1, "user_name": 1, "post_id": 1}):
                found[int(doc["_id"])] = ContentSource(
                    doc["sha256"], doc.get("source") or "other", doc.get("user_id"),
                    doc.get("user_name"), doc.get("post_id"))
        return found

    def content_tags(self, content_ids: Sequence[int]) -> dict[int, list[ContentTag]]:
        keys: dict[int, list[dict[str, Any]]] = {}
        for chunk in chunks(_ids(content_ids)):
            for doc in self.mdb.content.find({"_id": {"$in": chunk}}, {"tags": 1}):
                if doc.get("tags"):
                    keys[int(doc["_id"])] = doc["tags"]
        names = self._tag_names({t["key"] for tags in keys.values() for t in tags})
        return {content_id: [ContentTag(names.get(t["key"], t["key"]), t["origin"],
                                        int(t["kind"]), float(t["score"])) for t in tags]
                for content_id, tags in keys.items()}

    def _tag_names(self, keys: set[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for chunk in chunks(sorted(keys)):
            names.update((doc["_id"], doc["name"]) for doc in self.mdb.tags.find(
                {"_id": {"$in": chunk}}, {"name": 1}))
        return names

    def ocr_texts(self, content_ids: Sequence[int], *, line_scores: bool = False
                  ) -> dict[int, OcrText]:
        fields = {"text": 1, "lines": 1} if line_scores else {"text": 1}
        found: dict[int, OcrText] = {}
        for chunk in chunks(_ids(content_ids)):
            for doc in self.mdb.ocr.find({"_id": {"$in": chunk}}, fields):
                lines = doc.get("lines") if line_scores else None
                found[int(doc["_id"])] = OcrText(doc.get("text") or "", None if lines is None else
                                                 tuple((str(line[0]), None if line[2] is None
                                                        else float(line[2])) for line in lines))
        return found

    def tag_tally(self, sha256s: Sequence[str], threshold: float) -> TagTally:
        counts: dict[str, int] = defaultdict(int)
        from_model: set[str] = set()
        artists: dict[tuple[str | None, str | None, str | None], int] = defaultdict(int)
        for chunk in chunks(sorted({sha.lower() for sha in sha256s}), 500):
            for doc in self.mdb.content.find({"sha256": {"$in": chunk}, **_SEARCHABLE},
                                             {"tags": 1, "user_name": 1, "user_id": 1,
                                              "source": 1}):
                keys = set()
                for tag in doc.get("tags", []):
                    if tag["kind"] != 0 or tag["score"] >= threshold:
                        keys.add(tag["key"])
                        if tag["kind"] == 0:
                            from_model.add(tag["key"])
                for key in keys:
                    counts[key] += 1
                if doc.get("user_name") is not None or doc.get("user_id") is not None:
                    artists[(doc.get("user_name"), doc.get("user_id"), doc.get("source"))] += 1
        names = self._tag_names(set(counts))
        return TagTally({names.get(key, key): (count, key in from_model)
                         for key, count in counts.items()}, dict(artists))

    def tags_containing(self, key: str, limit: int = 10) -> list[tuple[str, int]]:
        docs = self.mdb.tags.find(
            {"_id": {"$regex": re.escape(key)}, "count": {"$gt": 0}}
        ).sort([("count", -1), ("_id", 1)]).limit(limit)
        return [(doc["name"], int(doc["count"])) for doc in docs]

    def user_names_matching(self, word: str, limit: int = 10) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for pattern in ("^" + re.escape(word), re.escape(word)):
            rows = self.mdb.content.aggregate([
                {"$match": {"user_name": {"$regex": pattern, "$options": "i"}, **_SEARCHABLE}},
                {"$group": {"_id": "$user_name", "count": {"$sum": 1}}},
                {"$sort": {"count": -1, "_id": 1}}, {"$limit": limit}])
            found += [(row["_id"], int(row["count"])) for row in rows
                      if row["_id"] not in {name for name, _ in found}]
            if len(found) >= limit:
                break
        return found[:limit]
