"""Word search for both catalogues: the ``TextStore`` protocol and what a query
does with it.

A :class:`TextStore` keeps, per image, the OCR text, the title and the source
tags, and answers a word search (:mod:`pximse.store.words` says what matches)
with **every** matching content id, best first. Two stores provide it: the
embedded index beside the SQLite catalogue
(:class:`pximse.store.sqlite.wordindex.SqliteWordIndex`, SQLite FTS5) and
Meilisearch for the MongoDB catalogue (:class:`pximse.store.meili.MeiliTextStore`).

A query's ``Words`` nodes (``m;``, ``mt;``) are resolved here into those ids
before the catalogue compiles the query (as ``dupes:`` is), so the rest of the
filter is intersected with the whole answer, never with a truncated list. A
query whose filter holds a ``Words`` node and that names no sort is ranked by
it (:func:`ranking_of`, :func:`ranked_page`); with a sort, the sort wins.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from pximse.query.ast import And, Node, Query, Tag, Words, WordScope, map_leaves, walk
from pximse.query.errors import QueryError
from pximse.store.records import ImageSummary, SearchPage
from pximse.store.tagnames import tag_key
from pximse.store.words import query_terms

__all__ = ["TextDocument", "TextStore", "has_unresolved_words", "ranked_page", "ranking_of",
           "resolve_words"]

SCOPE_FIELDS: dict[str, tuple[str, ...]] = {"ocr": ("text",), "meta": ("title", "tags1")}
"""The document fields each scope searches: ``m;`` the OCR text, ``mt;`` the title
and the source tags."""


@dataclass(frozen=True)
class TextDocument:
    """What a text store keeps of one image."""

    id: int
    text: str = ""
    title: str = ""
    tags1: tuple[str, ...] = ()
    """The source tags (Pixiv, boorus, file names, manual), as written."""
    tag_keys: tuple[str, ...] = ()
    """The same tags as the catalogue matches them (``tags1:x`` filters)."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "title": self.title,
                "tags1": list(self.tags1), "tag_keys": list(self.tag_keys)}


class TextStore(Protocol):
    """A word index of the catalogue's images."""

    def put(self, documents: Iterable[TextDocument]) -> int:
        """Add or replace documents; returns how many were written."""

    def delete(self, ids: Sequence[int]) -> None:
        """Forget these images."""

    def count(self) -> int:
        """How many documents are stored."""

    def search_ids(self, words: str, scope: WordScope, *,
                   source_tags: Sequence[str] = ()) -> list[int]:
        """Every content id whose ``scope`` fields match ``words``, best first.
        ``source_tags``: tag keys every answer also carries (a hint the store may
        use to narrow its answer; the catalogue applies the filter anyway)."""


def has_unresolved_words(node: Node) -> bool:
    return any(isinstance(n, Words) and n.ids is None for n in walk(node))


def _source_tags_beside(where: Node) -> list[str]:
    """Source tags ANDed at the top level with the rest (``tags1:x``)."""
    top = where.children if isinstance(where, And) else (where,)
    return [tag_key(n.name) for n in top if isinstance(n, Tag) and n.kind == "source"]


def resolve_words(query: Query, store: TextStore | None) -> Query:
    """``query`` with each ``Words`` node's ids filled in by ``store``."""
    if not has_unresolved_words(query.where):
        return query
    if store is None:
        raise QueryError("word search (m;, mt;) needs a text index; on MongoDB set "
                         "[backend] meili_url to a Meilisearch server")
    hints = _source_tags_beside(query.where)

    def fill(node: Node) -> Node:
        if not isinstance(node, Words) or node.ids is not None:
            return node
        if not query_terms(node.text):
            raise QueryError(f"no words to search for in {node.text!r}: a word search "
                             "needs letters or digits")
        return replace(node, ids=tuple(store.search_ids(node.text, node.scope,
                                                        source_tags=hints)))

    return Query(map_leaves(query.where, fill), query.sort)


def ranking_of(query: Query) -> tuple[int, ...] | None:
    """The ranked ids a result follows: those of the first ``Words`` node ANDed at
    the top level, when the query names no sort (resolved queries only)."""
    if query.sort:
        return None
    top = query.where.children if isinstance(query.where, And) else (query.where,)
    for node in top:
        if isinstance(node, Words) and node.ids is not None:
            return node.ids
    return None


def ranked_page(catalog: Any, query: Query, ranking: Sequence[int], *, limit: int,
                offset: int, timeout_ms: int = 5000) -> SearchPage:
    """A page of ``query``'s results in the order of ``ranking`` (ids best first)."""
    started = time.perf_counter()
    allowed = catalog.filtered_ids(query, timeout_ms=timeout_ms)
    order = np.asarray(ranking, dtype=np.int64)
    order = order[np.isin(order, allowed)]
    page_ids = [int(i) for i in order[offset:offset + limit]]
    summaries: Mapping[int, ImageSummary] = catalog.summaries(page_ids) if page_ids else {}
    return SearchPage(total=len(order), offset=offset, limit=limit,
                      items=[summaries[i] for i in page_ids if i in summaries],
                      elapsed_ms=(time.perf_counter() - started) * 1000)
