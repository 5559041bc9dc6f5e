"""The Hydrus push's reads on the MongoDB catalogue (see
:mod:`~pximse.integrations.hydrus.catalog_reads` for what each one answers).

A content document carries the image's tags (keys; the names are in the
``tags`` collection), its state and the write generation that last changed it;
OCR text is in ``ocr`` and files in ``files``.

MongoDB has no multi-document transactions: a write call stamps its documents
one after another with its generation, and the daemon and its indexer write
at the same time, so a read may see part of a write still under way.
:meth:`MongoHydrusReads.changed_since` therefore reports as seen only the
generations every write up to which had finished before the read
(``MongoDatabase.settled_generation``): the images of a write under way are
read again next time (an unchanged payload costs no request to Hydrus), and
none is missed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pximse.integrations.hydrus.catalog_reads import (
    PayloadRow,
    add_md5s,
    md5_wanted,
    ocr_line_scores,
)
from pximse.store.pathtext import os_path

__all__ = ["MongoHydrusReads"]

CHUNK = 1000
LISTED = {"state": {"$gte": 0}}
"""Images with results: present (1) or offline (0), not those without files (-1)."""


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    values = [int(i) for i in ids]
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


class MongoHydrusReads:
    def __init__(self, mdb: Any) -> None:
        self.mdb = mdb

    def count_images(self) -> int:
        return int(self.mdb.content.count_documents(LISTED))

    def image_ids_after(self, after: int, limit: int) -> list[int]:
        cursor = self.mdb.content.find({**LISTED, "_id": {"$gt": int(after)}},
                                       {"_id": 1}).sort("_id", 1).limit(int(limit))
        return [int(doc["_id"]) for doc in cursor]

    def changed_since(self, gen: int) -> tuple[int, list[int]]:
        settled = self.mdb.settled_generation()  # before reading: all of it is visible
        docs = self.mdb.content.find({**LISTED, "gen": {"$gt": int(gen)}},
                                     {"_id": 1}).sort("_id", 1)
        return max(gen, settled), [int(doc["_id"]) for doc in docs]

    def sha256s(self, ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in _chunks(ids):
            found.update((int(doc["_id"]), doc["sha256"]) for doc in self.mdb.content.find(
                {"_id": {"$in": chunk}}, {"sha256": 1}))
        return found

    def payload_rows(self, ids: Sequence[int], *, notes: bool) -> dict[int, PayloadRow]:
        rows: dict[int, PayloadRow] = {}
        keys: dict[int, list[dict[str, Any]]] = {}
        for chunk in _chunks(ids):
            for doc in self.mdb.content.find(
                    {"_id": {"$in": chunk}},
                    {"sha256": 1, "source": 1, "user_id": 1, "user_name": 1, "post_id": 1,
                     "tags": 1}):
                content_id = int(doc["_id"])
                rows[content_id] = PayloadRow(doc["sha256"], doc.get("source") or "other",
                                              doc.get("user_id"), doc.get("user_name"),
                                              doc.get("post_id"))
                keys[content_id] = doc.get("tags") or []
        names = self._tag_names({t["key"] for tags in keys.values() for t in tags})
        for content_id, tags in keys.items():
            rows[content_id].tags = [(names.get(t["key"], t["key"]), t["origin"],
                                      int(t["kind"]), float(t["score"])) for t in tags]
        if wanted := md5_wanted(rows):
            for chunk in _chunks(wanted):
                add_md5s(rows, ((int(doc["content_id"]), doc["name"]) for doc in
                                self.mdb.files.find({"content_id": {"$in": chunk}},
                                                    {"content_id": 1, "name": 1})))
        if notes:
            for chunk in _chunks(list(rows)):
                for doc in self.mdb.ocr.find({"_id": {"$in": chunk}}, {"text": 1, "lines": 1}):
                    rows[int(doc["_id"])].note = doc.get("text")
                    rows[int(doc["_id"])].note_lines = ocr_line_scores(doc.get("lines"))
        return rows

    def _tag_names(self, keys: set[str]) -> dict[str, str]:
        wanted = sorted(keys)
        names: dict[str, str] = {}
        for start in range(0, len(wanted), CHUNK):
            names.update((doc["_id"], doc["name"]) for doc in self.mdb.tags.find(
                {"_id": {"$in": wanted[start:start + CHUNK]}}, {"name": 1}))
        return names

    def online_files(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        files: list[tuple[str, int]] = []
        for chunk in _chunks(ids):
            docs = self.mdb.files.find({"content_id": {"$in": chunk}, "state": "ok"},
                                       {"path": 1, "content_id": 1})
            files.extend((os_path(doc["path"]), int(doc["content_id"])) for doc in docs)
        shas = self.sha256s(sorted({cid for _, cid in files}))
        return [(path, shas[cid]) for path, cid in files if cid in shas]
