"""The resident daemon: on start it warms the query index, scans the library
roots (stat-only for what did not change), then watches them and indexes new
images in the background; a stat-only rescan runs every ``watch.rescan_minutes``
as a safety net, and on request (``POST /api/scan``). On its first start it
downloads the configured models' missing weights in the background
(:mod:`.weights`), while it serves.

The HTTP app holds one :class:`Daemon` (``app.state.daemon``); ``pximse serve``
starts it and stops it. Without ``start`` (tests, tools) it still answers
status and runs scans on request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pximse.config import Config, RootConfig
from pximse.data_folder import DataFolderProblem, data_folder_problem, wait_for_room
from pximse.error_text import one_line
from pximse.events import EventBus
from pximse.plugins import LoopContext, problems, start_loops
from pximse.service.indexer import BackgroundIndexer
from pximse.service.state import DaemonState
from pximse.store.backends import Catalog

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


class Daemon:
    def __init__(self, config: Config, catalog: Catalog, events: EventBus) -> None:
        self.config = config
        self.catalog = catalog
        self.events = events
        self.state = DaemonState(config, catalog, events)
        self.indexer: BackgroundIndexer | None = None
        self.weights: Any = None  # the first-start download of missing weights
        self.watcher: Any = None
        self._scan_lock = threading.Lock()
        self._rescans: set[str] = set()
        self._rescans_lock = threading.Lock()
        self._room_lock = threading.Lock()
        self._room_waiting = False
        self._resume_when_room: list[Callable[[], object]] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # The plug-ins' background loops, by name: what each one's start gave.
        self.loops: dict[str, Any] = {}
        self._loops_lock = threading.Lock()

    # -- what the API asks ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.state.snapshot()

    def pause(self) -> bool:
        if self.indexer is not None:
            self.indexer.pause()
        else:
            self.state.set_indexing(paused=True)
        self.state.publish_status(unless_within_s=0)
        return True

    def resume(self) -> bool:
        if self.indexer is not None:
            self.indexer.resume()
        else:
            self.state.set_indexing(paused=False)
        self.state.publish_status(unless_within_s=0)
        return False

    def request_scan(self, reason: str = "requested",
                     roots: list[RootConfig] | None = None) -> tuple[bool, str | None]:
        """Start a rescan in the background unless one is running."""
        if not self._scan_lock.acquire(blocking=False):
            return False, "already running"
        thread = threading.Thread(target=self._scan_holding_lock, args=(reason, roots),
                                  name="scan", daemon=True)
        thread.start()
        return True, None

    def rescan_root(self, root: RootConfig, reason: str) -> None:
        """Compare one root with the catalogue in full, in the background (after a
        running scan); requests for a root that is already waiting are one."""
        with self._rescans_lock:
            if root.name in self._rescans:
                return
            self._rescans.add(root.name)

        def run() -> None:
            self._scan_lock.acquire()
            with self._rescans_lock:  # a request from now on is a scan of its own
                self._rescans.discard(root.name)
            self._scan_holding_lock(reason, [root])

        self._spawn(f"rescan {root.name}", run)

    def wait_for_room(self, problem: DataFolderProblem, resume: Callable[[], object]) -> None:
        """The data folder's disk is full (or read-only): say so in the status, and
        call ``resume`` once there is room again (one waiting thread for all)."""
        self.state.set_data_folder_problem(problem.to_json())
        with self._room_lock:
            self._resume_when_room.append(resume)
            if self._room_waiting:
                return
            self._room_waiting = True
        self._spawn("wait for room", self._wait_for_room, problem)

    def _wait_for_room(self, problem: DataFolderProblem) -> None:
        room = wait_for_room(problem, self._stopping)
        with self._room_lock:
            resumes, self._resume_when_room = self._resume_when_room, []
            self._room_waiting = False
        if not room:
            return
        log.warning("the data folder has room again: the work goes on")
        self.state.set_data_folder_problem(None)
        for resume in resumes:
            resume()

    def scan(self, reason: str, roots: list[RootConfig] | None = None) -> dict[str, Any]:
        """Scan now, in this thread (waiting for a running scan to end first)."""
        self._scan_lock.acquire()
        return self._scan_holding_lock(reason, roots)

    def _scan_holding_lock(self, reason: str, roots: list[RootConfig] | None
                           ) -> dict[str, Any]:
        from pximse.library.scan import scan_roots

        try:
            self.state.scan_started(reason)
            body: dict[str, Any]
            try:
                report = scan_roots(
                    self.catalog, roots if roots is not None else list(self.config.roots),
                    thumbnail_dir=self.config.thumbnail_dir, config=self.config.scan,
                    progress=self.state.scan_progress,
                )
                body = report.to_json()
                log.info("scan (%s) finished: %s", reason, body)
                for folder, error in report.unreadable[:20]:
                    self.state.error(folder, "unreadable", error)
                if report.offline_roots:
                    self.state.counts_changed()
                if report.new_images or report.linked or report.removed or report.restored:
                    self.state.files_changed(report.new_images + report.linked,
                                             report.removed, 0, [])
                if report.new_images and self.indexer is not None:
                    self.indexer.wake()
            except Exception as exc:  # keep serving: the error is logged and shown in status
                problem = data_folder_problem(exc, self.config.data_dir)
                if problem is not None:  # a full disk: stop, and scan again once there is room
                    log.warning("the library scan stopped: %s", problem.message)
                    body = {"error": problem.message}
                    self.wait_for_room(problem, lambda: self.request_scan(reason, roots))
                else:
                    log.exception("the library scan failed")
                    body = {"error": f"the scan failed ({one_line(exc)}); see the log"}
                    self.state.error("", "scan", body["error"])
            self.state.scan_finished(body)
            return body
        finally:
            self._scan_lock.release()

    # -- running -----------------------------------------------------------------------

    def start(self, *, scan: bool = True, models: bool = True, watch: bool | None = None
              ) -> None:
        """Start the background work; returns at once."""
        self.state.models_enabled = models
        if models:
            self.indexer = BackgroundIndexer(self.config, self.state,
                                             new_after=self.catalog.max_content_id(),
                                             catalog=self.catalog)
        watching = self.config.watch.enabled if watch is None else watch
        self.state.watch_enabled = watching
        self._spawn("start", self._start, scan, watching)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _start(self, scan: bool, watching: bool) -> None:
        from pximse.library.thumbnails import remove_leftover_temp_files

        if self.indexer is not None:
            self._start_weights()
        removed = remove_leftover_temp_files(self.config.thumbnail_dir)
        if removed:
            log.info("removed %d unfinished thumbnail files a stopped process left", removed)
        index = self.catalog.query_index()
        if index is not None:
            try:
                index.warm()
            except Exception:  # a cold index still answers; it is only slower
                log.exception("warming the query index failed")
        if watching and self.config.roots:
            self._start_watching()
        if scan and self.config.roots and not self._stopping.is_set():
            self.scan("start")
        if self.indexer is not None and not self._stopping.is_set():
            self.indexer.start()
        minutes = self.config.watch.rescan_minutes
        if minutes > 0 and self.config.roots:
            self._spawn("rescan", self._rescan_every, minutes * 60.0)
        if not self._stopping.is_set():
            self._start_plugin_loops()

    def _start_weights(self) -> None:
        """Fetch the configured models' missing weights in the background."""
        from pximse.service.weights import WeightsFetcher

        try:
            self.weights = WeightsFetcher(self.config, self.state, self._stopping,
                                          on_ready=self._weights_ready)
            self.weights.start()
        except Exception:  # the models wait; everything else goes on
            log.exception("could not start fetching the models' weights")

    def _weights_ready(self, stage: str) -> None:
        if self.indexer is not None and not self._stopping.is_set():
            self.indexer.restart()

    def _start_watching(self) -> None:
        from pximse.library.watch import LibraryWatcher

        self.watcher = LibraryWatcher(
            self.catalog, self.config.roots, thumbnail_dir=self.config.thumbnail_dir,
            scan_config=self.config.scan, debounce_ms=self.config.watch.debounce_ms,
            poll_delay_ms=self.config.watch.poll_seconds * 1000,
            on_batch=self._changes_applied, on_mode=self._root_mode,
            on_rescan=self.rescan_root, on_problem=self._watch_problem,
            data_dir=self.config.data_dir,
        )
        self.watcher.start()

    def _watch_problem(self, problem: DataFolderProblem | None) -> None:
        """The watcher waits for room in the data folder (it goes on by itself)."""
        if problem is not None:
            self.state.set_data_folder_problem(problem.to_json())
        elif not self._room_waiting:
            self.state.set_data_folder_problem(None)

    def _changes_applied(self, report: Any) -> None:
        if report.offline_roots:
            self.state.counts_changed()
        for path, reason, message in report.errors[:20]:
            self.state.error(path, reason, message)
        if report.added or report.changed or report.removed or report.moved:
            self.state.files_changed(report.added + report.changed, report.removed,
                                     report.moved, report.ids)
        if report.new_images and self.indexer is not None:
            self.indexer.wake()
        self.state.publish_status()  # the new counts, for clients that show them

    def _root_mode(self, root: RootConfig, mode: str, why: str | None) -> None:
        self.state.set_root_mode(root.name, mode)
        self.state.counts_changed()  # offline and back: the counts move at once
        if mode == "polling" and why:
            self.state.error(str(root.path), "watch", why)
        self.state.publish_status(unless_within_s=0)

    def _rescan_every(self, seconds: float) -> None:
        while not self._stopping.wait(seconds):
            self.request_scan("periodic")

    def _start_plugin_loops(self) -> None:
        """The plug-ins' background work (the Hydrus push, the XMP follower, the
        Pixiv fetch): each stops with the daemon; one that fails to start is
        logged and listed in the recent errors by name."""
        for name, handle in start_loops(self.loop_context()).items():
            with self._loops_lock:
                if self.loops.get(name) is None:
                    self.loops[name] = handle
        for problem in problems():  # in the status panel's errors too, by name
            self.state.error(f"plug-in {problem.name}", "plugin",
                             f"{problem.entry_point}: {problem.message}")

    def loop_context(self) -> LoopContext:
        """What the plug-ins' loops get from the daemon."""
        return LoopContext(self.config, self.catalog, self.events, self._stopping,
                           self._spawn, self.keep_loop)

    def keep_loop(self, name: str, make: Callable[[LoopContext], Any]) -> Any:
        """The plug-in loop ``name`` (``loops[name]``), made by ``make`` the first
        time, whether the daemon's start or a request asks first."""
        with self._loops_lock:
            if self.loops.get(name) is None:
                self.loops[name] = make(self.loop_context())
            return self.loops[name]

    def begin_stop(self) -> None:
        """Stop taking new work (called from the signal handler; returns at once)."""
        self._stopping.set()
        if self.indexer is not None:
            self.indexer.begin_stop()

    def stop(self) -> None:
        """Finish and commit the work in hand, then stop every background thread."""
        self.begin_stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.indexer is not None:
            self.indexer.stop()
        self.events.publish("status", **self.state.snapshot(), stopping=True)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()
