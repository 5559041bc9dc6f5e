"""Tag postings of the in-memory query index: which images carry a tag, compactly.

A posting is a content id (int32), one byte of flags and the score (float32
when that keeps every score of the tag exactly, as a model's float32 output
always is; float64 otherwise): 9 bytes where three int64/float64 arrays took
17. The flags answer the common questions without the score: "a source or
manual tag" (bit 0) and "at or above the catalogue's tag threshold" (bit 1),
decided once at load in float64 as SQLite compares. Scores are only read for
explicit score comparisons (``tags.x:>0.8``), and compared in float64.

The cache keeps the postings of the tags queries used, least recently used
first out, within a byte budget (see ``POSTINGS_BUDGET``).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pximse.store.sqlite.memcolumns import compare

POSTINGS_BUDGET = 96 << 20
"""Bytes of postings kept. Measured on the synthetic 1M-image catalogue
(``bench/daemon_memory.py``: ~30 tags an image, Danbooru-like frequencies), the
whole 28-query mix of ``bench/query_latency.py`` leaves 43 MiB of postings
(about 5M postings of the head and mid tags it names; ``1girl`` alone holds
642k): 96 MiB keeps such a working set with room to spare, where reloading a
head tag costs seconds on a loaded machine (642k postings: 3.9 s at a load
average of 17)."""

SOURCE = 1
"""Flag: a source or manual tag (kind != 0), not a model's."""
STRONG = 2
"""Flag: the score is at or above the tag threshold."""


@dataclass
class Postings:
    ids: np.ndarray
    flags: np.ndarray
    scores: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.flags.nbytes + self.scores.nbytes

    def tagged(self, kind: str) -> np.ndarray:
        """Content ids carrying the tag: ``model`` (a model's, over the threshold),
        ``source`` (a source or manual tag), or any of them."""
        if kind == "model":
            keep = self.flags == STRONG
        elif kind == "source":
            keep = (self.flags & SOURCE) != 0
        else:
            keep = self.flags != 0
        kept: np.ndarray = self.ids[keep]
        return kept

    def scored(self, op: str, value: float) -> np.ndarray:
        """Content ids whose model score for the tag compares ``op value``."""
        model = (self.flags & SOURCE) == 0
        keep = model & compare(self.scores.astype(np.float64, copy=False), op, value)
        kept: np.ndarray = self.ids[keep]
        return kept


def load_postings(conn: sqlite3.Connection, tag_id: int, threshold: float) -> Postings:
    rows = conn.execute(
        "SELECT content_id, kind, score FROM image_tag WHERE tag_id = ?", (tag_id,))
    data = np.fromiter(rows, dtype=[("id", np.int64), ("kind", np.int64),
                                    ("score", np.float64)])
    ids = data["id"]
    if len(ids) and ids.max() < 2**31:
        ids = ids.astype(np.int32)
    flags = np.where(data["kind"] != 0, SOURCE, 0).astype(np.uint8)
    flags |= np.where(data["score"] >= threshold, STRONG, 0).astype(np.uint8)
    scores = data["score"].astype(np.float32)
    if not np.array_equal(scores, data["score"]):
        scores = data["score"].copy()
    return Postings(np.ascontiguousarray(ids), flags, scores)


class PostingsCache:
    """Postings by tag id, least recently used out past ``budget`` bytes."""

    def __init__(self, budget: int = POSTINGS_BUDGET) -> None:
        self.budget = budget
        self._items: OrderedDict[int, Postings] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, tag_id: int) -> Postings | None:
        postings = self._items.get(tag_id)
        if postings is not None:
            self._items.move_to_end(tag_id)
        return postings

    def put(self, tag_id: int, postings: Postings) -> None:
        self.drop(tag_id)
        self._items[tag_id] = postings
        self.nbytes += postings.nbytes
        while self.nbytes > self.budget and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.nbytes -= dropped.nbytes

    def drop(self, tag_id: int) -> None:
        old = self._items.pop(tag_id, None)
        if old is not None:
            self.nbytes -= old.nbytes
