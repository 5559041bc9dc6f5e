"""Pages in a sort order without sorting: the in-memory index's sorted permutations.

The search page opens on the newest images first, and a broad filter
(``1girl``: 600k of a million) sorted by date is the commonest query. Sorting
the matches per query costs tens of milliseconds at a million images; keeping
every content id in the sort's order (4 bytes each) turns a page into a walk
down that order, keeping the ids the filter lets through, until the page is
full: microseconds for a broad filter.

Writes do not invalidate the order: rows changed since it was built are kept
aside, and a page is the first ``stop`` matching unchanged rows of the order
(their keys did not move, so neither did their order) merged with the
matching changed rows, sorted by their current keys. Once too many rows
changed, the order is built again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

KeysFor = Callable[[np.ndarray], list[np.ndarray]]
"""``ids -> lexsort keys`` (last is primary) of the sort, for those ids."""

REBUILD_AFTER = 0.01
"""Share of the rows that may change before the order is rebuilt."""
_FIRST_CHUNK = 4096


class SortedOrder:
    """Every content id below ``size``, in one sort's order."""

    def __init__(self, keys_for: KeysFor, size: int) -> None:
        ids = np.arange(size, dtype=np.int64)
        order = np.lexsort(keys_for(ids))
        self.order = order.astype(np.int32 if size < 2**31 else np.int64)
        self.size = size
        self._changed: set[int] = set()
        self._changed_array: np.ndarray | None = np.empty(0, np.int64)

    @property
    def stale(self) -> bool:
        return len(self._changed) > max(1000, REBUILD_AFTER * self.size)

    def changed(self, ids: np.ndarray) -> None:
        """Rows whose sort key may have moved (or that are new)."""
        self._changed.update(ids.tolist())
        self._changed_array = None

    def first(self, mask: np.ndarray, stop: int, keys_for: KeysFor) -> np.ndarray:
        """The first ``stop`` ids where ``mask`` is true, in this sort's order."""
        if self._changed_array is None:
            self._changed_array = np.fromiter(self._changed, np.int64, len(self._changed))
        changed = self._changed_array
        changed = changed[changed < len(mask)]
        fresh = changed[mask[changed]]
        if len(changed):
            mask = mask.copy()
            mask[changed] = False
        found = self._walk(mask, stop)
        if not len(fresh):
            return found
        merged = np.concatenate([found, fresh])
        return merged[np.lexsort(keys_for(merged))][:stop]

    def _walk(self, mask: np.ndarray, stop: int) -> np.ndarray:
        pieces: list[np.ndarray] = []
        held = 0
        start, chunk = 0, _FIRST_CHUNK
        while held < stop and start < len(self.order):
            part = self.order[start:start + chunk]
            hits = part[mask[part]]
            pieces.append(hits)
            held += len(hits)
            start += chunk
            chunk *= 2
        found = np.concatenate(pieces) if pieces else np.empty(0, np.int64)
        return found[:stop].astype(np.int64)
