"""The daemon's first-start download of the configured models' weights.

On start, a thread looks at each stage whose model downloads fixed files into
the data folder's ``models/`` (the default WD14 tagger and CLIP's ONNX towers)
and fetches what is missing, one stage after the other, reporting progress to
the daemon's state (``/api/status``, the ``weights`` events that ``pximse
status --follow``, the page and the tray show). A stage whose download fails
(offline, a refusal, a checksum that does not match) waits — "waiting for
weights: <reason>; next try at <time>" — and is tried again after 30 s, then
twice as long each time up to an hour, while every other stage and every
search keeps working. With ``models.allow_download = false`` nothing is
fetched: the stage waits for the files to appear (``pximse models download``,
or copied by hand), which is noticed within seconds. When a stage's files are
complete the indexer is woken (and restarted, so its plan includes the stage).

Downloads run here, in the daemon: they need only ``urllib`` and ``hashlib``,
and the daemon is the one process that lives long enough to retry. The model
runtimes never load here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from pximse.config import Config
from pximse.models.weights import (
    WeightsSpec,
    WeightsUnavailable,
    cache_dir,
    fetch_weights,
    missing_files,
)

__all__ = ["RETRY_ENV", "RETRY_FIRST_S", "RETRY_MAX_S", "WeightsFetcher", "retry_delay"]

log = logging.getLogger(__name__)

RETRY_FIRST_S = 30.0
RETRY_ENV = "PXIMSE_WEIGHTS_RETRY_S"
"""Seconds before the first retry, instead of 30 (doubling from there)."""
RETRY_MAX_S = 3600.0
LOOK_AGAIN_S = 5.0
"""While a stage waits, how often the files are looked for (a download by hand)."""
PROGRESS_EVERY_S = 0.5


def retry_delay(failures: int, first_s: float = RETRY_FIRST_S) -> float:
    """30 s after the first failure, then twice as long each time, at most an hour."""
    return float(min(first_s * 2 ** max(failures - 1, 0), RETRY_MAX_S))


def _retry_from_env() -> float:
    try:
        value = float(os.environ.get(RETRY_ENV) or RETRY_FIRST_S)
    except ValueError:
        log.warning("%s is not a number of seconds; using %.0f", RETRY_ENV, RETRY_FIRST_S)
        return RETRY_FIRST_S
    return value if value > 0 else RETRY_FIRST_S


class WeightsFetcher:
    """Fetches the configured models' missing weights; reports to ``state``.

    ``state.weights_update(stage, entry)`` gets each change; ``on_ready(stage)``
    is called when a stage's files have all arrived.
    """

    def __init__(self, config: Config, state: Any, stopping: threading.Event, *,
                 on_ready: Callable[[str], None],
                 specs: dict[str, WeightsSpec] | None = None,
                 first_retry_s: float | None = None) -> None:
        from pximse.pipeline.build import downloadable_weights

        self.config = config
        self.state = state
        self.stopping = stopping
        self.on_ready = on_ready
        self.specs = downloadable_weights(config) if specs is None else specs
        self.first_retry_s = first_retry_s or _retry_from_env()
        self._thread: threading.Thread | None = None

    def missing(self) -> dict[str, WeightsSpec]:
        return {stage: spec for stage, spec in self.specs.items()
                if missing_files(spec, cache_dir(self.config.data_dir, spec.name))}

    def start(self) -> bool:
        """Start fetching in the background; False when nothing is missing."""
        missing = self.missing()
        if not missing:
            return False
        for stage in missing:
            self.state.weights_update(stage, {"state": "missing"})
        self._thread = threading.Thread(target=self._run, args=(list(missing),),
                                        name="weights", daemon=True)
        self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, stages: list[str]) -> None:
        waiting = {stage: 0 for stage in stages}  # stage -> failures so far
        next_try = {stage: 0.0 for stage in stages}
        while waiting and not self.stopping.is_set():
            for stage in sorted(waiting, key=lambda s: next_try[s]):
                if self.stopping.is_set():
                    return
                if time.time() < next_try[stage]:
                    continue
                spec = self.specs[stage]
                if self._fetch(stage, spec, waiting[stage]):
                    del waiting[stage]
                    del next_try[stage]
                else:
                    waiting[stage] += 1
                    next_try[stage] = time.time() + (
                        retry_delay(waiting[stage], self.first_retry_s)
                        if self.config.models.allow_download else RETRY_MAX_S)
                    self._say_waiting(stage, next_try[stage])
            if waiting:
                self._wait_until(min(next_try.values()), waiting)
                for stage in [s for s in waiting if not self._missing(s)]:
                    self._ready(stage, "the files arrived")  # by hand, or another process
                    del waiting[stage]
                    del next_try[stage]

    def _missing(self, stage: str) -> list[Any]:
        spec = self.specs[stage]
        return missing_files(spec, cache_dir(self.config.data_dir, spec.name))

    def _wait_until(self, when: float, waiting: dict[str, int]) -> None:
        """Sleep until ``when``, looking every few seconds whether files arrived."""
        while not self.stopping.is_set():
            left = when - time.time()
            if left <= 0 or any(not self._missing(stage) for stage in waiting):
                return
            self.stopping.wait(min(left, LOOK_AGAIN_S))

    def _fetch(self, stage: str, spec: WeightsSpec, failures: int) -> bool:
        folder = cache_dir(self.config.data_dir, spec.name)
        missing = missing_files(spec, folder)
        if not missing:
            self._ready(stage, "already there")
            return True
        if not self.config.models.allow_download:
            self._last_error = (
                f"downloads are off (models.allow_download = false): run `pximse models "
                f"download`, or put {', '.join(f.name for f in missing)} in {folder}")
            return False
        last = [0.0]
        logged: dict[str, int] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if total:  # the log gets every tenth of each file
                tenth = 10 * done // total
                if tenth > logged.get(name, -1):
                    logged[name] = tenth
                    log.info("%s weights: %s %d%% of %.0f MB", stage, name, 10 * tenth,
                             total / 1e6)
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and done != total:
                return
            last[0] = now
            self.state.weights_update(stage, {
                "state": "downloading", "model": spec.name, "file": name, "done": done,
                "total": total, "files_left": len(missing_files(spec, folder)),
                "attempt": failures + 1})

        log.info("downloading the %s model %s into %s", stage, spec.name, folder)
        try:
            fetch_weights(spec, folder, progress=progress)
        except WeightsUnavailable as exc:
            self._last_error = str(exc)
            log.warning("%s weights: %s", stage, exc)
            return False
        except OSError as exc:  # a data folder that cannot be written
            self._last_error = f"cannot write {folder}: {exc}"
            log.warning("%s weights: %s", stage, self._last_error)
            return False
        self._ready(stage, "downloaded")
        return True

    _last_error = ""

    def _say_waiting(self, stage: str, next_try: float) -> None:
        retrying = self.config.models.allow_download
        self.state.weights_update(stage, {
            "state": "waiting", "message": self._last_error,
            "next_try": next_try if retrying else None})

    def _ready(self, stage: str, how: str) -> None:
        log.info("%s weights ready (%s)", stage, how)
        self.state.weights_update(stage, {"state": "ready"})
        self.on_ready(stage)
