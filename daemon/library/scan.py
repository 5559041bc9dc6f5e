"""Scanning library roots into the catalogue (mark and sweep, as rclip does).

An unchanged file costs one ``stat``: the walk's (size, mtime_ns) is compared
with the catalogue's. New and changed files are read once in a process pool:
the bytes are hashed, and when the catalogue does not know the hash the same
bytes are decoded (a worker asks the catalogue through its ``content_lookup``);
a known hash (a move, rename or copy) is linked to its content without
decoding. A catalogue without a lookup has its files hashed first and only
unknown content decoded, in a second read.
Results are written in batched transactions. A root that is not there (missing,
an empty mount point, another drive: see ``library.presence``) marks its files
offline and deletes nothing; a folder that cannot be read keeps its files.
Named pipes, sockets and devices are recorded as skipped and never opened; a
file deleted while the scan reads it is removed, not recorded as an error.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import cast

from pximse.config import RootConfig, ScanConfig
from pximse.library.filekinds import special_kind
from pximse.library.identify import (
    identify_file,
    probe_for_catalog,
    read_new_file,
    special_record,
)
from pximse.library.presence import SAMPLE_FILES, check_root
from pximse.library.probe import ImageFacts, ProbeFailure
from pximse.library.walk import stat_parts, walk_root
from pximse.store.backends import Catalog
from pximse.store.scan_records import FileRecord, NewContent, ScanBatch

log = logging.getLogger(__name__)

POOL_THRESHOLD = 16
"""Fewer files than this are handled in-process: a pool costs more than it saves."""


@dataclass
class ScanReport:
    roots: int = 0
    files: int = 0
    unchanged: int = 0
    new_images: int = 0
    linked: int = 0
    changed: int = 0
    removed: int = 0
    restored: int = 0
    skipped: int = 0
    errors: int = 0
    offline_roots: list[str] = field(default_factory=list)
    offline_why: dict[str, str] = field(default_factory=dict)  # root name -> reason
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)  # symlinks to folders already walked
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases: ``hash``, ``decode``."""


class _Inline(Executor):
    """Runs work in this process (small jobs, tests, and platforms without fork)."""

    def map(self, fn, *iterables, timeout=None, chunksize=1):  # type: ignore[no-untyped-def,override]
        return map(fn, *iterables)


