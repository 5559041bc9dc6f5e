"""The daemon's background Pixiv fetch (``[pixiv] background = true``).

Every ``background_interval_minutes`` it runs the same fetch as ``pximse pixiv
fetch`` (new Pixiv works, and works older than ``max_age_days``), with the same
spacing and backoff, and stops between two requests when the daemon stops. The
first round waits a little after start so the library scan goes first. Each
round publishes a ``pixiv`` event with its report; a refused refresh token is
one warning, then a quiet retry every round in case the configuration changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pximse.config import Config
from pximse.sources.fetch_lock import FetchRunning
from pximse.sources.pixiv import FetchReport, fetch_library
from pximse.sources.pixiv_answers import FetchFailure

__all__ = ["PixivFetchLoop"]

log = logging.getLogger(__name__)

FIRST_ROUND_AFTER_S = 60.0


class PixivFetchLoop:
    def __init__(self, config: Config, catalog: Any, stopping: threading.Event, *,
                 events: Any = None, first_after_s: float | None = None,
                 fetch: Callable[..., FetchReport] = fetch_library,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = catalog
        self.stopping = stopping
        self.events = events
        self.first_after_s = FIRST_ROUND_AFTER_S if first_after_s is None else first_after_s
        self.interval_s = config.pixiv.background_interval_minutes * 60.0
        self._fetch = fetch
        self._clock = clock
        self._warned = False
        self._busy = threading.Lock()  # one round at a time
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"running": False, "rounds": 0, "last": None,
                                       "last_at": None, "error": None}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def run(self) -> None:
        wait = self.first_after_s
        while not self.stopping.wait(wait):
            self.round()
            wait = self.interval_s

    def start_round(self) -> bool:
        """A round now, in a thread of its own, unless one is running."""
        if self._busy.locked():
            return False
        threading.Thread(target=self.round, name="pixiv fetch now", daemon=True).start()
        return True

    def round(self) -> FetchReport | None:
        """One fetch; None when another round is running."""
        if not self._busy.acquire(blocking=False):
            return None
        try:
            return self._round()
        finally:
            self._busy.release()

    def _round(self) -> FetchReport | None:
        self._set(running=True)
        report: FetchReport | None = None
        error: str | None = None
        try:
            report = self._fetch(self.catalog, self.config.pixiv, stop=self.stopping,
                                 lock_dir=self.config.data_dir)
        except FetchRunning as exc:  # `pximse pixiv fetch` is at it: its turn
            log.info("background Pixiv fetch skipped: %s", exc)
            self._set(running=False, error=str(exc))
            return None
        except FetchFailure as exc:  # pixivpy3 missing, say
            error = str(exc)
        except Exception:  # keep the daemon up; the log has the trace
            log.exception("the background Pixiv fetch failed")
            error = "the background Pixiv fetch failed; see the log"
        if report is not None and report.auth_refused:
            error = report.stopped
        if error and not self._warned:
            log.warning("background Pixiv fetch: %s", error)
            self._warned = True
        elif not error:
            self._warned = False
        body = report.to_json() if report is not None else None
        self._set(running=False, last=body, last_at=self._clock(), error=error,
                  rounds=self.state()["rounds"] + 1)
        if self.events is not None:
            self.events.publish("pixiv", report=body, error=error)
        return report

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)
