"""Fetching Pixiv's metadata for the library's Pixiv works.

``pximse pixiv fetch`` and the daemon's background fetch both run
:func:`fetch_library`: pick the works that need a fetch (never fetched, or
fetched more than ``max_age_days`` ago; deleted and private ones only when
asked), then one request per work (not per page: every page of a work shares
its answer) through the app API with the user's refresh token, or the public
web endpoint without one.

Politeness: requests are spaced by ``request_interval_s`` plus a random
``0..jitter_s``. A failure that may pass (network, 429, 5xx, Pixiv's "Rate
Limit") is retried up to ``max_retries`` times, waiting twice as long each
time from :attr:`FetchOptions.backoff_start_s` up to ``backoff_max_s``, or as
long as ``Retry-After`` says when that is longer. Several works in a row
failing stop the run: Pixiv or the network is down, and hammering helps no one.

Resumable: every answer is stored as it comes, so an interrupted run loses at
most the work in flight and the next run picks up the rest. Only Pixiv saying
so marks a work deleted or private; a failed attempt is kept apart
(``pixiv_error``) and the work is tried again on the next run.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pximse.config.settings import PixivConfig
from pximse.sources.fetch_lock import FetchLock
from pximse.sources.pixiv_answers import AuthRefused, FetchFailure, PassingFailure
from pximse.sources.pixiv_clients import AjaxClient, AppApiClient, PixivClient, redact
from pximse.store.records import PixivWork

__all__ = [
    "TOKEN_ENV",
    "FetchOptions",
    "FetchReport",
    "Pacer",
    "PixivCatalog",
    "PixivFetcher",
    "fetch_library",
    "make_client",
    "refresh_token",
]

log = logging.getLogger(__name__)

TOKEN_ENV = "PXIMSE_PIXIV_REFRESH_TOKEN"
DAY_S = 86_400
LONGEST_WAIT_S = 3600.0
"""A ``Retry-After`` longer than this ends the run rather than wait it out."""


class PixivCatalog(Protocol):
    """What a fetch needs of the catalogue; SQLite's and MongoDB's both offer it
    (``store/sqlite/pixivrows.py``, ``store/mongo/pixiv.py``)."""

    def pixiv_candidates(self, *, fetched_before: int, include_missing: bool = False,
                         content_ids: np.ndarray | None = None) -> list[str]: ...
    def pixiv_summary(self, *, fetched_after: int | None = None) -> dict[str, int]: ...
    def pixiv_errors(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def pixiv_work(self, illust_id: str) -> PixivWork | None: ...
    def record_pixiv_work(self, work: PixivWork) -> None: ...
    def record_pixiv_error(self, illust_id: str, message: str, at: int) -> None: ...
    def update_user_names(self) -> int: ...


def refresh_token(config: PixivConfig, env: Mapping[str, str] | None = None) -> str:
    """The refresh token: the environment variable when set, else the config's."""
    env = os.environ if env is None else env
    return (env.get(TOKEN_ENV) or "").strip() or config.refresh_token


def make_client(config: PixivConfig, env: Mapping[str, str] | None = None, *,
                now: Callable[[], float] = time.time) -> PixivClient:
    """The app API client when there is a refresh token, else the web endpoint's."""
    token = refresh_token(config, env)
    if token:
        return AppApiClient(token, language=config.language, host=config.app_api_url,
                            timeout_s=config.timeout_s, now=now)
    return AjaxClient(language=config.language, base_url=config.ajax_url,
                      timeout_s=config.timeout_s, now=now)


