"""The MongoDB catalogue's text store: word search (``m;``, ``mt;``) on Meilisearch.

One index (``pximse_text`` by default) of documents ``{id, text, title, tags1,
tag_keys}``: the content id, the image's OCR text, its title and its source
tags (Pixiv, boorus, manual) as written and as the catalogue matches them. The
original PxIMSE kept ``{_id, text, tags1}``; the title joins them for ``mt;``.
Unlike the original, which sent documents and never looked back, every write
waits for Meilisearch's task to finish and raises :class:`MeiliError` with
Meilisearch's own message when the task failed (a bad document, a full disk, a
wrong key), so the caller records an error instead of losing text silently.

A word search (:meth:`MeiliTextStore.search_ids`) asks Meilisearch with
``matchingStrategy: "all"`` and ``attributesToSearchOn`` (``text`` for
``m;``; ``title`` and ``tags1`` for ``mt;``) and reads **every** hit, a page
at a time. Meilisearch answers at most ``pagination.maxTotalHits`` hits for
one search (set to :data:`MAX_TOTAL_HITS` here); a search that reaches it is
split by ranges of ids, each read whole, and the parts merged by
Meilisearch's ranking score, so the catalogue intersects its filter with the
whole answer. Source tags the query ANDs with the words go into Meilisearch's
own ``filter`` (``tag_keys``), which narrows what comes back.

The query language's ``ocr:`` stays with the catalogue (an exact substring of
the folded text, on an n-gram index in MongoDB). Every HTTP call PxIMSE makes
here, and the answer it relies on, is listed in docs/servers.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pximse.query.ast import WordScope
from pximse.store.text import SCOPE_FIELDS, TextDocument

log = logging.getLogger(__name__)

BATCH = 1000
MAX_TOTAL_HITS = 100_000
"""Hits one search may answer (``pagination.maxTotalHits``; Meilisearch's default is 1000)."""
PAGE = 1000
"""Hits read per request."""
_FIELDS = ("id", "text", "title", "tags1", "tag_keys")
SETTINGS = {
    "searchableAttributes": ["text", "title", "tags1"],
    "filterableAttributes": ["id", "tag_keys"],
    "displayedAttributes": list(_FIELDS),
    "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
}
_ID_LIMIT = 1 << 53
"""Above every content id (Meilisearch's numbers are doubles)."""


class MeiliError(RuntimeError):
    """A Meilisearch request or task that failed; the message says which and why."""


class MeiliTextStore:
    """The text index on one Meilisearch server."""

    def __init__(self, url: str, api_key: str = "", *, index: str = "pximse_text",
                 timeout_ms: int = 60_000, interval_ms: int = 50) -> None:
        try:
            import meilisearch
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MeiliError("the Meilisearch text store needs the meilisearch client: "
                             "pip install 'pximse[server]'") from exc
        self.url = url
        self.uid = index
        self.timeout_ms = timeout_ms
        self.interval_ms = interval_ms
        self.client = meilisearch.Client(url, api_key or None, timeout=max(1, timeout_ms // 1000))
        self.index = self.client.index(index)
        self._ensure_index()

    # -- tasks ------------------------------------------------------------------------

    def _call(self, what: str, request: Any) -> Any:
        from meilisearch.errors import MeilisearchError

        try:
            return request()
        except MeilisearchError as exc:
            raise MeiliError(f"Meilisearch at {self.url}: {what} failed: {exc}") from exc

    def _wait(self, what: str, task: Any) -> None:
        """Wait for a task; raise with Meilisearch's error when it did not succeed."""
        uid = task.task_uid
        done = self._call(what, lambda: self.client.wait_for_task(
            uid, timeout_in_ms=self.timeout_ms, interval_in_ms=self.interval_ms))
        if done.status != "succeeded":
            error = done.error or {}
            raise MeiliError(
                f"Meilisearch at {self.url}: {what} (task {uid}) {done.status}: "
                f"{error.get('message', 'no message')} [{error.get('code', '?')}]")

    def _ensure_index(self) -> None:
        from meilisearch.errors import MeilisearchApiError

        try:
            self.client.get_index(self.uid)
        except MeilisearchApiError as exc:
            if getattr(exc, "code", "") != "index_not_found":
                raise MeiliError(f"Meilisearch at {self.url}: {exc}") from exc
            self._wait("creating the index", self._call(
                "creating the index",
                lambda: self.client.create_index(self.uid, {"primaryKey": "id"})))
        except Exception as exc:  # noqa: BLE001 - connection refused, timeouts
            raise MeiliError(f"cannot reach Meilisearch at {self.url}: {exc}") from exc
        self._wait("applying the index settings", self._call(
            "applying the index settings", lambda: self.index.update_settings(dict(SETTINGS))))

    # -- writes --------------------------------------------------------------------------

    def put(self, documents: Iterable[TextDocument]) -> int:
        """Add or replace documents; returns how many were written."""
        batch: list[dict[str, Any]] = []
        written = 0
        for doc in documents:
            batch.append(doc.to_json())
            if len(batch) >= BATCH:
                written += self._put(batch)
                batch = []
        if batch:
            written += self._put(batch)
        return written

    def _put(self, batch: list[dict[str, Any]]) -> int:
        what = f"writing {len(batch)} documents"
        self._wait(what, self._call(what, lambda: self.index.add_documents(batch, "id")))
        return len(batch)

    def delete(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), BATCH):
            chunk = [int(i) for i in ids[start:start + BATCH]]
            what = f"deleting {len(chunk)} documents"
            self._wait(what, self._call(what, lambda c=chunk: self.index.delete_documents(c)))

    def clear(self) -> None:
        self._wait("deleting every document", self._call(
            "deleting every document", self.index.delete_all_documents))

    # -- reads ------------------------------------------------------------------------------

    def count(self) -> int:
        stats = self._call("reading the index stats", self.index.get_stats)
        return int(stats.number_of_documents)

    def search_ids(self, words: str, scope: WordScope, *,
                   source_tags: Sequence[str] = ()) -> list[int]:
        """Every content id whose ``scope`` fields match ``words``, best first."""
        filters = [f"tag_keys = {_quote(key)}" for key in source_tags]
        scored = self._hits(words, list(SCOPE_FIELDS[scope]), filters, 0, _ID_LIMIT)
        scored.sort(key=lambda hit: -hit[1])  # stable: Meilisearch's order among equals
        return [content_id for content_id, _ in scored]

    def _hits(self, words: str, fields: list[str], filters: list[str], low: int, high: int
              ) -> list[tuple[int, float]]:
        """(id, ranking score) of every hit with ``low <= id < high``, in Meilisearch's
        order; a range whose hits reach ``maxTotalHits`` is read in two halves."""
        bounds = [f"id >= {low}", f"id < {high}"] if (low, high) != (0, _ID_LIMIT) else []
        params: dict[str, Any] = {
            "attributesToSearchOn": fields, "matchingStrategy": "all",
            "attributesToRetrieve": ["id"], "showRankingScore": True,
            "hitsPerPage": PAGE, "page": 1}
        if filters or bounds:
            params["filter"] = " AND ".join(filters + bounds)
        found: list[tuple[int, float]] = []
        while True:
            answer = self._call("searching", lambda p=dict(params): self.index.search(words, p))
            total = int(answer["totalHits"])
            if total >= MAX_TOTAL_HITS and high - low > 1:
                middle = (low + high) // 2
                return (self._hits(words, fields, filters, low, middle)
                        + self._hits(words, fields, filters, middle, high))
            found.extend((int(hit["id"]), float(hit.get("_rankingScore", 0.0)))
                         for hit in answer["hits"])
            if len(found) >= total or not answer["hits"]:
                return found
            params["page"] += 1

    def documents(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The stored documents of ``ids`` (for checks after a copy)."""
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH):
            chunk = [int(i) for i in ids[start:start + BATCH]]
            result = self._call("reading documents", lambda c=chunk: self.index.get_documents(
                {"filter": f"id IN [{', '.join(str(i) for i in c)}]", "limit": len(c)}))
            for doc in result.results:
                data = dict(doc) if isinstance(doc, Mapping) else dict(doc.__dict__)
                data = {k: v for k, v in data.items() if k in _FIELDS}
                found[int(data["id"])] = data
        return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
