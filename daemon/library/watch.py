"""Watching the library roots while the daemon runs (watchfiles).

Each root has a thread of its own that turns the OS's change notifications
(inotify, FSEvents, ReadDirectoryChangesW) into paths; one applier thread
gathers the paths of every root and applies them in batches
(``library.changes``): a path is applied once nothing has happened to it for
``debounce_ms``, so a burst of thousands of events costs a handful of
transactions, and a file that is still being written (a download in
progress) waits until it is complete (an image whose end is missing is
given time to be finished before it is read).

When a root cannot be watched by notifications (the OS's watch limit, such
as Linux's ``fs.inotify.max_user_watches``, or a network share, whose remote
changes send none) it is polled instead, with a warning that says why. A root
that is not there (missing, an empty mount point left by an unmounted drive,
another drive in its place: ``library.presence``) is marked offline and not
watched; it is looked at every few seconds, and when it is back the watch is
set up again on what is mounted now and the daemon rescans it, which restores
its files without reading unchanged ones.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pximse.config import RootConfig, ScanConfig
from pximse.data_folder import DataFolderProblem, data_folder_problem, wait_for_room
from pximse.library.changes import ChangeReport, apply_changes
from pximse.library.filekinds import open_regular
from pximse.library.presence import SAMPLE_FILES, RootCheck, check_root
from pximse.library.scan import ScanPool
from pximse.store.backends import Catalog

__all__ = ["LibraryWatcher", "describe_watch_error", "looks_complete", "network_filesystem"]

log = logging.getLogger(__name__)

POLL_DELAY_MS = 10_000
"""How often a polled root is walked for changes (``[watch] poll_seconds``)."""
OFFLINE_CHECK_S = 5.0
"""How often a missing root is looked for."""
INCOMPLETE_WAIT_S = 30.0
"""How long an image whose end is missing is given to be finished before it is
recorded as it is (a truncated file is then an error, with its reason)."""
POOL_IDLE_S = 30.0
"""The hashing pool is closed after this long without changes."""
NETWORK_FILESYSTEMS = frozenset(
    "nfs nfs4 cifs smb3 smbfs 9p afs ncpfs davfs fuse.sshfs fuse.rclone fuse.s3fs "
    "fuse.gvfsd-fuse ceph glusterfs fuse.glusterfs".split()
)

WatchFunction = Callable[..., Iterable[set[tuple[Any, str]]]]


@dataclass
class _Pending:
    root: RootConfig
    seen: float  # monotonic time of the last event
    first: float


class LibraryWatcher:
    """``start`` watches every root; ``stop`` applies what is pending and ends.

    ``on_batch(report)`` is called after each batch is applied, ``on_mode(root,
    mode, why)`` when a root starts ``watching``, ``polling`` or goes
    ``offline``, ``on_rescan(root, reason)`` when a root must be compared with
    the catalogue in full: a missing root returned, or changes were reported
    that could not be read (the OS's report of a name that is not valid text
    loses the whole batch it came in). ``on_problem(problem)`` when the data
    folder cannot be written (a full disk): the batch is kept, and applied once
    there is room again; ``on_problem(None)`` then.
    """

    def __init__(
        self,
        catalog: Catalog,
        roots: Sequence[RootConfig],
        *,
        thumbnail_dir: Path,
        scan_config: ScanConfig | None = None,
        debounce_ms: int = 400,
        on_batch: Callable[[ChangeReport], None] = lambda report: None,
        on_mode: Callable[[RootConfig, str, str | None], None] = lambda root, mode, why: None,
        on_rescan: Callable[[RootConfig, str], None] = lambda root, reason: None,
        on_problem: Callable[[DataFolderProblem | None], None] = lambda problem: None,
        data_dir: Path | None = None,
        watch: WatchFunction | None = None,
        poll_delay_ms: int = POLL_DELAY_MS,
    ) -> None:
        self.catalog = catalog
        self.roots = list(roots)
        self.thumbnail_dir = thumbnail_dir
        self.scan_config = scan_config or ScanConfig()
        self.settle_s = max(debounce_ms, 50) / 1000
        self.on_batch = on_batch
        self.on_mode = on_mode
        self.on_rescan = on_rescan
        self.on_problem = on_problem
        self.data_dir = data_dir if data_dir is not None else Path(thumbnail_dir).parent
        self.poll_delay_ms = poll_delay_ms
        if watch is None:
            from watchfiles import watch as watchfiles_watch

            watch = watchfiles_watch
        self._watch = watch
        self.modes: dict[str, str] = {}
        self.batches = 0
        self._queue: queue.Queue[tuple[RootConfig, list[str]]] = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._threads: list[threading.Thread] = []
        self._root_ids: dict[str, int] = {}

    # -- control -------------------------------------------------------------------

    def start(self) -> None:
        for root in self.roots:
            self._spawn(f"watch {root.name}", self._watch_root, root)
        self._spawn("watch apply", self._apply_loop)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching; what is already pending is applied first."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every change seen so far is applied (for tests and benchmarks)."""
        return self._idle.wait(timeout)

    def add(self, root: RootConfig, paths: Iterable[str]) -> None:
        """Paths to compare with the catalogue, as if the OS had reported them."""
        self._idle.clear()
        self._queue.put((root, list(paths)))

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _set_mode(self, root: RootConfig, mode: str, why: str | None = None) -> None:
        if self.modes.get(root.name) != mode:
            self.modes[root.name] = mode
            self.on_mode(root, mode, why)

    # -- one thread per root ------------------------------------------------------------

    def _check(self, root: RootConfig) -> RootCheck:
        """Whether the root is there (see ``library.presence``)."""
        root_id = self._root_ids.get(root.name)
        if root_id is None:
            root_id = self._root_ids[root.name] = self.catalog.ensure_root(
                root.name, str(root.path))
        return check_root(str(root.path), self.catalog.root_identity(root_id),
                          lambda: self.catalog.root_sample(root_id, SAMPLE_FILES),
                          empty_rule=False)  # see library.presence

    def _watch_root(self, root: RootConfig) -> None:
        path = str(root.path)
        fstype = network_filesystem(path)
        polling, why = (True, f"{path} is on a network share ({fstype}), which sends no "
                              "change notifications") if fstype else (False, None)
        # watchfiles ignores every error, the watch limit included, when told to
        # ignore unreadable folders: it is told so only once one was met.
        skip_unreadable = False
        rescan: str | None = None  # asked once the watch is set up again (nothing missed)
        while not self._stop.is_set():
            check = self._check(root)
            if not check.online:
                if self._wait_for_return(root, check.why or f"{path} is not there"):
                    rescan = "root back"
                continue
            self._set_mode(root, "polling" if polling else "watching", why)
            if polling and why:
                log.warning("root %r is polled every %.1fs: %s", root.name,
                            self.poll_delay_ms / 1000, why)
            try:
                for changes in self._watch(
                    path, debounce=max(100, int(self.settle_s * 1000)), step=50,
                    stop_event=self._stop, rust_timeout=int(OFFLINE_CHECK_S * 1000),
                    yield_on_timeout=True, raise_interrupt=False, force_polling=polling,
                    poll_delay_ms=self.poll_delay_ms, recursive=root.recursive,
                    ignore_permission_denied=skip_unreadable,
                ):
                    if rescan is not None:
                        self.on_rescan(root, rescan)
                        rescan = None
                    if changes:
                        self.add(root, [changed for _, changed in changes])
                    if not self._check(root).online:  # unmounted: watch nothing stale
                        break
            except Exception as exc:  # the OS refused to watch: poll instead
                if self._stop.is_set():
                    return
                if not self._check(root).online:
                    continue
                if _unreadable_name(exc):
                    # watchfiles drops the whole batch: compare the root, watch on.
                    log.warning("root %r: a change was reported under a name that is not "
                                "valid text (%s); the root is compared with the catalogue",
                                root.name, exc)
                    rescan = "changes reported under a name that is not text"
                    continue
                if not skip_unreadable and ("Permission denied" in str(exc)
                                            or isinstance(exc, PermissionError)):
                    skip_unreadable = True
                    log.warning("some folders under root %r cannot be read and are not "
                                "watched: %s", root.name, exc)
                    continue
                if polling:
                    log.exception("polling root %r failed; trying again", root.name)
                    self._stop.wait(OFFLINE_CHECK_S)
                    continue
                polling, why = True, describe_watch_error(exc, path)
                why = f"it cannot be watched and is polled instead: {why}"
                rescan = "polled from now on"  # what happened meanwhile is found so

    def _wait_for_return(self, root: RootConfig, why: str) -> bool:
        """Mark the root offline and wait until it is back (True) or the watcher
        stops (False)."""
        path = str(root.path)
        log.warning("library root %r is offline (%s): its files are kept, marked offline",
                    root.name, why)
        self.add(root, [path])  # the applier marks the root offline
        self._set_mode(root, "offline", why)
        while not self._stop.is_set() and not self._check(root).online:
            self._stop.wait(OFFLINE_CHECK_S)
        if self._stop.is_set():
            return False
        log.warning("library root %r is back: rescanning it", root.name)
        return True

    # -- the applier --------------------------------------------------------------------

    def _apply_loop(self) -> None:
        pending: dict[str, _Pending] = {}
        pool = ScanPool(self.scan_config.workers)
        last_work = time.monotonic()
        try:
            while True:
                stopping = self._stop.is_set()
                wait = self._next_due(pending) if pending else POOL_IDLE_S
                try:
                    item: tuple[RootConfig, list[str]] | None = self._queue.get(
                        timeout=0 if stopping else max(0.01, min(wait, 1.0)))
                except queue.Empty:
                    item = None
                now = time.monotonic()
                while item is not None:
                    root, paths = item
                    for path in paths:
                        entry = pending.get(path)
                        if entry is None:
                            pending[path] = _Pending(root, now, now)
                        else:
                            entry.seen = now
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                ready = self._ready(pending, now, flush=stopping)
                if ready:
                    for root, again in self._apply(ready, pool, flush=stopping).items():
                        for path in again:  # written to just now: look again when quiet
                            pending.setdefault(path, _Pending(root, now, now))
                    last_work = time.monotonic()
                elif not pending:
                    if self._queue.empty():
                        self._idle.set()
                    if stopping:
                        return
                    if time.monotonic() - last_work > POOL_IDLE_S:
                        pool.close()
        finally:
            pool.close()
            self._idle.set()

    def _next_due(self, pending: dict[str, _Pending]) -> float:
        oldest = min(entry.seen for entry in pending.values())
        return max(0.0, oldest + self.settle_s - time.monotonic())

    def _ready(self, pending: dict[str, _Pending], now: float, *, flush: bool
               ) -> dict[RootConfig, set[str]]:
        """The paths quiet for ``settle_s`` (all of them when stopping), by root;
        an image still missing its end waits, up to :data:`INCOMPLETE_WAIT_S`."""
        ready: dict[RootConfig, set[str]] = {}
        for path, entry in list(pending.items()):
            if not flush and now - entry.seen < self.settle_s:
                continue
            if not flush and now - entry.first < INCOMPLETE_WAIT_S \
                    and looks_complete(path) is False:
                entry.seen = now  # look again after another quiet spell
                continue
            del pending[path]
            ready.setdefault(entry.root, set()).add(path)
        return ready

    def _apply(self, ready: dict[RootConfig, set[str]], pool: ScanPool, *, flush: bool
               ) -> dict[RootConfig, set[str]]:
        """Apply one batch; returns the paths to look at again later."""
        quiet_since = None if flush else time.time_ns() - int(self.settle_s * 1e9)
        try:
            report = apply_changes(self.catalog, ready, pool=pool,
                                   thumbnail_dir=self.thumbnail_dir, config=self.scan_config,
                                   quiet_since_ns=quiet_since)
        except Exception as exc:  # keep watching; the periodic rescan repairs what was missed
            problem = data_folder_problem(exc, self.data_dir)
            if problem is None:
                log.exception("applying %d changed paths failed",
                              sum(len(p) for p in ready.values()))
                return {}
            # A full disk: nothing of the batch was half written; keep it for later.
            log.warning("changes wait: %s", problem.message)
            self.on_problem(problem)
            if not wait_for_room(problem, self._stop):
                return {}  # stopping: the next start's scan catches up
            self.on_problem(None)
            return ready
        self.batches += 1
        by_name = {root.name: root for root in ready}
        deferred = {by_name[name]: paths for name, paths in report.deferred.items()}
        if not report.empty:
            log.info("changes applied: %d added, %d changed, %d moved, %d removed",
                     report.added, report.changed, report.moved, report.removed)
            self.on_batch(report)
        return deferred