@dataclass(frozen=True)
class FetchOptions:
    max_age_days: int = 30
    include_missing: bool = False  # fetch deleted and private works again too
    limit: int | None = None
    request_interval_s: float = 2.0
    jitter_s: float = 1.0
    max_retries: int = 5
    backoff_start_s: float = 5.0
    backoff_max_s: float = 300.0
    give_up_after: int = 5  # works in a row that failed: stop the run

    @classmethod
    def from_config(cls, config: PixivConfig, **overrides: Any) -> FetchOptions:
        options = cls(max_age_days=config.max_age_days,
                      request_interval_s=config.request_interval_s, jitter_s=config.jitter_s,
                      max_retries=config.max_retries, backoff_max_s=config.backoff_max_s)
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class FetchReport:
    """What one run did. ``stopped`` says why it ended early (None: it did not)."""

    via: str
    selected: int = 0
    done: int = 0
    states: dict[str, int] = field(default_factory=lambda: {"ok": 0, "deleted": 0,
                                                            "private": 0})
    errors: int = 0
    retries: int = 0
    fresh: int = 0  # works skipped because they were fetched within max_age_days
    stopped: str | None = None
    auth_refused: bool = False
    elapsed_s: float = 0.0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"via": self.via, "selected": self.selected, "done": self.done,
                "ok": self.states["ok"], "deleted": self.states["deleted"],
                "private": self.states["private"], "errors": self.errors,
                "retries": self.retries, "skipped_fresh": self.fresh, "stopped": self.stopped,
                "elapsed_s": round(self.elapsed_s, 2)}


class Pacer:
    """Spaces requests: at least ``interval_s`` plus a random ``0..jitter_s``
    between the starts of two requests."""

    def __init__(self, interval_s: float, jitter_s: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], bool] | None = None,
                 rng: Callable[[], float] = random.random) -> None:
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self._clock = clock
        self._sleep = sleep or _plain_sleep
        self._rng = rng
        self._last: float | None = None

    def wait(self) -> bool:
        """Wait for the next request's turn; False when stopped while waiting."""
        if self._last is not None:
            due = self._last + self.interval_s + self._rng() * self.jitter_s
            pause = due - self._clock()
            if pause > 0 and not self._sleep(pause):
                return False
        self._last = self._clock()
        return True


def _plain_sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


class PixivFetcher:
    """Fetches works one at a time and stores each answer as it comes."""

    def __init__(self, catalog: PixivCatalog, client: PixivClient, options: FetchOptions, *,
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], bool] | None = None,
                 rng: Callable[[], float] = random.random,
                 now: Callable[[], float] = time.time,
                 secrets: tuple[str, ...] = ()) -> None:
        self.catalog = catalog
        self.client = client
        self.options = options
        self._stop = stop or threading.Event()
        self._sleep = sleep or (lambda seconds: not self._stop.wait(seconds))
        self._rng = rng
        self._now = now
        self._secrets = list(secrets)
        self.pacer = Pacer(options.request_interval_s, options.jitter_s, clock=clock,
                           sleep=self._sleep, rng=rng)

    def run(self, illust_ids: list[str], report: FetchReport,
            progress: Callable[[FetchReport], None] | None = None) -> FetchReport:
        started = time.monotonic()
        in_a_row = 0
        for illust_id in illust_ids:
            if self._stop.is_set():
                report.stopped = report.stopped or "stopped"
                break
            try:
                outcome = self._fetch_one(illust_id, report)
            except AuthRefused as exc:
                report.stopped, report.auth_refused = self._clean(exc), True
                break
            except _Stopped as exc:
                report.stopped = str(exc)
                break
            report.done += 1
            if isinstance(outcome, PixivWork):
                self.catalog.record_pixiv_work(outcome)
                report.states[outcome.state] += 1
                in_a_row = 0
                log.debug("pixiv %s: %s", illust_id, outcome.state)
            else:
                message = self._clean(outcome)
                self.catalog.record_pixiv_error(illust_id, message, int(self._now()))
                report.errors += 1
                report.last_error = message
                in_a_row += 1
                log.info("pixiv %s: failed, will be tried again on the next run: %s",
                         illust_id, message)
                if in_a_row >= self.options.give_up_after:
                    report.stopped = (f"{in_a_row} works in a row failed (last: {message}); "
                                      "Pixiv or the network seems down, run again later")
                    break
            if progress is not None:
                progress(report)
        report.elapsed_s += time.monotonic() - started
        return report

    def _fetch_one(self, illust_id: str, report: FetchReport) -> PixivWork | FetchFailure:
        """The work, or the failure that remained after the retries."""
        attempt = 0
        while True:
            if not self.pacer.wait():
                raise _Stopped("stopped")
            try:
                return self.client.fetch(illust_id)
            except PassingFailure as failure:
                if attempt >= self.options.max_retries:
                    return failure
                wait = self._backoff(attempt, failure.retry_after)
                attempt += 1
                report.retries += 1
                log.info("pixiv %s: %s; trying again in %.1f s", illust_id,
                         self._clean(failure), wait)
                if not self._sleep(wait):
                    raise _Stopped("stopped") from None
            except FetchFailure as failure:
                return failure

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after > LONGEST_WAIT_S:
            raise _Stopped(f"Pixiv asks to wait {retry_after / 60:.0f} minutes before "
                           "the next request; run again later")
        doubled = min(self.options.backoff_max_s,
                      self.options.backoff_start_s * 2 ** attempt)
        jitter = self._rng() * self.options.jitter_s
        return max(retry_after or 0.0, doubled + jitter)

    def _clean(self, exc: BaseException) -> str:
        return redact(str(exc), self._secrets)


