"""How many inverted lists a filtered search must scan, measured on the store's own vectors.

An inverted-file search scans the ``nprobe`` lists whose centres are nearest
the query, checking each stored id against the filter. A filter letting
through a share ``s`` of the store leaves about ``s`` of each list, so the
filtered top-k lies deeper than the unfiltered one: the narrower the filter,
the more lists it takes to find it. How many depends on the data (how tightly
it clusters, how the lists cut it), so it is measured rather than guessed:
for each share in :data:`SHARES`, random filters and sample queries are
searched exactly and with 1, 2, 4, ... lists, and the smallest ``nprobe``
whose recall reaches the target is kept (doubling leaves a margin on purpose:
on new points of a cluster, as real queries are, recall runs below the
sample queries' by about 0.05 at 10-30% filters, so the smallest passing
``nprobe`` would sit at 0.95). A query's filter then uses the entry of the next
smaller measured share (never fewer lists than measured). Where the measured
``nprobe`` is more than half the lists, the search scans them all: at most
twice the cost, and the answer is exact.

A narrow filter has a faster exact answer still: gather the allowed vectors
themselves and score only them (``listrows.py``). Its cost follows the allowed
count; the list search's follows the lists it scans (all of them for narrow
filters, each entry's id checked). Which is faster depends on the machine's
memory and caches as much as on the data, so that crossover is timed too
(:func:`measure_crossover`): both are run on random filters of growing share
until the list search wins, and the share where the two times cross is kept.

Sample queries: half are stored vectors (like "similar to this image"), half
the normalised sum of two stored vectors (between two clusters, as a text
query often is).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from pximse.store.vectors.idfilter import IdFilter

SHARES = (1.0, 0.5, 0.25, 0.1, 0.04, 0.015)
"""Filter shares measured, broadest first."""
K = 100
"""The page depth measured; deeper pages count as narrower filters (see ``probes_for``)."""
RECALL_TARGET = 0.97
"""Mean recall@K each measured ``nprobe`` reaches on the sample queries."""
WORST_QUERY = 0.85
"""...and no sample query's recall is below this."""
QUERIES = 24
CROSSOVER_SHARES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
"""Filter shares at which the row search and the list search are timed, narrowest first."""
TIMED_QUERIES = 12

Search = Callable[[np.ndarray, int, int, IdFilter | None], np.ndarray]
"""``(queries, k, nprobe, filter) -> labels (queries × k, -1 where fewer found)``."""

Timed = Callable[[np.ndarray, IdFilter], object]
"""``(query, filter) -> anything``: one top-``K`` search, timed by the caller."""

ProbeTable = list[tuple[float, int]]
"""``[(share, nprobe), ...]``, broadest share first."""


def measure_probes(search: Search, ids: np.ndarray, sample: np.ndarray, lists: int,
                   rng: np.random.Generator) -> ProbeTable:
    """The probe table of an index with ``lists`` lists holding ``ids``; ``sample``
    holds stored vectors (float32 rows) to make the queries from."""
    queries = sample_queries(sample, rng)
    table: ProbeTable = []
    floor = 1
    size = int(ids.max()) + 1 if len(ids) else 0
    for share in SHARES:
        count = int(len(ids) * share)
        if count < 2 * K:
            break
        allowed = None if share >= 1 else IdFilter.from_ids(
            rng.choice(ids, count, replace=False), size)
        truth = search(queries, K, lists, allowed)
        nprobe = floor
        while nprobe < lists and not _good_enough(search(queries, K, nprobe, allowed), truth):
            nprobe *= 2
        nprobe = min(nprobe, lists)
        table.append((share, nprobe))
        floor = nprobe
        if nprobe >= lists:
            break  # narrower filters scan everything too
    return table


def probes_for(table: Sequence[tuple[float, int]], share: float, lists: int) -> int:
    """``nprobe`` for a filter letting through ``share`` of the store: the entry of
    the next smaller measured share; all lists below the table or past half of them."""
    chosen = lists
    for measured, nprobe in table:
        if measured <= share + 1e-12:
            chosen = nprobe
            break
    return lists if 2 * chosen > lists else chosen


def measure_crossover(rows: Timed, lists: Timed, ids: np.ndarray, sample: np.ndarray,
                      rng: np.random.Generator) -> float:
    """The widest filter share for which searching the allowed rows themselves
    (``rows``) is faster than searching the lists (``lists``), as timed here.

    For each share of :data:`CROSSOVER_SHARES`, narrowest first, a random filter
    of that share of ``ids`` is searched by both, query by query, alternating
    which goes first; the medians are compared. The rows' cost grows with the
    allowed count, the lists' cost shrinks as fewer lists are needed, so they
    cross once: between the last share where the rows won and the first where
    they lost, the crossover is placed where the log of the time ratio crosses
    zero. 0.0 when the lists won even at the narrowest share."""
    queries = sample_queries(sample, rng)[:TIMED_QUERIES]
    size = int(ids.max()) + 1 if len(ids) else 0
    crossover = 0.0
    previous: tuple[float, float] | None = None
    for share in CROSSOVER_SHARES:
        count = int(len(ids) * share)
        if count < 1:
            continue
        allowed = IdFilter.from_ids(rng.choice(ids, count, replace=False), size)
        rows(queries[0], allowed), lists(queries[0], allowed)  # warm both
        row_times: list[float] = []
        list_times: list[float] = []
        both = [(rows, row_times), (lists, list_times)]
        for n, query in enumerate(queries):
            for search, times in both if n % 2 == 0 else both[::-1]:
                started = time.perf_counter()
                search(query, allowed)
                times.append(time.perf_counter() - started)
        ratio = max(float(np.median(row_times)), 1e-9) / max(float(np.median(list_times)),
                                                               1e-9)
        if ratio < 1:
            crossover, previous = share, (share, ratio)
            continue
        if previous is not None:
            narrow, narrow_ratio = previous
            where = math.log(narrow_ratio) / (math.log(narrow_ratio) - math.log(ratio))
            crossover = narrow * (share / narrow) ** where
        break
    return crossover


def effective_share(allowed: int, total: int, stop: int) -> float:
    """A page ending at ``stop`` among ``allowed`` of ``total`` vectors reaches as deep
    as a top-``K`` page of a filter ``K / stop`` as wide."""
    return allowed / max(total, 1) * K / max(stop, K)


def sample_queries(sample: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    half = min(QUERIES // 2, len(sample))
    picked = sample[rng.choice(len(sample), half, replace=False)]
    pairs = sample[rng.choice(len(sample), (half, 2))]
    between = pairs[:, 0] + pairs[:, 1]
    norms = np.linalg.norm(between, axis=1, keepdims=True)
    between = between / np.where(norms > 0, norms, 1)
    return np.ascontiguousarray(np.concatenate([picked, between]), dtype=np.float32)


def _good_enough(found: np.ndarray, truth: np.ndarray) -> bool:
    recalls = []
    for got, want in zip(found, truth, strict=True):
        want = want[want >= 0]
        if len(want):
            recalls.append(len(np.intersect1d(got[got >= 0], want)) / len(want))
    return not recalls or (float(np.mean(recalls)) >= RECALL_TARGET
                           and min(recalls) >= WORST_QUERY)
