"""The catalogue as backend-neutral records, and their checksums.

A migration reads records from one backend and writes them to the other; both
sides are then read back as records and compared kind by kind: the count, and
a SHA-256 over the records in key order (canonical JSON). Equal checksums mean
the two catalogues hold the same roots, files, tags, images (with their tags,
model stages and OCR lines) and Pixiv data, field for field. Write
generations (``gen``) are bookkeeping of each backend and take no part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

KINDS: tuple[str, ...] = ("root", "folder_state", "file", "tag", "content", "pixiv_work",
                          "pixiv_error", "pixiv_user_name")
"""In the order they are copied (files before content: content documents carry
their files' paths on MongoDB)."""

CONTENT_COLUMNS: tuple[str, ...] = (
    "id", "sha256", "filesize", "width", "height", "ratio", "pixels", "format", "frames",
    "animated", "phash", "date", "source", "user_id", "user_name", "post_id", "page", "posted",
    "title", "work_key", "tagcount", "textlen", "state", "thumbnail", "added_ns", "gen",
    "pixiv_state", "views", "bookmarks", "likes", "comments", "ai", "r18", "name_filled",
    "phash_version",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "root": ("id", "name", "path", "online", "last_scan_ns", "device", "mount",
             "offline_reason"),
    "folder_state": ("folder", "root_id", "mtime_ns", "files", "stat_sum"),
    "file": ("id", "root_id", "path", "folder", "name", "size", "mtime_ns", "content_id",
             "state", "reason", "error", "seen_ns"),
    "tag": ("key", "name", "count"),
    "content": CONTENT_COLUMNS,
    "pixiv_work": ("illust_id", "state", "via", "fetched_at", "title", "caption", "created",
                   "views", "bookmarks", "likes", "comments", "user_id", "user_name", "ai",
                   "r18", "x_restrict", "pages", "tags"),
    "pixiv_error": ("illust_id", "message", "attempts", "last_at"),
    "pixiv_user_name": ("user_id", "name", "seen"),
}
"""Each kind's fields (a content record adds ``tags``, ``stages`` and ``ocr``)."""

KEYS: dict[str, tuple[str, ...]] = {
    "root": ("id",), "folder_state": ("folder",), "file": ("id",), "tag": ("key",),
    "content": ("id",), "pixiv_work": ("illust_id",), "pixiv_error": ("illust_id",),
    "pixiv_user_name": ("user_id", "name"),
}
"""Each kind's key: records are read and compared in this order."""

NOT_COMPARED = frozenset({"gen"})

Record = dict[str, Any]


def record_key(kind: str, record: Record) -> tuple[Any, ...]:
    return tuple(record[name] for name in KEYS[kind])


class Side(Protocol):
    """One backend seen as records (see sqlite_side and mongo_side)."""

    name: str

    def read(self, kind: str, after: tuple[Any, ...] | None, limit: int) -> list[Record]:
        """Up to ``limit`` records with a key above ``after``, in key order."""

    def write(self, kind: str, records: list[Record]) -> None:
        """Insert or replace records (idempotent, so a resumed copy may repeat a batch)."""

    def count(self, kind: str) -> int: ...

    def checkpoint(self, kind: str) -> tuple[Any, ...] | None:
        """The key of the last record a copy into this side finished, or None."""

    def set_checkpoint(self, kind: str, key: tuple[Any, ...] | None) -> None: ...

    def is_empty(self) -> bool: ...

    def clear(self) -> None:
        """Remove everything (``--replace``)."""

    def counters(self) -> dict[str, int]:
        """Highest root, file and content ids and the write generation."""

    def finish(self, counters: dict[str, int]) -> None:
        """After a copy: id counters and the generation at least the source's."""


def canonical(kind: str, record: Record) -> str:
    """One record as canonical JSON (keys sorted, floats as Python writes them)."""
    shown = {k: v for k, v in record.items() if k not in NOT_COMPARED}
    return json.dumps(shown, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def iterate(side: Side, kind: str, batch: int = 2000) -> Iterator[Record]:
    after: tuple[Any, ...] | None = None
    while True:
        records = side.read(kind, after, batch)
        yield from records
        if len(records) < batch:
            return
        after = record_key(kind, records[-1])


@dataclass(frozen=True)
class Summary:
    count: int
    checksum: str


def summarise(side: Side, kind: str, batch: int = 2000,
              progress: Callable[[int], None] | None = None) -> Summary:
    digest = hashlib.sha256()
    count = 0
    for record in iterate(side, kind, batch):
        digest.update(canonical(kind, record).encode())
        digest.update(b"\n")
        count += 1
        if progress is not None and count % batch == 0:
            progress(count)
    return Summary(count, digest.hexdigest())
