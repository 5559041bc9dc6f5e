"""The MongoDB side of the catalogue: the client, the collections and their indexes.

Collections (one database per catalogue):

- ``content``: one document per distinct SHA-256, ``_id`` the content id (the
  same integers as SQLite's, so vector stores and migrations keep their keys).
  It carries every filter column, the tags (``tags``), the files' paths and
  folders (raw and case-folded), the case-folded OCR text and the per-stage
  model status (``stages``), so each query is one ``find`` on one collection.
- ``files``: one document per file (``_id`` the file id; ``path`` unique).
- ``roots``, ``folder_state``: the library roots and folder signatures.
- ``tags``: the tag dictionary (``_id`` the tag key; name, count).
- ``ocr``: each image's OCR text and lines with boxes.
- ``meta``: counters (content, file and root ids, the write generation).

MongoDB has no multi-document transactions on a standalone server, so each
write call is a sequence of idempotent single-document updates: a crash midway
leaves documents a rescan or the next model run puts right, never a broken one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pximse.config.uris import redact_uri
from pximse.store.mongo.documents import backfill_names
from pximse.store.mongo.ocrgrams import GRAMS_FIELD, backfill_grams

log = logging.getLogger(__name__)

OPEN_WRITE_STALE_S = 600.0
"""A write marked open for longer was left by a process that died."""

COLLECTIONS = ("meta", "roots", "content", "files", "tags", "ocr", "folder_state",
               "pixiv_work", "pixiv_error", "pixiv_user_name")

CONTENT_INDEXES: tuple[tuple[str, ...], ...] = (
    ("state", "date"), ("filesize",), ("width",), ("height",), ("ratio",), ("pixels",),
    ("date",), ("posted",), ("source", "post_id", "page"), ("user_id",), ("user_ci",),
    ("user_name",), ("page",), ("tagcount",), ("textlen",), ("format",), ("frames",),
    ("animated",), ("work_key",), ("gen",), ("path_min",), ("folder_min",), ("name_min",),
    ("tags.key", "tags.kind", "tags.score"), ("folders_cf",), ("phash",),
    ("pixiv_state",), ("views",), ("bookmarks",), ("likes",), ("comments",), ("ai",), ("r18",),
    ("title",),
)
"""Single-field and compound indexes for the query language's filters and sorts
(a tag query is an ``$elemMatch`` on ``tags.key``: multikey)."""


class MongoUnavailable(RuntimeError):
    """The MongoDB server cannot be reached or refused the credentials."""


class MongoDatabase:
    """One catalogue's database on a MongoDB server (or a mongomock client in tests)."""

    def __init__(self, client: Any, name: str, *, create_indexes: bool = True) -> None:
        """``create_indexes=False`` leaves the indexes out: only for mongomock filled
        with many documents (it checks each index on every insert by scanning the
        whole collection, so 100k documents would take hours); a server needs them."""
        self.client = client
        self.db = client[name]
        self.name = name
        self.gen = 0
        self._lock = threading.RLock()
        for collection in COLLECTIONS:
            setattr(self, collection, self.db[collection])
        self.writes_open = self.db["writes_open"]
        if create_indexes:
            self.ensure_indexes()

    meta: Any
    roots: Any
    content: Any
    files: Any
    tags: Any
    ocr: Any
    folder_state: Any

    @classmethod
    def connect(cls, uri: str, name: str, *, timeout_ms: int = 5000) -> MongoDatabase:
        """Connect with pymongo and check the server answers (a clear error if not)."""
        try:
            import pymongo
            from pymongo.errors import PyMongoError
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MongoUnavailable("the MongoDB catalogue needs pymongo: "
                                   "pip install 'pximse[server]'") from exc
        options: dict[str, Any] = {"tz_aware": False}
        if "serverselectiontimeoutms" not in uri.lower():  # the address's own wins
            options["serverSelectionTimeoutMS"] = timeout_ms
        client: Any = pymongo.MongoClient(uri, **options)
        try:
            client.admin.command("ping")
        except PyMongoError as exc:
            client.close()
            raise MongoUnavailable(
                f"cannot reach MongoDB at {redact_uri(uri)}: {type(exc).__name__}") from exc
        log.info("catalogue on MongoDB %s, database %s", redact_uri(uri), name)
        return cls(client, name)

    def ensure_indexes(self) -> None:
        for keys in CONTENT_INDEXES:
            self.content.create_index([(key, 1) for key in keys])
        self.content.create_index([("sha256", 1)], unique=True)
        self.content.create_index([(GRAMS_FIELD, 1)])
        backfill_grams(self.content)
        backfill_names(self.content, self.files)
        if _wildcard_ok(self.client):
            self.content.create_index([("stages.$**", 1)])
        self.files.create_index([("path", 1)], unique=True)
        self.files.create_index([("content_id", 1)])
        self.files.create_index([("root_id", 1), ("state", 1)])
        self.files.create_index([("folder", 1)])
        self.tags.create_index([("count", -1)])
        self.roots.create_index([("name", 1)], unique=True)
        self.folder_state.create_index([("root_id", 1)])
        self.db["pixiv_user_name"].create_index([("user_id", 1)])
        self.db["pixiv_work"].create_index([("state", 1), ("fetched_at", 1)])

    def next_ids(self, counter: str, count: int = 1) -> int:
        """Reserve ``count`` ids of ``counter``; returns the first."""
        doc = self.meta.find_one_and_update(
            {"_id": counter}, {"$inc": {"value": count}}, upsert=True,
            return_document=True)
        return int(doc["value"]) - count + 1

    def counter(self, counter: str) -> int:
        doc = self.meta.find_one({"_id": counter})
        return 0 if doc is None else int(doc["value"])

    def raise_counter(self, counter: str, at_least: int) -> None:
        """Make the counter at least ``at_least`` (after documents were copied in)."""
        self.meta.update_one({"_id": counter}, {"$max": {"value": int(at_least)}}, upsert=True)

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write call: serialised in this process, stamped with the next
        generation, and marked open in the database while it runs (MongoDB has
        no transaction to hide it: see :meth:`settled_generation`)."""
        with self._lock:
            self.gen = self.next_ids("gen")
            self.writes_open.insert_one({"_id": self.gen, "started": time.time()})
            try:
                yield
            finally:
                self.writes_open.delete_one({"_id": self.gen})

    def settled_generation(self, stale_after_s: float = OPEN_WRITE_STALE_S) -> int:
        """The newest write generation up to which every write has finished, in
        any process (the daemon and its indexer write at the same time): what
        a follower of changes may count as seen once it has read them. A write
        left open by a process that died stops holding it back after
        ``stale_after_s``."""
        current = self.counter("gen")  # first: an open write below it is found next
        oldest = self.writes_open.find_one(
            {"started": {"$gt": time.time() - stale_after_s}}, sort=[("_id", 1)])
        return current if oldest is None else min(current, int(oldest["_id"]) - 1)

    def close(self) -> None:
        self.client.close()


def _wildcard_ok(client: Any) -> bool:
    """Wildcard indexes (``stages.$**``) exist on real servers, not in mongomock."""
    return type(client).__module__.startswith("pymongo")


def chunks(values: Sequence[Any], size: int = 1000) -> Iterable[list[Any]]:
    """``values`` in lists of ``size``: ``$in`` lists a server takes in one query."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])