def scan_roots(
    catalog: Catalog,
    roots: Sequence[RootConfig],
    *,
    thumbnail_dir: Path,
    config: ScanConfig | None = None,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    config = config or ScanConfig()
    report = ScanReport(roots=len(roots))
    started = time.perf_counter()
    with ScanPool(config.workers) as pool:
        for root in roots:
            _scan_root(catalog, root, pool, thumbnail_dir, config, report, progress)
    report.seconds = time.perf_counter() - started
    return report


class ScanPool:
    """A process pool started only when a scan has enough work for it (the
    watcher keeps one between its batches and closes it when idle)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def for_jobs(self, count: int) -> Executor:
        if count < POOL_THRESHOLD or self.workers <= 1:
            return _Inline()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=get_context("spawn"), initializer=_worker_started,
                initargs=(os.getpid(),),
            )
        return self._pool

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _worker_started(parent_pid: int) -> None:
    """Pool workers leave with the scan: they ignore Ctrl+C (the scan handles it)
    and, on Linux, get SIGTERM if the scanning process is killed outright."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _scan_root(
    catalog: Catalog,
    root: RootConfig,
    pool: ScanPool,
    thumbnail_dir: Path,
    config: ScanConfig,
    report: ScanReport,
    progress: ProgressCallback | None,
) -> None:
    root_path = str(root.path)
    root_id = catalog.ensure_root(root.name, root_path)
    check = check_root(root_path, catalog.root_identity(root_id),
                       lambda: catalog.root_sample(root_id, SAMPLE_FILES))
    if not check.online:
        log.warning("library root %r is offline: %s; its files are kept, marked offline",
                    root.name, check.why)
        catalog.set_root_online(root_id, False, check.why)
        report.offline_roots.append(root.name)
        report.offline_why[root.name] = check.why or "offline"
        return

    walked = walk_root(
        root_path,
        recursive=root.recursive,
        follow_symlinks=config.follow_symlinks,
        include_file=root.includes if (root.include or root.exclude) else None,
        include_folder=(lambda rel: not root.skips_folder(rel)) if root.exclude else None,
    )
    report.unreadable.extend(walked.unreadable)
    report.loops.extend(walked.loops)
    report.files += walked.file_count

    # Only folders whose signature moved are compared file by file (all of them
    # when the root comes back from offline, or the catalogue has no signatures).
    offline = catalog.offline_files(root_id)
    signatures = catalog.folder_signatures(root_id)
    current = {folder: scan.signature for folder, scan in walked.folders.items()}
    changed = [f for f, sig in current.items() if offline or signatures.get(f) != sig]
    vanished = [f for f in signatures.keys() - current.keys() if walked.covers(f)]
    known = catalog.folder_stats([*changed, *vanished])
    on_disk: dict[str, int] = {}
    for folder in changed:
        on_disk.update(walked.folders[folder].files)

    # Set operations on the dicts' items run in C.
    different = on_disk.items() - known.items()
    todo = sorted((path, *stat_parts(key)) for path, key in different)
    report.changed += sum(1 for path, _, _ in todo if path in known)
    restored = [
        file_id for path, file_id in offline.items()
        if path in on_disk and on_disk[path] == known.get(path)
    ]
    report.unchanged += walked.file_count - len(todo) - len(restored)
    gone = [path for path in known.keys() - on_disk.keys() if walked.covers(path)]
    removed = list(catalog.file_ids(gone).values())
    report.removed += len(removed)
    report.restored += len(restored)

    if restored or removed:
        catalog.apply_scan_batch(ScanBatch(root_id, restored=restored, removed=removed))
    record_files(catalog, root_id, todo, pool, thumbnail_dir, config, report, progress)
    # Last, once every file of those folders is recorded: a scan stopped before
    # this point compares them file by file again next time.
    catalog.finish_root_scan(root_id, {f: current[f] for f in changed}, vanished,
                             identity=check.identity)


