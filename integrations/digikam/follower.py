"""Keeping sidecars current as the catalogue changes.

The catalogue stamps every content row it writes (tags, OCR text, files) with
a write generation. The follower remembers the last generation it caught up
to, in a small state file in the data folder, and each :meth:`run_once`
writes the sidecars of what changed since. A crash or a restart loses
nothing: the next run starts from the last generation saved. Changing what
sidecars should hold (the ``[xmp]`` settings) or the catalogue starts over
from the beginning.

On MongoDB, where a write is not one transaction and the daemon's indexer
writes from a process of its own, the generation read is the settled one:
every write up to it has finished, so none is half-seen.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pximse.integrations.digikam.catalog_images import (
    XmpSettings,
    catalog_identity,
    changed_content_ids,
    sidecar_jobs,
    supports,
    write_generation,
)
from pximse.integrations.digikam.exiftool_session import ExiftoolPool
from pximse.integrations.digikam.sidecar_writer import SidecarWriter, SyncReport

__all__ = ["SidecarFollower", "follower_thread", "record_tag_root", "tag_roots"]

log = logging.getLogger(__name__)

STATE_FILE = "xmp_sidecars.json"
RETRY_S = 60.0
_CONTENTS_PER_ROUND = 2000


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".xmp_sidecars.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(state))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def tag_roots(config: Any) -> tuple[str, ...]:
    """The tag root in use, then the ones sidecars were written under before
    (``tag_root`` changed since): entries under any of them are PxIMSE's."""
    history = _read_state(Path(config.data_dir) / STATE_FILE).get("tag_roots", [])
    current = config.xmp.tag_root
    return (current, *[str(r) for r in history if isinstance(r, str) and r != current])


def record_tag_root(config: Any) -> None:
    """Remember that sidecars were written under the current tag root."""
    path = Path(config.data_dir) / STATE_FILE
    state = _read_state(path)
    roots = list(tag_roots(config))
    if state.get("tag_roots") != roots:
        _write_state(path, {**state, "tag_roots": roots})


class SidecarFollower:
    """Writes the sidecars of images whose catalogue entry changed.

    ``workers`` exiftool processes are started on first use and kept for later
    rounds; :meth:`close` ends them.
    """

    def __init__(
        self, catalog: Any, config: Any, *, workers: int = 1, pool: ExiftoolPool | None = None
    ) -> None:
        self.catalog = catalog
        self.settings = XmpSettings.from_config(config)
        self.state_path = Path(config.data_dir) / STATE_FILE
        self.roots = tag_roots(config)
        self.workers = workers
        self._pool = pool
        self.last_report: SyncReport | None = None

    # -- state ------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """The saved state, or an empty one when there is none or the settings
        it was made under changed (so that every sidecar is looked at again)."""
        state = _read_state(self.state_path)
        if state.get("settings") != self.settings.fingerprint():
            return {}
        if state.get("catalog", "sqlite") != catalog_identity(self.catalog):
            return {}
        return state

    def synced_generation(self) -> int:
        """The write generation the sidecars are current with (0: none yet, or
        the settings changed since)."""
        gen = self._state().get("gen", 0)
        return gen if isinstance(gen, int) else 0

    def _save(self, gen: int, retry: set[int], failing: set[str], retry_at: float) -> None:
        _write_state(self.state_path, {
            "gen": gen, "settings": self.settings.fingerprint(),
            "catalog": catalog_identity(self.catalog),
            "retry": sorted(retry), "retry_at": retry_at, "failing": sorted(failing),
            "tag_roots": list(self.roots),
        })

    def pending(self) -> int:
        """How many images changed since the sidecars were last brought up to date."""
        return len(changed_content_ids(self.catalog, self.synced_generation()))

    # -- work -------------------------------------------------------------------

    def run_once(
        self,
        *,
        full: bool = False,
        progress: Callable[[int, int], None] | None = None,
        log_failures: bool = True,
    ) -> SyncReport:
        """Bring the sidecars up to date with the catalogue as it is now (with
        ``full``, every image's, not only those that changed). Sidecars left
        alone are logged as warnings unless ``log_failures`` is False (a
        command that prints its own report)."""
        report = SyncReport()
        if not self.settings.any_on:
            return report
        state = self._state()
        since = _count(state.get("gen"))
        failing = {str(p) for p in state.get("failing", ())}
        retry_at = float(state.get("retry_at", 0.0) or 0.0)
        retry = {int(i) for i in state.get("retry", ())}
        if full:  # every image now, the failing ones with them
            since, failing, retry, retry_at = 0, set(), set(), 0.0
        due = retry if time.time() >= retry_at else set()
        # Read the generation before the rows: a write that lands in between is
        # seen again next time rather than missed.
        current = write_generation(self.catalog)
        if current < since:  # a catalogue made anew since: start over
            since = 0
        if current == since and not due:
            return report
        changed = sorted(set(changed_content_ids(self.catalog, since)) | due)
        writer = None
        for start in range(0, len(changed), _CONTENTS_PER_ROUND):
            part = changed[start : start + _CONTENTS_PER_ROUND]
            jobs = sidecar_jobs(self.catalog, part, self.settings)
            if jobs:
                writer = writer or SidecarWriter(self._exiftool().sessions, self.roots)
                report.add(writer.write(jobs))
            if progress is not None:
                progress(start + len(part), len(changed))
        # A sidecar left alone (unparseable, changed under us, exiftool failed) is
        # tried again a minute later and at every round after, until it works;
        # it is logged once, not at every try.
        now_failing = {path for path, _why in report.failed}
        new = [(path, why) for path, why in report.failed if path not in failing]
        for path, why in new[:20] if log_failures else ():
            log.warning("XMP sidecar %s: %s", path, why)
        # Every failing path's image is retried when due, so then this round's
        # failures are the whole list; otherwise the earlier ones still stand.
        self._save(current, (retry - due) | report.retry,
                   now_failing if due else now_failing | failing,
                   time.time() + RETRY_S if report.retry else retry_at)
        self.last_report = report
        return report

    def _exiftool(self) -> ExiftoolPool:
        if self._pool is None:
            self._pool = ExiftoolPool(self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0



def follower_thread(
    catalog: Any, config: Any, stop: threading.Event, *, interval_s: float = 5.0,
    wake: threading.Event | None = None,
) -> threading.Thread | None:
    """A daemon thread that runs the follower every ``interval_s`` seconds (or
    as soon as ``wake`` is set, e.g. after a batch of images was indexed) until
    ``stop`` is set (set ``wake`` too to end it without waiting); None when no
    root writes sidecars."""
    follower = SidecarFollower(catalog, config)
    if not follower.settings.any_on:
        return None
    if not supports(catalog):
        log.warning("XMP write-back is on, but sidecars are written from the SQLite or "
                    "the MongoDB catalogue; %s is not supported", type(catalog).__name__)
        return None

    def loop() -> None:
        try:
            while not stop.is_set():
                try:
                    follower.run_once()
                except Exception:  # exiftool missing or crashed: say so, try later
                    log.exception("keeping XMP sidecars current failed")
                    follower.close()
                if wake is not None:
                    wake.wait(interval_s)
                    wake.clear()
                else:
                    stop.wait(interval_s)
        finally:
            follower.close()

    thread = threading.Thread(target=loop, name="xmp-sidecars", daemon=True)
    thread.start()
    return thread
