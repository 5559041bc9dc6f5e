"""A page of a filtered vector search, whatever the catalogue: the ranking of
the filter's ids by the vector store, and the page built from it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from pximse.store.records import ImageSummary, SearchPage

__all__ = ["page_of", "rank_within"]


def rank_within(present: Any, vector: np.ndarray, vectors: Any, *, ordered: bool,
                limit: int, offset: int) -> list[tuple[int, float]]:
    """``(content id, score)`` of one page among ``present`` (the filter's ids
    that have a vector; by score, they may be an ``IdFilter`` bitmap for a store
    that takes one), or, when ``ordered``, in ``present``'s own order (the
    query's sort) with the scores still given."""
    if not ordered:
        page_ids, scores = vectors.search(vector, limit, allowed=present, offset=offset)
        return list(zip(page_ids.tolist(), scores.tolist(), strict=True))
    page_ids = present[offset:offset + limit]
    found, stored = vectors.get(page_ids)
    by_id = dict(zip(found.tolist(), (stored @ vector).tolist(), strict=True))
    return [(cid, by_id[cid]) for cid in page_ids.tolist() if cid in by_id]


def page_of(pairs: list[tuple[int, float]], summaries: Mapping[int, ImageSummary], *,
            total: int, offset: int, limit: int, started: float
            ) -> tuple[SearchPage, list[float]]:
    """The page and its scores; ids the catalogue no longer has are left out."""
    kept = [(summaries[cid], float(score)) for cid, score in pairs if cid in summaries]
    page = SearchPage(total=total, offset=offset, limit=limit,
                      items=[summary for summary, _ in kept],
                      elapsed_ms=(time.perf_counter() - started) * 1000)
    return page, [score for _, score in kept]