def record_files(
    catalog: Catalog,
    root_id: int,
    todo: list[tuple[str, int, int]],
    pool: ScanPool,
    thumbnail_dir: Path,
    config: ScanConfig,
    report: ScanReport,
    progress: ProgressCallback | None = None,
    *,
    known_hashes: dict[str, str] | None = None,
    one_read: bool = True,
) -> list[FileRecord]:
    """Record new and changed files ``(path, size, mtime_ns)`` of one root: hash
    them (content the catalogue knows is only linked), decode unknown content
    once, write in batches. ``known_hashes`` (path -> sha256) skips hashing the
    files whose content is already known (a move the watcher recognised).
    ``one_read``: hash and decode in one read where the catalogue offers a
    ``content_lookup`` (otherwise hash all, then decode what is new).
    Returns the records written."""
    batch_size = max(1, config.batch_size)
    known_hashes = known_hashes or {}
    hashed = [
        FileRecord(path, size, mtime_ns, "ok", known_hashes[path])
        for path, size, mtime_ns in todo if path in known_hashes
    ]
    unknown = [job for job in todo if job[0] not in known_hashes]
    lookup = catalog.content_lookup() if one_read else None
    if lookup is not None:
        read = _read_once(pool, unknown, lookup, thumbnail_dir, config, progress)
        return _record_read(catalog, root_id, hashed, read, pool, thumbnail_dir, config,
                            report, progress)
    identified = hashed + _identify(pool, unknown, progress)
    vanished = {item.path for item in identified
                if item.state == "error" and not os.path.lexists(item.path)}
    if vanished:  # deleted since the walk: gone, not "could not be read"
        identified = [item for item in identified if item.path not in vanished]
    known_content = catalog.content_ids(i.sha256 for i in identified if i.sha256)
    to_decode: dict[str, FileRecord] = {}
    copies: dict[str, list[FileRecord]] = {}
    records: list[FileRecord] = []
    for item in identified:
        if item.state != "ok" or item.sha256 is None:
            records.append(item)
            report.skipped += item.state == "skipped"
            report.errors += item.state == "error"
        elif item.sha256 in known_content:
            records.append(item)
            report.linked += 1
        elif item.sha256 not in to_decode:
            to_decode[item.sha256] = item
        else:
            copies.setdefault(item.sha256, []).append(item)  # decoded once, below
    _write(catalog, root_id, records, [], batch_size)
    written = list(records)

    decoded = _decode(pool, list(to_decode.values()), thumbnail_dir, config, progress)
    pending_records: list[FileRecord] = []
    pending_content: list[NewContent] = []
    for item, result in decoded:
        same = [item, *copies.get(item.sha256 or "", [])]
        while _vanished(result, same[0]) and len(same) > 1:  # a copy may still be there
            vanished.add(same.pop(0).path)
            result = probe_for_catalog((same[0].path, str(thumbnail_dir),
                                        config.thumbnail_size, config.max_image_pixels))
        if _vanished(result, same[0]):
            vanished.add(same[0].path)
            continue
        item = same[0]
        if isinstance(result, ImageFacts):
            pending_content.append(NewContent(**asdict(result), mtime_ns=item.mtime_ns))
            pending_records.extend(same)
            report.new_images += 1
            report.linked += len(same) - 1
        else:
            failure = cast(ProbeFailure, result)
            pending_records.extend(
                FileRecord(copy.path, copy.size, copy.mtime_ns, "error",
                           failure.sha256, failure.reason, failure.message)
                for copy in same
            )
            report.errors += len(same)
        if len(pending_records) >= batch_size:
            _write(catalog, root_id, pending_records, pending_content, batch_size)
            written += pending_records
            pending_records, pending_content = [], []
    _write(catalog, root_id, pending_records, pending_content, batch_size)
    gone = list(catalog.file_ids(vanished).values())
    if gone:
        catalog.apply_scan_batch(ScanBatch(root_id, removed=gone))
        report.removed += len(gone)
    return written + pending_records


def _vanished(result: object, item: FileRecord) -> bool:
    """A decode that failed because the file was deleted since it was hashed."""
    return isinstance(result, ProbeFailure) and result.reason == "unreadable" \
        and not os.path.lexists(item.path)


def _read_once(
    pool: ScanPool,
    todo: list[tuple[str, int, int]],
    lookup: object,
    thumbnail_dir: Path,
    config: ScanConfig,
    progress: ProgressCallback | None,
) -> Iterator[tuple[FileRecord, ImageFacts | ProbeFailure | None]]:
    special, regular = _special_files(todo)
    for record in special:
        yield record, None
    executor = pool.for_jobs(len(regular))
    jobs = [(path, size, mtime_ns, str(thumbnail_dir), config.thumbnail_size,
             config.max_image_pixels, lookup) for path, size, mtime_ns in regular]
    for done, item in enumerate(executor.map(read_new_file, jobs, chunksize=8), start=1):
        if progress:
            progress("hash", done, len(regular))
        yield item


