"""The daemon's continuous push (``[hydrus] push = true``).

Every ``push_interval_s`` it pushes the images the catalogue wrote since the
last successful round (the catalogue stamps each change with a write
generation; the ledger keeps the last one pushed), and once an hour looks
again for the files Hydrus did not have (a file imported into Hydrus later
gets its tags then; a change to one meanwhile waits for that look). Unchanged
images cost no request at all. Each round first reads back what earlier rounds
sent without a confirmed commit, once Hydrus has committed or restarted, and
sends again what Hydrus did not keep. It runs on either catalogue, SQLite or MongoDB
(:mod:`~pximse.integrations.hydrus.catalog_reads`).

A Hydrus that is not running is not an error storm: one warning when it goes
away, then quiet retries, waiting twice as long each time (up to half an
hour), and one line when it is back. A refused key or a missing tag service is
logged once and tried again every ten minutes, in case the user fixes it in
Hydrus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pximse.config import Config
from pximse.integrations.hydrus.bridge import HydrusBridge
from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.errors import HydrusError, HydrusUnavailable
from pximse.integrations.hydrus.ledger import Ledger
from pximse.integrations.hydrus.push import BATCH, Pusher, PushReport, images_changed_since

__all__ = ["HydrusPushLoop"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 1800.0
MISCONFIGURED_RETRY_S = 600.0
RECHECK_ABSENT_S = 3600.0


class HydrusPushLoop:
    def __init__(self, config: Config, catalog: Any, stopping: threading.Event, *,
                 bridge: HydrusBridge | None = None, events: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = catalog
        self.stopping = stopping
        self.bridge = bridge or HydrusBridge(config)
        self.events = events
        self.clock = clock
        self.interval = float(config.hydrus.push_interval_s)
        self._pusher: Pusher | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._state: dict[str, Any] = {"running": False, "last": None, "last_at": None,
                                       "error": None, "next_in_s": None}
        self._lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def run(self) -> None:
        """Push now and every interval until ``stopping`` is set."""
        try:
            delay = 0.0
            while not self.stopping.wait(delay):
                delay = self.run_once()
                with self._lock:
                    self._state["next_in_s"] = delay
        finally:
            self.bridge.close()

    def run_once(self) -> float:
        """One round; the seconds to wait before the next."""
        with self._lock:
            self._state["running"] = True
        try:
            report = self._round()
        except HydrusUnavailable as exc:
            return self._failed(exc, backoff=True)
        except HydrusError as exc:
            self._pusher = None  # look the service up again next time
            return self._failed(exc, backoff=False)
        except Exception as exc:  # keep the daemon up; the log has the details
            log.exception("the Hydrus push failed")
            self._pusher = None
            return self._failed(HydrusError(f"the push failed: {exc}"), backoff=False)
        finally:
            with self._lock:
                self._state["running"] = False
        if self._failures:
            log.warning("Hydrus at %s answers again; pushing resumed", self.config.hydrus.url)
        self._failures, self._last_error = 0, None
        with self._lock:
            self._state.update(last=report, last_at=self.clock(), error=None)
        if self.events is not None and report and report.get("updated"):
            self.events.publish("hydrus_push", **report)
        return self.interval

    def _round(self) -> dict[str, Any]:
        if self._pusher is None:
            self._pusher = self.bridge.pusher(self.catalog)
        pusher = self._pusher
        ledger = pusher.ledger
        since = ledger.watermark(pusher.target)
        newest, ids = images_changed_since(self.catalog, since)
        checked_before = int((self.clock() - RECHECK_ABSENT_S) * 1_000_000_000)
        ids = self._not_checked_lately(ids, ledger, pusher.target, checked_before)
        due = ledger.absent_due(pusher.target, checked_before)
        # What earlier rounds sent unconfirmed and Hydrus did not keep (it stopped
        # before committing) goes again this round.
        check = PushReport()
        due += pusher.verify(check)
        if due:
            known = self.catalog.content_ids(due)
            ids = sorted(set(ids) | set(known.values()))
        if not ids:
            if newest != since:
                ledger.set_watermark(pusher.target, newest)
            return check.to_json() if check.repaired else {}
        batches = (ids[start:start + BATCH] for start in range(0, len(ids), BATCH))
        report = pusher.push(batches, total=len(ids), verify=False)
        report.checked += check.checked
        report.repaired += check.repaired
        if report.stopped:
            raise HydrusUnavailable(report.stopped)
        ledger.set_watermark(pusher.target, newest)
        if report.updated or report.repaired:
            log.info("pushed to Hydrus: %s", report.to_json())
        return report.to_json()

    def _not_checked_lately(self, ids: list[int], ledger: Ledger, target: str,
                            before_ns: int) -> list[int]:
        """Leave out the images Hydrus lacked when last asked, within the hour: asking
        again at each change (or each round while a write is under way, on MongoDB)
        would only hear the same; the hourly look does."""
        if not ids:
            return ids
        shas = reads_for(self.catalog).sha256s(ids)
        checked = ledger.absent_since(target, list(shas.values()))
        return [i for i in ids if checked.get(shas.get(i, ""), 0) < before_ns]

    def _failed(self, exc: HydrusError, *, backoff: bool) -> float:
        self._failures += 1
        if backoff:
            delay = min(self.interval * 2 ** (self._failures - 1), MAX_BACKOFF_S)
        else:
            delay = max(self.interval, MISCONFIGURED_RETRY_S)
        if exc.message != self._last_error:
            log.warning("Hydrus push: %s; trying again in %.0f s", exc.message, delay)
        else:
            log.debug("Hydrus push: still %s; next try in %.0f s", exc.code, delay)
        self._last_error = exc.message
        with self._lock:
            self._state["error"] = exc.to_dict()
        return delay
