"""Searches that a background load of the in-memory index gives way to.

While ``pximse serve`` loads the index after a start (a million rows fetched
one by one: seconds on a loaded machine), the opening page is answered by
SQLite instead. Both run Python, so they share the GIL, and a thread that
gives it up (every SQLite step, every socket call) waits up to the switch
interval (5 ms) to get it back while the loader holds it: at a million images
on a loaded machine (load average 5-8) the opening page took 73-174 ms over
HTTP, 26-34 ms when the load made way. So the loader pauses, every few
thousand rows, while such a search runs, and the search runs alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_Row = TypeVar("_Row")

PACE_ROWS = 4096
"""Rows a load fetches between two looks for a waiting search (a few ms)."""
LONGEST_PAUSE_S = 2.0
"""A load resumes after this long even if the search has not finished, so a slow
one cannot hold the index back for long."""


class GiveWay:
    """Counts the searches running now; a load paced by it waits while any do."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()

    @contextmanager
    def search(self) -> Iterator[None]:
        """Around a search that the load should not slow down."""
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    def paced(self, rows: Iterable[_Row], every: int = PACE_ROWS) -> Iterator[_Row]:
        """``rows``, with a pause every ``every`` rows while a search runs."""
        for count, row in enumerate(rows):
            if not count % every and self._running:
                self.wait(LONGEST_PAUSE_S)
            yield row

    def wait(self, timeout: float) -> bool:
        """Wait until no search runs (at most ``timeout`` s); whether none does."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)
