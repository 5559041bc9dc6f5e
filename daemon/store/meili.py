"""OCR text and source tags on a Meilisearch server, for ranked full-text lookups.

One index (``pximse_text`` by default) of documents ``{id, text, tags1}``: the
content id, the image's OCR text and its source tags (Pixiv, boorus, manual),
as the original PxIMSE kept them. Unlike the original, which sent documents
and never looked back, every write waits for Meilisearch's task to finish and
raises :class:`MeiliError` with Meilisearch's own message when the task failed
(a bad document, a full disk, a wrong key), so the caller records an error
instead of losing text silently.

The query language's ``ocr:`` stays with the catalogue (an exact substring of
the folded text, on SQLite and MongoDB alike); Meilisearch answers ranked,
typo-tolerant word searches (:meth:`MeiliTextStore.search`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

BATCH = 1000
SETTINGS = {
    "searchableAttributes": ["text", "tags1"],
    "filterableAttributes": ["id", "tags1"],
    "displayedAttributes": ["id", "text", "tags1"],
}


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

    def put(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace ``{id, text, tags1}`` documents; returns how many were written."""
        batch: list[dict[str, Any]] = []
        written = 0
        for doc in documents:
            batch.append({"id": int(doc["id"]), "text": doc.get("text") or "",
                          "tags1": list(doc.get("tags1") or [])})
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

    def search(self, text: str, *, limit: int = 50, offset: int = 0,
               tag: str | None = None) -> tuple[int, list[int]]:
        """(estimated total, content ids) of the best matches for ``text``."""
        params: dict[str, Any] = {"limit": limit, "offset": offset,
                                  "attributesToRetrieve": ["id"]}
        if tag is not None:
            params["filter"] = f"tags1 = {_quote(tag)}"
        found = self._call("searching", lambda: self.index.search(text, params))
        return int(found.get("estimatedTotalHits", len(found["hits"]))), [
            int(hit["id"]) for hit in found["hits"]]

    def documents(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The stored documents of ``ids`` (for checks after a copy)."""
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH):
            chunk = [int(i) for i in ids[start:start + BATCH]]
            result = self._call("reading documents", lambda c=chunk: self.index.get_documents(
                {"filter": f"id IN [{', '.join(str(i) for i in c)}]", "limit": len(c)}))
            for doc in result.results:
                data = dict(doc) if isinstance(doc, Mapping) else dict(doc.__dict__)
                data = {k: v for k, v in data.items() if k in ("id", "text", "tags1")}
                found[int(data["id"])] = data
        return found


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