def _unreadable_name(exc: BaseException) -> bool:
    """watchfiles' error for a path that is not valid UTF-8 (it raises instead of
    reporting it, and the other changes of that batch are lost with it)."""
    return "Unable to decode path" in str(exc)


def looks_complete(path: str) -> bool | None:
    """Whether an image file has its end (a download still being written has
    not): True or False for PNG, JPEG, GIF, WebP and BMP, None for anything
    else or a file that cannot be read. Only a regular file is opened, without
    waiting (a named pipe would block the watcher until someone wrote to it)."""
    try:
        with open_regular(path) as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - 32))
            tail = handle.read(32)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return tail[-12:-4] == b"\x00\x00\x00\x00IEND"
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" in tail
    if head.startswith((b"GIF87a", b"GIF89a")):
        return tail.endswith(b"\x3b")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return int.from_bytes(head[4:8], "little") + 8 <= size
    if head.startswith(b"BM") and len(head) >= 6:
        return int.from_bytes(head[2:6], "little") <= size
    return None


def describe_watch_error(exc: BaseException, path: str) -> str:
    """What to tell the user when the OS refuses to watch a root."""
    text = str(exc)
    if "limit" in text.lower() or "No space left on device" in text \
            or getattr(exc, "errno", None) == 28:
        return (f"the OS's limit on watched folders was reached while watching {path} "
                f"({text}); on Linux raise it, e.g. `sudo sysctl "
                "fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it)")
    if "Too many open files" in text or getattr(exc, "errno", None) == 24:
        return (f"the OS's limit on watchers was reached while watching {path} ({text}); "
                "on Linux raise fs.inotify.max_user_instances")
    return f"watching {path} failed: {type(exc).__name__}: {text}"


def network_filesystem(path: str) -> str | None:
    """The file system type when ``path`` is on a network share (Linux), else None."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            entries = [line.split() for line in mounts]
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", None
    for fields in entries:
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, fstype = mount, fields[2]
    return fstype if fstype in NETWORK_FILESYSTEMS else None