class _Stopped(Exception):
    """The run ends now (a stop request, or Pixiv asking for a very long wait)."""


def fetch_library(catalog: PixivCatalog, config: PixivConfig, *,
                  options: FetchOptions | None = None,
                  content_ids: np.ndarray | None = None,
                  progress: Callable[[FetchReport], None] | None = None,
                  stop: threading.Event | None = None,
                  client: PixivClient | None = None,
                  env: Mapping[str, str] | None = None,
                  now: Callable[[], float] = time.time,
                  sleep: Callable[[float], bool] | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  rng: Callable[[], float] = random.random,
                  lock_dir: Path | None = None) -> FetchReport:
    """Fetch what needs fetching (of ``content_ids``' works when given), then
    give images with a user id and no name the most recent name known for it.

    With ``lock_dir`` (the data folder), :class:`FetchRunning` when another
    fetch holds it: two fetches at once would double the request rate."""
    if lock_dir is not None:
        with FetchLock(lock_dir):
            return fetch_library(catalog, config, options=options, content_ids=content_ids,
                                 progress=progress, stop=stop, client=client, env=env,
                                 now=now, sleep=sleep, clock=clock, rng=rng)
    options = options or FetchOptions.from_config(config)
    cutoff = int(now()) - options.max_age_days * DAY_S
    candidates = catalog.pixiv_candidates(
        fetched_before=cutoff if options.max_age_days > 0 else int(now()) + 1,
        include_missing=options.include_missing, content_ids=content_ids)
    if options.limit is not None:
        candidates = candidates[:options.limit]
    token = refresh_token(config, env)
    own_client = client is None
    client = client or make_client(config, env, now=now)
    report = FetchReport(via=client.via, selected=len(candidates))
    if options.max_age_days > 0:
        summary = catalog.pixiv_summary(fetched_after=cutoff)
        report.fresh = summary["fresh"] + (summary.get("fresh_missing", 0)
                                           if options.include_missing else 0)
    try:
        if candidates:
            log.info("fetching %d Pixiv works through the %s", len(candidates),
                     "app API" if client.via == "app" else "web endpoint")
            fetcher = PixivFetcher(catalog, client, options, stop=stop, now=now, sleep=sleep,
                                   clock=clock, rng=rng, secrets=(token,) if token else ())
            fetcher.run(candidates, report, progress)
    finally:
        if own_client:
            client.close()
        catalog.update_user_names()
    log.info("Pixiv fetch: %s", report.to_json())
    return report
