"""Pushing PxIMSE's tags, source URLs and OCR text to a Hydrus client.

For each batch of images: build what Hydrus should hold
(:mod:`~pximse.integrations.hydrus.payload`), drop the images whose payload
digest matches what was last sent (no request at all), ask Hydrus which of the
rest it holds (one metadata request per 256 hashes), and send each held
image only the difference from what was sent before: tags added and removed,
new URLs, the note when its text changed. Images whose additions and removals
are the same share one ``add_tags`` request.

Tags are added with ``override_previously_deleted_mappings: false``, so a tag
the user deleted in Hydrus stays deleted; the only deleted tags PxIMSE
re-adds are those it removed itself (a model's result that came back).

A client that stops answering ends the push with what was done so far
recorded (:attr:`PushReport.stopped` says why); running it again goes on
from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.client import HydrusClient, current_tags
from pximse.integrations.hydrus.errors import HydrusUnavailable
from pximse.integrations.hydrus.ledger import Ledger, PushedState
from pximse.integrations.hydrus.payload import (
    NOTE_NAME,
    ImagePayload,
    PayloadOptions,
    read_payloads,
)
from pximse.integrations.hydrus.services import Service

__all__ = ["PushReport", "Pusher", "all_images", "images_changed_since", "images_matching"]

Progress = Callable[[str, int, int], None]
PHASE = "Pushing to Hydrus"
BATCH = 256


@dataclass
class PushReport:
    images: int = 0
    unchanged: int = 0
    not_in_hydrus: int = 0
    updated: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    urls_added: int = 0
    notes_set: int = 0
    notes_deleted: int = 0
    requests: int = 0
    seconds: float = 0.0
    stopped: str | None = None
    """Why the push ended early (Hydrus stopped answering), or None."""

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["seconds"] = round(self.seconds, 3)
        return body


@dataclass(frozen=True)
class _Change:
    sha256: str
    add: frozenset[str]
    readd: frozenset[str]
    remove: frozenset[str]
    urls: frozenset[str]
    note: str | None  # text to set
    drop_note: bool
    state: PushedState

    @property
    def empty(self) -> bool:
        return not (self.add or self.readd or self.remove or self.urls or self.note is not None
                    or self.drop_note)


class Pusher:
    """Pushes to one tag service of one client; the ledger remembers what went out."""

    def __init__(self, catalog: Any, client: HydrusClient, ledger: Ledger, service: Service,
                 options: PayloadOptions) -> None:
        self.catalog = catalog
        self.client = client
        self.ledger = ledger
        self.service = service
        self.options = options
        self.target = f"{client.url}|{service.key}"

    def push(self, images: Iterable[Sequence[int]], *, total: int | None = None,
             progress: Progress | None = None, dry_run: bool = False,
             again: bool = False) -> PushReport:
        """Push batches of content ids; ``total`` (images) is for the progress bar.
        ``again`` forgets what was sent for these images first, so all of it goes
        again (Hydrus ignores what it has; the user's deletions still hold)."""
        report = PushReport()
        started, requests = time.perf_counter(), self.client.requests
        try:
            for batch in images:
                self._push_batch(list(batch), report, dry_run, again)
                if progress is not None:
                    progress(PHASE, report.images, max(total or 0, report.images))
        except HydrusUnavailable as exc:
            report.stopped = exc.message
        report.requests = self.client.requests - requests
        report.seconds = time.perf_counter() - started
        return report

    def _push_batch(self, ids: list[int], report: PushReport, dry_run: bool,
                    again: bool) -> None:
        payloads = read_payloads(self.catalog, ids, self.options)
        report.images += len(ids)
        if again and not dry_run:
            self.ledger.forget(self.target, [p.sha256 for p in payloads])
        known = self.ledger.digests(self.target, [p.sha256 for p in payloads])
        changed = [p for p in payloads if known.get(p.sha256) != p.digest]
        report.unchanged += len(payloads) - len(changed)
        if not changed:
            return
        held = self.client.held([p.sha256 for p in changed])
        missing = [p.sha256 for p in changed if p.sha256 not in held]
        report.not_in_hydrus += len(missing)
        if missing and not dry_run:
            self.ledger.mark_absent(self.target, missing)
        payloads = [p for p in changed if p.sha256 in held]
        before = self.ledger.states(self.target, [p.sha256 for p in payloads])
        key = self.service.key
        changes = [_difference(p, before.get(p.sha256, PushedState()),
                               current_tags(held[p.sha256], key)) for p in payloads]
        for change in changes:
            report.updated += not change.empty
            report.tags_added += len(change.add) + len(change.readd)
            report.tags_removed += len(change.remove)
            report.urls_added += len(change.urls)
            report.notes_set += change.note is not None
            report.notes_deleted += change.drop_note
        if dry_run:
            return
        self._send(changes)

    def _send(self, changes: list[_Change]) -> None:
        done: dict[str, PushedState] = {}
        try:
            key = self.service.key
            for (add, readd, remove), hashes in _grouped(changes):
                if add or remove:
                    self.client.add_tags(hashes, key, add=add, remove=remove)
                if readd:
                    self.client.add_tags(hashes, key, add=readd, override_deleted=True)
                members = set(hashes)
                done.update({c.sha256: c.state for c in changes if c.sha256 in members
                             and not (c.urls or c.note is not None or c.drop_note)})
            for change in changes:
                if change.urls:
                    self.client.associate_urls(change.sha256, change.urls)
                if change.note is not None:
                    self.client.set_notes(change.sha256, {NOTE_NAME: change.note})
                if change.drop_note:
                    self.client.delete_notes(change.sha256, [NOTE_NAME])
                done[change.sha256] = change.state
        finally:
            self.ledger.record(self.target, done)


def _difference(payload: ImagePayload, before: PushedState, hydrus_has: set[str] | None
                ) -> _Change:
    """What to send: ``hydrus_has`` is the file's current tags on the service (None:
    unknown). A tag PxIMSE removes counts as withdrawn by PxIMSE (so it may come
    back later despite the deletion record) only when the file had it until this
    removal: if it was already gone, the user deleted it, and it stays deleted."""
    add = payload.tags - before.tags
    readd = add & before.withdrawn
    remove = before.tags - payload.tags
    ours = remove & hydrus_has if hydrus_has is not None else set()
    withdrawn = (before.withdrawn | ours) - payload.tags
    note_digest = payload.note_digest
    state = PushedState(payload.digest, set(payload.tags), before.urls | set(payload.urls),
                        note_digest, withdrawn)
    return _Change(
        sha256=payload.sha256,
        add=frozenset(add - readd),
        readd=frozenset(readd),
        remove=frozenset(remove),
        urls=frozenset(set(payload.urls) - before.urls),
        note=payload.note if note_digest and note_digest != before.note else None,
        drop_note=not note_digest and bool(before.note),
        state=state,
    )


def _grouped(changes: list[_Change]
             ) -> Iterator[tuple[tuple[frozenset[str], frozenset[str], frozenset[str]], list[str]]]:
    """Images with the same tag changes, together (one request for all of them)."""
    groups: dict[tuple[frozenset[str], frozenset[str], frozenset[str]], list[str]] = {}
    for change in changes:
        if change.add or change.readd or change.remove:
            groups.setdefault((change.add, change.readd, change.remove), []).append(change.sha256)
    yield from groups.items()


# -- which images -------------------------------------------------------------------------


def all_images(catalog: Any, batch: int = BATCH) -> tuple[int, Iterator[list[int]]]:
    """Every image the catalogue has results for (present or offline)."""
    reads = reads_for(catalog)
    total = reads.count_images()

    def walk() -> Iterator[list[int]]:
        after = 0
        while ids := reads.image_ids_after(after, batch):
            yield ids
            after = ids[-1]

    return total, walk()


def images_changed_since(catalog: Any, gen: int) -> tuple[int, list[int]]:
    """Images written after write generation ``gen``, and the generation up to which
    every write was seen (the watermark to go on from)."""
    return reads_for(catalog).changed_since(gen)


def images_matching(catalog: Any, query: Any, batch: int = BATCH,
                    timeout_ms: int = 60_000) -> tuple[int, Iterator[list[int]]]:
    """The images a filter query selects (a parsed :class:`~pximse.query.ast.Query`),
    read in one search so that no page shifts under the next."""
    total = catalog.search(query, limit=1, offset=0, timeout_ms=timeout_ms).total
    page = catalog.search(query, limit=max(total, 1), offset=0, count=False,
                          timeout_ms=timeout_ms)
    shas = [item.id for item in page.items]
    known = catalog.content_ids(shas)
    ids = [known[sha] for sha in shas if sha in known]
    return len(ids), (ids[start:start + batch] for start in range(0, len(ids), batch))