def _record_read(
    catalog: Catalog,
    root_id: int,
    hashed: list[FileRecord],
    read: Iterator[tuple[FileRecord, ImageFacts | ProbeFailure | None]],
    pool: ScanPool,
    thumbnail_dir: Path,
    config: ScanConfig,
    report: ScanReport,
    progress: ProgressCallback | None,
) -> list[FileRecord]:
    """Write what the one-read workers found, batch by batch as it comes: known
    content linked, new content with its facts (once per hash), failures as
    errors, files deleted since the walk removed. Content a worker took as
    known but the catalogue does not have (it went between the two looks) is
    decoded afterwards."""
    batch_size = max(1, config.batch_size)
    written: list[FileRecord] = []
    late: list[FileRecord] = []
    vanished: set[str] = set()
    results: list[tuple[FileRecord, ImageFacts | ProbeFailure | None]] = [
        (record, None) for record in hashed]

    def flush() -> None:
        known = catalog.content_ids(record.sha256 for record, _ in results if record.sha256)
        records: list[FileRecord] = []
        content: dict[str, NewContent] = {}
        for record, found in results:
            sha = record.sha256
            failed = record.state == "error" or (
                isinstance(found, ProbeFailure) and found.reason == "unreadable")
            if failed and not os.path.lexists(record.path):
                vanished.add(record.path)  # deleted since the walk: gone, not an error
            elif record.state != "ok" or sha is None:
                report.skipped += record.state == "skipped"
                report.errors += record.state == "error"
                records.append(record)
            elif sha in known or sha in content:
                report.linked += 1
                records.append(record)
            elif isinstance(found, ImageFacts):
                content[sha] = NewContent(**asdict(found), mtime_ns=record.mtime_ns)
                report.new_images += 1
                records.append(record)
            elif isinstance(found, ProbeFailure):
                report.errors += 1
                records.append(FileRecord(record.path, record.size, record.mtime_ns, "error",
                                          sha, found.reason, found.message))
            else:
                late.append(record)
        _write(catalog, root_id, records, list(content.values()), batch_size)
        written.extend(records)
        results.clear()

    for item in read:
        results.append(item)
        if len(results) >= batch_size:
            flush()
    flush()
    gone = list(catalog.file_ids(vanished).values())
    if gone:
        catalog.apply_scan_batch(ScanBatch(root_id, removed=gone))
        report.removed += len(gone)
    if late:
        written += record_files(catalog, root_id, [(r.path, r.size, r.mtime_ns) for r in late],
                                pool, thumbnail_dir, config, report, progress,
                                known_hashes={r.path: r.sha256 or "" for r in late},
                                one_read=False)
    return written


def _identify(
    pool: ScanPool, todo: list[tuple[str, int, int]], progress: ProgressCallback | None
) -> list[FileRecord]:
    results, regular = _special_files(todo)
    executor = pool.for_jobs(len(regular))
    for done, item in enumerate(
        executor.map(identify_file, regular, chunksize=32), start=1
    ):
        results.append(item)
        if progress:
            progress("hash", done, len(regular))
    return results


def _special_files(todo: list[tuple[str, int, int]]
                   ) -> tuple[list[FileRecord], list[tuple[str, int, int]]]:
    """Pipes, sockets and devices as skipped records (never opened: reading a
    FIFO waits for a writer), and the rest of ``todo``."""
    special: list[FileRecord] = []
    regular: list[tuple[str, int, int]] = []
    for job in todo:
        try:
            kind = special_kind(os.stat(job[0]).st_mode)
        except OSError:
            kind = None  # identify_file says why, or finds it gone
        if kind is None:
            regular.append(job)
        else:
            special.append(special_record(job[0], job[2], kind))
    return special, regular


def _decode(
    pool: ScanPool,
    items: list[FileRecord],
    thumbnail_dir: Path,
    config: ScanConfig,
    progress: ProgressCallback | None,
) -> Iterator[tuple[FileRecord, object]]:
    executor = pool.for_jobs(len(items))
    jobs = [
        (item.path, str(thumbnail_dir), config.thumbnail_size, config.max_image_pixels)
        for item in items
    ]
    for done, (item, result) in enumerate(
        zip(items, executor.map(probe_for_catalog, jobs, chunksize=4), strict=True), start=1
    ):
        if progress:
            progress("decode", done, len(items))
        yield item, result


def _write(
    catalog: Catalog,
    root_id: int,
    records: Iterable[FileRecord],
    content: list[NewContent],
    batch_size: int,
) -> None:
    records = list(records)
    for start in range(0, max(len(records), 1), batch_size):
        chunk = records[start : start + batch_size]
        new = content if start == 0 else []
        if chunk or new:
            catalog.apply_scan_batch(
                ScanBatch(root_id, new_content=new, files=chunk)
            )
