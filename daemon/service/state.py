"""What the daemon is doing right now, in one place, for ``/api/status``,
``/api/events`` and ``pximse status --follow``.

Every part of the daemon (scan, watcher, indexer) reports here from its own
thread; each report also goes out on the event bus, so clients see it as it
happens. A snapshot is the catalogue's counts plus this live state.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from pximse import __version__
from pximse.config import Config
from pximse.events import Event, EventBus
from pximse.service.library_progress import library_stages
from pximse.store.backends import Catalog
from pximse.store.pathtext import readable

__all__ = ["DaemonState", "weights_text"]

_RECENT_ERRORS = 50
STATUS_EVERY_BUSY_S = 2.0
STATUS_EVERY_IDLE_S = 30.0
CHEAP_COUNTS_S = 0.2
"""Counts that take less than this are made again in the request that needs them."""
COUNTS_MAX_AGE_S = 60.0


class DaemonState:
    def __init__(self, config: Config, catalog: Catalog, events: EventBus) -> None:
        self.config = config
        self.catalog = catalog
        self.events = events
        self._lock = threading.Lock()
        self.scan: dict[str, Any] = {"running": False, "last": None}
        self.models: dict[str, Any] = {"running": False, "stages": {}, "last": None}
        self.paused = config.indexing.paused
        self.models_enabled = True  # False when the daemon runs no models (--no-models)
        self.indexing_running = False
        self.stages: dict[str, dict[str, Any]] = {}
        self.weights: dict[str, dict[str, Any]] = {}  # stage -> its weights' download
        self.watch_enabled = config.watch.enabled
        self.watch_roots: dict[str, str] = {}
        self.errors: deque[dict[str, Any]] = deque(maxlen=_RECENT_ERRORS)
        self.data_folder: dict[str, Any] | None = None  # a full disk: what, where, how much
        # The model worker's supervision: deaths, the images it holds, suspects...
        self.worker: dict[str, Any] = {"deaths": 0, "last_death": None, "in_hand": [],
                                       "suspects": [], "quarantined": 0}
        self._last_status = 0.0
        self._last_snapshot: tuple[float, Event] | None = None
        # The catalogue's counts take seconds on a library of a million images:
        # they are kept, and made again when something changed, in the
        # background once making them is not cheap (see ``_catalog_counts``).
        self._counts: dict[str, Any] | None = None
        self._counts_at = 0.0
        self._counts_cost = 0.0
        self._dirty = True
        self._refreshing = False
        self._counts_lock = threading.Lock()

    # -- reports from the daemon's parts -----------------------------------------

    def scan_started(self, reason: str) -> None:
        with self._lock:
            self.scan.update(running=True, reason=reason)
        self.events.publish("scan", running=True, reason=reason)

    def scan_progress(self, phase: str, done: int, total: int) -> None:
        self.scan["progress"] = {"phase": phase, "done": done, "total": total}

    def scan_finished(self, report: dict[str, Any]) -> None:
        self._dirty = True
        with self._lock:
            self.scan.update(running=False, last=report)
            self.scan.pop("progress", None)
            self.scan.pop("reason", None)
        self.events.publish("scan", running=False, **report)

    def stage_progress(self, stage: str, done: int, total: int, rate: float,
                       eta_s: float | None, state: str = "running") -> None:
        entry = {"done": done, "total": total, "rate": rate, "eta_s": eta_s, "state": state}
        self._dirty = True
        with self._lock:
            self.stages[stage] = entry
        self.events.publish("indexing", stage=stage, done=done, total=total, rate=rate,
                            eta_s=eta_s, state=state)

    def weights_update(self, stage: str, entry: dict[str, Any]) -> None:
        """A stage's weights: ``missing``, ``downloading`` (file, done, total),
        ``waiting`` (message, next_try) or ``ready``."""
        entry = {**entry, "time": time.time()}
        with self._lock:
            self.weights[stage] = entry
            self.stages.setdefault(stage, _idle_stage())
        self.events.publish("weights", stage=stage, **entry, text=weights_text(entry))
        if entry["state"] != "downloading":
            self.publish_status(unless_within_s=0)

    def set_stage_plan(self, described: dict[str, dict[str, Any]],
                       pending: dict[str, bool] | None = None) -> None:
        """Every configured stage gets a row, and an unavailable one says why;
        with ``pending``, a stage that has images waiting is ``starting``."""
        with self._lock:
            for name, stage in described.items():
                entry = self.stages.setdefault(name, _idle_stage())
                if stage.get("state") == "unavailable":
                    entry["state"] = f"unavailable: {stage.get('message', '')}"
                elif pending is not None and pending.get(name):
                    entry["state"] = "starting"
                elif str(entry.get("state", "")).startswith("unavailable"):
                    entry["state"] = "idle"

    def set_stage_state(self, state: str) -> None:
        """Every stage's state at once ("paused", "idle", "waiting for idle CPU"...),
        but for stages that cannot run (they say why until the next plan)."""
        with self._lock:
            for entry in self.stages.values():
                if not str(entry.get("state", "")).startswith("unavailable"):
                    entry["state"] = state

    def set_indexing(self, *, running: bool | None = None, paused: bool | None = None) -> None:
        with self._lock:
            if running is not None:
                self.indexing_running = running
                self.models["running"] = running
            if paused is not None:
                self.paused = paused

    def set_root_mode(self, root: str, mode: str) -> None:
        """``watching``, ``polling`` or ``offline``."""
        with self._lock:
            self.watch_roots[root] = mode

    def set_data_folder_problem(self, problem: dict[str, Any] | None) -> None:
        """The data folder's disk is full (or read-only, failing): the work waits;
        None once it goes on. Shown in the status, the page and the tray."""
        with self._lock:
            before, self.data_folder = self.data_folder, problem
        if problem is not None and (before or {}).get("message") != problem.get("message"):
            self.error(problem.get("data_dir", ""), "data folder", problem["message"])
        if (before is None) != (problem is None):
            self.publish_status(unless_within_s=0)

    def set_worker(self, **fields: Any) -> None:
        """What the indexer's supervision knows (see ``service.indexer``)."""
        with self._lock:
            self.worker.update(fields)

    def counts_changed(self) -> None:
        """The catalogue's counts moved (a root went offline or came back)."""
        self._dirty = True

    def files_changed(self, added: int, removed: int, moved: int, ids: list[str]) -> None:
        self._dirty = True
        self.events.publish("files", added=added, removed=removed, moved=moved, ids=ids)

    def error(self, path: str, reason: str, message: str = "") -> None:
        entry = {"path": readable(path), "reason": reason,
                 "message": readable(message or reason), "time": time.time()}
        with self._lock:
            self.errors.appendleft(entry)
        self.events.publish("error", path=path, reason=reason, message=entry["message"])

    # -- reading -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self.scan.get("running")) or (self.indexing_running and not self.paused)

    def snapshot(self) -> dict[str, Any]:
        """The body of ``GET /api/status``."""
        body = self._catalog_counts()
        body["version"] = __version__
        body["data_dir"] = str(self.config.data_dir)
        with self._lock:
            scan = dict(self.scan)
            stages = {name: dict(entry) for name, entry in self.stages.items()}
            weights = {name: dict(entry) for name, entry in self.weights.items()}
            for name, entry in weights.items():
                if entry["state"] != "ready" and name in stages:
                    stages[name]["state"] = weights_text(entry)
            live_errors = list(self.errors)
            body["indexing"] = {"paused": self.paused, "running": self.indexing_running,
                                "stages": stages, "worker": dict(self.worker)}
            body["watch"] = {"enabled": self.watch_enabled,
                             "roots": dict(self.watch_roots)}
        body["scan"] = scan
        body["models"] = {**self.models, "weights": weights}
        body["data_folder"] = self.data_folder
        body["library_stages"] = library_stages(
            body, self.config.models, models_enabled=self.models_enabled)
        # An error the daemon saw is often stored too (a bad file): list it once.
        stored = [{**e, "time": None} for e in body.get("recent_errors", [])]
        listed: list[dict[str, Any]] = []
        seen: set[tuple[Any, Any]] = set()
        for entry in live_errors + stored:
            key = (entry["path"], entry["reason"])
            if key not in seen:
                seen.add(key)
                listed.append(entry)
        body["recent_errors"] = listed[:_RECENT_ERRORS]
        progress = scan.get("progress") or {}
        # What is waiting: files of the running scan not yet hashed or decoded, and
        # images each model stage has not reached yet (with its rate and time left).
        body["queue"] = {
            "pending": max(0, progress.get("total", 0) - progress.get("done", 0)),
            "phase": progress.get("phase"),
            "stages": {name: {"pending": max(0, s["total"] - s["done"]), "rate": s["rate"],
                              "eta_s": s["eta_s"]} for name, s in stages.items()},
        }
        return body

    def _catalog_counts(self) -> dict[str, Any]:
        """``catalog.status()``, made again when something changed: at once while
        that is cheap, otherwise in the background (at most a tenth of the time),
        answering with the last counts meanwhile."""
        age = time.monotonic() - self._counts_at
        if self._counts is None or (self._dirty and self._counts_cost < CHEAP_COUNTS_S):
            with self._counts_lock:
                if self._counts is None or self._dirty:
                    self._refresh_counts()
        elif (self._dirty or age > COUNTS_MAX_AGE_S) and age >= 10 * self._counts_cost \
                and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_in_background, name="status counts",
                             daemon=True).start()
        assert self._counts is not None
        return dict(self._counts)

    def _refresh_counts(self) -> None:
        self._dirty = False
        started = time.monotonic()
        counts = self.catalog.status()
        self._counts_cost = time.monotonic() - started
        self._counts, self._counts_at = counts, time.monotonic()

    def _refresh_in_background(self) -> None:
        try:
            with self._counts_lock:
                self._refresh_counts()
        finally:
            self._refreshing = False

    def publish_status(self, *, unless_within_s: float = 1.0) -> None:
        """Send a snapshot as a ``status`` event, unless one went out just now
        (several clients ask on the same schedule; they all get the one)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_status < unless_within_s:
                return
            self._last_status = now
        self.events.publish("status", **self.snapshot())

    def status_event(self, *, max_age_s: float = 1.0) -> Event:
        """A ``status`` snapshot for one client that just connected, sent to it
        alone: the last one made, when it is younger than ``max_age_s`` (a
        hundred clients connecting at once cost one snapshot, and the others on
        the bus get nothing they did not ask for)."""
        with self._lock:
            last = self._last_snapshot
            if last is not None and time.monotonic() - last[0] < max_age_s:
                return last[1]
        event = self.events.record("status", **self.snapshot())
        with self._lock:
            self._last_snapshot = (time.monotonic(), event)
        return event

    def status_interval(self) -> float:
        return STATUS_EVERY_BUSY_S if self.busy else STATUS_EVERY_IDLE_S


def _idle_stage() -> dict[str, Any]:
    return {"done": 0, "total": 0, "rate": 0.0, "eta_s": None, "state": "idle"}


def weights_text(entry: dict[str, Any]) -> str:
    """A stage's weights as one line: what the page, the tray and the CLI show."""
    state = entry.get("state")
    if state == "downloading":
        done, total = int(entry.get("done") or 0), entry.get("total")
        amount = (f"{100 * done / total:.0f}% of {_megabytes(int(total))}" if total
                  else _megabytes(done))
        left = int(entry.get("files_left") or 0)
        more = f", {left - 1} more file{'s' if left > 2 else ''}" if left > 1 else ""
        return f"downloading weights: {entry.get('file', '')} {amount}{more}"
    if state == "waiting":
        text = f"waiting for weights: {entry.get('message') or 'not downloaded yet'}"
        if entry.get("next_try"):
            text += f"; next try at {time.strftime('%H:%M:%S', time.localtime(entry['next_try']))}"
        return text
    if state == "missing":
        return "waiting for weights: not downloaded yet"
    return "ready"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
