"""How many CPU threads a model may use: its share of the cores this process may run on.

``indexing.cpu_share`` is the share of the machine background indexing may
take. A model whose runtime spreads each batch over ``threads`` cores uses at
most ``threads / cores`` of the machine while it works, so the number of threads
follows the share, and the indexer rests between batches only for what the
thread count cannot express (a quarter of a two-core machine is one thread,
busy half the time).
"""

from __future__ import annotations

import os

__all__ = ["cpu_cores", "rest_share", "threads_for_share"]


def cpu_cores() -> int:
    """The cores this process may run on (its affinity on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_for_share(share: float, cores: int | None = None) -> int:
    """Threads for a model allowed ``share`` (0..1] of ``cores``: at least one."""
    cores = cpu_cores() if cores is None else cores
    return max(1, int(cores * min(max(share, 0.0), 1.0) + 1e-9))


def rest_share(share: float, cores: int | None = None) -> float:
    """The share of the time the indexer may work so that ``threads_for_share``
    threads use ``share`` of the machine over time."""
    cores = cpu_cores() if cores is None else cores
    threads = threads_for_share(share, cores)
    return min(1.0, share * cores / threads)
