"""Keeping background model runs out of the user's way: a share of the CPU,
or only while the computer is otherwise idle.

The share is kept by resting between batches: a batch that took ``t`` seconds
of work is followed by ``t * (1 - share) / share`` seconds of rest, so over a
run the worker is busy ``share`` of the time (with every core it uses). "Only
when idle" looks at how busy the machine is without the worker: while other
programs use more than :data:`IDLE_BUSY_LIMIT` of the CPU, no batch starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psutil

__all__ = ["IDLE_BUSY_LIMIT", "CpuThrottle", "machine_busy_share"]

log = logging.getLogger(__name__)

IDLE_BUSY_LIMIT = 0.25
"""The share of the machine's CPU that other programs may use for it to count as idle."""


def machine_busy_share(interval_s: float = 1.0, *, wait: Callable[[float], object] = time.sleep
                       ) -> float:
    """The share of all cores that processes other than this one kept busy over
    ``interval_s`` (0 = idle, 1 = every core busy)."""
    me = psutil.Process()
    before_all, before_me = psutil.cpu_times(), me.cpu_times()
    started = time.monotonic()
    wait(interval_s)
    elapsed = max(time.monotonic() - started, 1e-3)
    after_all, after_me = psutil.cpu_times(), me.cpu_times()
    idle_fields = ("idle", "iowait")
    busy_all = sum(
        getattr(after_all, f) - getattr(before_all, f)
        for f in after_all._fields if f not in idle_fields and f not in ("guest", "guest_nice")
    )
    busy_me = (after_me.user - before_me.user) + (after_me.system - before_me.system)
    cores = psutil.cpu_count() or 1
    return max(0.0, min(1.0, (busy_all - busy_me) / (elapsed * cores)))


class CpuThrottle:
    """Called between batches (``rest``) and before each (``wait_turn``); both
    return early when ``stopping`` is set."""

    def __init__(self, cpu_share: float, only_when_idle: bool, stopping: threading.Event,
                 *, busy_share: Callable[[], float] = machine_busy_share,
                 on_wait: Callable[[str], None] | None = None, recheck_s: float = 4.0) -> None:
        self.cpu_share = max(0.05, min(1.0, cpu_share))
        self.only_when_idle = only_when_idle
        self._stopping = stopping
        self._busy_share = busy_share
        self._on_wait = on_wait
        self._recheck_s = recheck_s
        self._work_started = time.monotonic()
        self.rested_s = 0.0

    def batch_started(self) -> None:
        self._work_started = time.monotonic()

    def rest(self) -> None:
        """After a batch: rest long enough to keep the configured share."""
        if self.cpu_share >= 1.0:
            return
        worked = time.monotonic() - self._work_started
        pause = worked * (1.0 - self.cpu_share) / self.cpu_share
        self.rested_s += pause
        self._stopping.wait(pause)

    def wait_turn(self) -> None:
        """Before a batch: with ``only_when_idle``, wait until the machine is idle."""
        told = False
        while self.only_when_idle and not self._stopping.is_set():
            share = self._busy_share()
            if share <= IDLE_BUSY_LIMIT:
                break
            if not told and self._on_wait is not None:
                self._on_wait("waiting for idle CPU")
                told = True
            log.debug("the machine is %.0f%% busy: indexing waits", share * 100)
            self._stopping.wait(self._recheck_s)
        if told and self._on_wait is not None:
            self._on_wait("running")
        self.batch_started()
