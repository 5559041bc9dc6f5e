"""Pushing PxIMSE's tags, source URLs and OCR text to a Hydrus client.

For each batch of images: build what Hydrus should hold
(:mod:`~pximse.integrations.hydrus.payload`), drop the images whose payload
digest matches what was last sent (no request at all), ask Hydrus which of the
rest it holds (one ``system:hash`` search per 256 hashes; the full metadata, ten
times slower on a real client, only of the files PxIMSE takes tags from), and
send each held
image only the difference from what was sent before: tags added and removed,
new URLs, the note when its text changed. What the Client API lets several
files share goes in one request: images whose tag changes are the same share
one ``add_tags``, images whose new URLs are the same (the pages of one Pixiv
work) one ``associate_url``; notes are one file a request. The requests of a
batch go out :data:`PARALLEL` at a time.

Tags are added with ``override_previously_deleted_mappings: false``, so a tag
the user deleted in Hydrus stays deleted; the only deleted tags PxIMSE
re-adds are those it removed itself (a model's result that came back).
Everything is compared in Hydrus's own form of a tag
(:func:`~pximse.integrations.hydrus.tagmap.clean_tag`).

**The ledger tells the truth across a Hydrus crash.** Hydrus answers 200
before it commits (every 30 s or so), so an answer is not yet a kept write.
After each batch PxIMSE asks for the commit (``/manage_database/force_commit``,
with the *Manage Database* permission), then makes one more lookup, which
Hydrus's database runs only once the commit is done: only then is the batch
recorded as sent. Without that permission the batch is
recorded *unconfirmed*, with the session key of the Hydrus process that took
it, and a later push reads it back once Hydrus has committed it (a minute
later) or restarted (its session keys die with it): a row Hydrus did not keep
is set to what Hydrus does hold, and the push sends the rest again.

A client that stops answering ends the push with what was done so far
recorded (:attr:`PushReport.stopped` says why); running it again goes on
from there. The report counts what Hydrus accepted, not what was planned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.client import HydrusClient, current_tags
from pximse.integrations.hydrus.errors import HydrusError, HydrusUnavailable
from pximse.integrations.hydrus.ledger import Ledger, PushedState
from pximse.integrations.hydrus.payload import (
    NOTE_NAME,
    ImagePayload,
    PayloadOptions,
    read_payloads,
)
from pximse.integrations.hydrus.services import Service
from pximse.integrations.hydrus.tagmap import clean_tag

__all__ = ["PushReport", "Pusher", "all_images", "images_changed_since", "images_matching"]

Progress = Callable[[str, int, int], None]
PHASE = "Pushing to Hydrus"
BATCH = 256
PARALLEL = 4
"""Requests in flight at once while a batch is sent: Hydrus's Client API serves
requests side by side (a real v682 took 2.9 times as many ``add_tags`` a second
from four at once as from one), and the files of a batch are independent."""
COMMIT_WAIT_S = 60.0
"""How long after a write Hydrus has surely committed it: it commits every 30 s
by default (``db_transaction_commit_period``), so twice that."""


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
    checked: int = 0
    """Images read back from Hydrus to confirm what it kept."""
    repaired: int = 0
    """Images Hydrus had not kept as recorded (a crash before its commit): sent again."""
    committed: bool | None = None
    """Whether Hydrus was asked to commit each batch (None: nothing was sent)."""
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
    state: PushedState  # the row once all of it is sent
    before: PushedState  # the row as it was

    @property
    def parts(self) -> set[str]:
        """Which kinds of request the change needs."""
        needed = set()
        if self.add or self.readd or self.remove:
            needed.add("tags")
        if self.urls:
            needed.add("urls")
        if self.note is not None or self.drop_note:
            needed.add("note")
        return needed

    @property
    def empty(self) -> bool:
        return not self.parts


@dataclass
class _Sent:
    """Which parts of each change Hydrus accepted."""

    parts: dict[str, set[str]] = field(default_factory=dict)  # sha -> {"tags","urls","note"}
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, hashes: Iterable[str], part: str) -> None:
        with self.lock:
            for sha in hashes:
                self.parts.setdefault(sha, set()).add(part)


def _in_parallel(calls: list[Callable[[], None]]) -> None:
    """Run the calls :data:`PARALLEL` at a time; the first error stops the rest (no
    call starts after it) and is raised once the running ones end."""
    if len(calls) <= 1 or PARALLEL <= 1:
        for call in calls:
            call()
        return
    failed = threading.Event()
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        if failed.is_set():
            return
        try:
            call()
        except BaseException as exc:
            errors.append(exc)
            failed.set()

    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="hydrus-push") as pool:
        for _ in pool.map(run, calls):
            pass
    if errors:
        raise errors[0]


class Pusher:
    """Pushes to one tag service of one client; the ledger remembers what went out."""

    def __init__(self, catalog: Any, client: HydrusClient, ledger: Ledger, service: Service,
                 options: PayloadOptions, *, clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.client = client
        self.ledger = ledger
        self.service = service
        self.options = options
        self.clock = clock
        self.target = f"{client.url}|{service.key}"
        self._session: str | None = None

    def push(self, images: Iterable[Sequence[int]], *, total: int | None = None,
             progress: Progress | None = None, dry_run: bool = False,
             again: bool = False, verify: bool = True) -> PushReport:
        """Push batches of content ids; ``total`` (images) is for the progress bar.
        ``again`` forgets what was sent for these images first, so all of it goes
        again (Hydrus ignores what it has; the user's deletions still hold).
        ``verify`` first reads back what earlier pushes sent unconfirmed."""
        report = PushReport()
        started, requests = time.perf_counter(), self.client.requests
        try:
            if verify and not dry_run:
                self.verify(report)
            for batch in images:
                self._push_batch(list(batch), report, dry_run, again)
                if progress is not None:
                    progress(PHASE, report.images, max(total or 0, report.images))
        except HydrusUnavailable as exc:
            report.stopped = exc.message
        report.requests = self.client.requests - requests
        report.seconds = time.perf_counter() - started
        return report

    # -- what Hydrus kept ----------------------------------------------------------------

    def verify(self, report: PushReport | None = None) -> list[str]:
        """Read back the unconfirmed rows Hydrus has surely committed or lost by now
        (sent a minute ago, or before Hydrus restarted); confirm those it kept and
        set the others to what it holds, so that the next push sends the rest. The
        hashes set back, which a push should include."""
        report = report if report is not None else PushReport()
        rows = self.ledger.unconfirmed(self.target)
        if not rows:
            return []
        alive = {session: self.client.session_alive(session)
                 for session in {s for _, _, s in rows if s}}
        if self._session is not None and not alive.get(self._session, True):
            self._session = None  # Hydrus restarted: the next writes get a new key
        settled_ns = int((self.clock() - COMMIT_WAIT_S) * 1_000_000_000)
        due = [sha for sha, sent_ns, session in rows
               if not session or not alive[session] or sent_ns <= settled_ns]
        if not due:
            return []
        states = self.ledger.states(self.target, due)
        held = {str(item.get("hash", "")).lower(): item
                for item in self.client.file_metadata(due, include_notes=True)}
        report.checked += len(due)
        return self._settle(states, held, report)

    def _settle(self, states: dict[str, PushedState], held: dict[str, dict[str, Any]],
                report: PushReport) -> list[str]:
        """Confirm the rows Hydrus holds as recorded; record what it holds for the
        others (with an empty digest: the next push sends the difference)."""
        kept, lost = [], {}
        for sha, state in states.items():
            item = held.get(sha)
            if item is not None and item.get("file_id") is not None \
                    and _holds(item, state, self.service.key):
                kept.append(sha)
            else:
                lost[sha] = _as_held(item, state, self.service.key)
        self.ledger.confirm(self.target, kept)
        if lost:
            self.ledger.record(self.target, lost, confirmed=True)
            report.repaired += len(lost)
        return sorted(lost)

    # -- one batch -----------------------------------------------------------------------

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
        held = self.client.present([p.sha256 for p in changed])
        missing = [p.sha256 for p in changed if p.sha256 not in held]
        report.not_in_hydrus += len(missing)
        if missing and not dry_run:
            self.ledger.mark_absent(self.target, missing)
        payloads = [p for p in changed if p.sha256 in held]
        states = self.ledger.states(self.target, [p.sha256 for p in payloads])
        before = {p.sha256: _cleaned(states.get(p.sha256, PushedState())) for p in payloads}
        # Whose tags PxIMSE removes it must know which the file still has (a removal
        # of a tag the user already deleted is not PxIMSE's): only for those files
        # are the tags looked up.
        removing = [p.sha256 for p in payloads if before[p.sha256].tags - p.tags]
        has = {str(item.get("hash", "")).lower(): current_tags(item, self.service.key)
               for item in (self.client.file_metadata(removing) if removing else [])}
        changes = [_difference(p, before[p.sha256], has.get(p.sha256)) for p in payloads]
        if dry_run:
            for change in changes:
                _count(report, change, {"tags", "urls", "note"})
            return
        self._send([c for c in changes if not c.empty], report)
        # Nothing to send (a row written before tags were compared in Hydrus's form,
        # say): recorded as it is, to be read back at the next push like any other.
        quiet = {c.sha256: c.state for c in changes if c.empty}
        if quiet:
            self.ledger.record(self.target, quiet, confirmed=False)

    def _send(self, changes: list[_Change], report: PushReport) -> None:
        if not changes:
            return
        # The session of the Hydrus process the writes go to, asked for before them:
        # if that process dies before it commits, the key dies with it.
        session = self._session_key()
        sent = _Sent()
        try:
            self._send_tags(changes, sent)
            self._send_urls(changes, sent)
            self._send_notes(changes, sent)
        except HydrusError:
            # Hydrus stopped (or refused) in the middle: what it accepted is recorded
            # unconfirmed, to be read back once it is there again.
            done = self._accepted(changes, sent, report)
            if done:
                self.ledger.record(self.target, done, confirmed=False, session=session)
            raise
        done = self._accepted(changes, sent, report)
        if done:
            self._record(done, report, session)

    @staticmethod
    def _accepted(changes: list[_Change], sent: _Sent, report: PushReport
                  ) -> dict[str, PushedState]:
        """Count what Hydrus accepted; the rows to record for it."""
        by_sha = {c.sha256: c for c in changes}
        for sha, parts in sent.parts.items():
            _count(report, by_sha[sha], parts)
        return {sha: _partly(by_sha[sha], parts) for sha, parts in sent.parts.items()}

    def _send_tags(self, changes: list[_Change], sent: _Sent) -> None:
        key = self.service.key

        def send(add: frozenset[str], readd: frozenset[str], remove: frozenset[str],
                 hashes: list[str]) -> None:
            if add or remove:
                self.client.add_tags(hashes, key, add=add, remove=remove)
            if readd:
                self.client.add_tags(hashes, key, add=readd, override_deleted=True)
            sent.mark(hashes, "tags")

        _in_parallel([partial(send, *tags, hashes) for tags, hashes in _grouped(changes)])

    def _send_urls(self, changes: list[_Change], sent: _Sent) -> None:
        groups: dict[frozenset[str], list[str]] = {}
        for change in changes:
            if change.urls:
                groups.setdefault(change.urls, []).append(change.sha256)

        def send(urls: frozenset[str], hashes: list[str]) -> None:
            self.client.associate_urls(hashes, urls)
            sent.mark(hashes, "urls")

        _in_parallel([partial(send, urls, hashes) for urls, hashes in groups.items()])

    def _send_notes(self, changes: list[_Change], sent: _Sent) -> None:
        def send(change: _Change) -> None:
            if change.note is not None:
                self.client.set_notes(change.sha256, {NOTE_NAME: change.note})
            if change.drop_note:
                self.client.delete_notes(change.sha256, [NOTE_NAME])
            sent.mark([change.sha256], "note")

        _in_parallel([partial(send, change) for change in changes
                      if change.note is not None or change.drop_note])

    def _record(self, done: dict[str, PushedState], report: PushReport, session: str) -> None:
        """Record a batch: read back after a forced commit, or unconfirmed."""
        try:
            committed = self.client.force_commit()
        except HydrusError:
            self.ledger.record(self.target, done, confirmed=False, session=session)
            raise
        report.committed = committed if report.committed is None else (
            report.committed and committed)
        if not committed:
            self.ledger.record(self.target, done, confirmed=False, session=session)
            return
        # Hydrus answers force_commit just before the COMMIT itself (HydrusDB runs
        # it after the job's result is out); its next database job, this lookup,
        # runs after the COMMIT. Then what was sent is kept.
        self.client.present(list(done))
        self.ledger.record(self.target, done, confirmed=True)

    def _session_key(self) -> str:
        """The session key of the Hydrus process the writes went to ("" when it
        cannot be had: the rows are then checked at the next push)."""
        if self._session is None:
            try:
                self._session = self.client.session_key()
            except HydrusError:  # no answer, or an old client: checked next push
                return ""
        return self._session


# -- comparing with Hydrus ------------------------------------------------------------------


def _stored(item: dict[str, Any], service_key: str, status: str) -> set[str]:
    """A file's tags on one service in one status ("0" current, "2" deleted)."""
    statuses = ((item.get("tags") or {}).get(service_key) or {}).get("storage_tags") or {}
    if not statuses:
        statuses = (item.get("service_keys_to_statuses_to_tags") or {}).get(service_key) or {}
    return {str(tag) for tag in statuses.get(status, [])}


def _holds(item: dict[str, Any], state: PushedState, service_key: str) -> bool:
    """Whether Hydrus holds what the row says was sent: every tag current (or
    deleted since, by the user), no tag PxIMSE removed current, the URLs and the
    note there."""
    current = _stored(item, service_key, "0")
    deleted = _stored(item, service_key, "2")
    if not state.tags <= current | deleted:
        return False
    if (state.withdrawn - state.tags) & current:
        return False
    if state.urls and not item.get("known_urls"):
        return False
    return not (state.note and NOTE_NAME not in (item.get("notes") or {}))


def _as_held(item: dict[str, Any] | None, state: PushedState, service_key: str
             ) -> PushedState:
    """The row as Hydrus really holds it, digest empty: the next push sends what is
    missing (and takes out what PxIMSE had removed, if Hydrus lost the removal)."""
    if item is None or item.get("file_id") is None:
        return PushedState("", set(), set(), "", set(state.withdrawn))
    current = _stored(item, service_key, "0")
    return PushedState(
        "", (state.tags | state.withdrawn) & current,
        set(state.urls) if item.get("known_urls") else set(),
        state.note if NOTE_NAME in (item.get("notes") or {}) else "",
        set(state.withdrawn))


def _cleaned(state: PushedState) -> PushedState:
    """A row in Hydrus's own form of each tag (rows written before PxIMSE cleaned
    tags as Hydrus does held ``:d`` where Hydrus holds ``::d``)."""
    def clean(tags: set[str]) -> set[str]:
        return {t for t in (clean_tag(tag) for tag in tags) if t}

    return PushedState(state.digest, clean(state.tags), set(state.urls), state.note,
                       clean(state.withdrawn))


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
        before=before,
    )


def _partly(change: _Change, parts: set[str]) -> PushedState:
    """What a change leaves recorded when only ``parts`` of it went through: what
    was not sent keeps its old value, and the digest is empty, so that the next
    push sends it."""
    if change.parts <= parts:
        return change.state
    new, old = change.state, change.before
    sent_tags = "tags" in parts
    return PushedState("", set(new.tags if sent_tags else old.tags),
                       set(new.urls if "urls" in parts else old.urls),
                       new.note if "note" in parts else old.note,
                       set(new.withdrawn if sent_tags else old.withdrawn))


def _count(report: PushReport, change: _Change, parts: set[str]) -> None:
    """Count the parts of a change that Hydrus accepted."""
    done = change.parts & parts
    if "tags" in done:
        report.tags_added += len(change.add) + len(change.readd)
        report.tags_removed += len(change.remove)
    if "urls" in done:
        report.urls_added += len(change.urls)
    if "note" in done:
        report.notes_set += change.note is not None
        report.notes_deleted += change.drop_note
    report.updated += bool(done)


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
