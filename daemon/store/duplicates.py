"""Near-duplicates: the re-encodes, resizes, re-uploads and small edits of one
picture that a collection accumulates.

Two signals, either enough on its own:

* the 64-bit perceptual hash every image gets when it is scanned: two images
  whose hashes differ in at most ``distance`` bits (``[search] dupe_distance``)
  look the same at thumbnail size (a JPEG re-encode or a resize differs in 0–2);
* the CLIP embedding, when the library has one: two images at least
  ``similarity`` alike (``[search] dupe_similarity``) are the same drawing even
  when a crop, a watermark or a colour change moved the hash.

Hashes taken different ways (``phash_version``: from a bigger preview, from
the thumbnail-sized decode, then from that decode shrunk with a smaller
reducing gap) differ by a few bits on the same picture, so a pair of two
versions is allowed ``PHASH_DRIFT`` more bits: an older catalogue's images
still find their new near-duplicates.

``dupes:ID`` in a query is resolved here into the ids it stands for (the
catalogue asks for the hash side; the search planner adds the CLIP side), and
:func:`find_groups` splits a whole library into groups for ``pximse dupes``.
Finding every pair within ``distance`` among a million hashes uses
multi-index hashing: cut the 64 bits into ``distance + 1`` blocks; two hashes
that close agree exactly on at least one block, so only hashes that share a
block value are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from pximse.query.ast import Duplicates, Node, map_leaves, walk

__all__ = ["find_groups", "hash_neighbours", "has_unresolved", "resolve_duplicates"]

HashSource = Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``() -> (content ids, hashes, their versions)`` for every image in the catalogue."""

PHASH_DRIFT = 4
"""Extra bits allowed between hashes of two versions. Measured on the same
pictures hashed each way (``bench/scan_new_files.py`` prints it): between
versions 1 and 2, 166 drawn illustrations of 1000-3000 px moved by 0 bits
(115) or 2 (51), never more; diagrams and screenshots with large flat areas,
whose hashes are unstable anyway, moved up to 18 bits in 2 of 78, and by at
most 4 in 98% of them. Version 3 against 1, on 1,000 illustrations: 0 bits
(742), 2 (250) or 4 (8); against 2: 0 bits (961) or 2 (39)."""


SimilarIds = Callable[[int], np.ndarray]
"""``content id -> ids of images whose CLIP vector is nearly the same``."""

IdOf = Callable[[str], int]
"""``image id (SHA-256 or its first 8+ hex digits) -> content id``; raises QueryError."""


def _as_unsigned(hashes: np.ndarray) -> np.ndarray:
    return np.asarray(hashes).astype(np.int64).view(np.uint64)


def hash_neighbours(ids: np.ndarray, hashes: np.ndarray, content_id: int,
                    distance: int, versions: np.ndarray | None = None) -> np.ndarray:
    """The ids whose hash is within ``distance`` bits of ``content_id``'s
    (``content_id`` included; just it when it has no hash); ``PHASH_DRIFT`` more
    for a hash of the other version."""
    hashes = _as_unsigned(hashes)
    at = np.flatnonzero(ids == content_id)
    if not len(at):
        return np.array([content_id], np.int64)
    limit: int | np.ndarray = distance
    if versions is not None:
        limit = np.where(versions == versions[at[0]], distance, distance + PHASH_DRIFT)
    close = np.bitwise_count(hashes ^ hashes[at[0]]) <= limit
    return np.union1d(ids[close], [content_id]).astype(np.int64)


def has_unresolved(node: Node) -> bool:
    return any(isinstance(n, Duplicates) and n.ids is None for n in walk(node))


def resolve_duplicates(node: Node, id_of: IdOf, hashes: HashSource, distance: int,
                       similar: SimilarIds | None = None) -> Node:
    """``node`` with every unresolved ``dupes:`` filled with the ids it stands for."""
    if not has_unresolved(node):
        return node
    loaded: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def ids_for(value: str) -> tuple[int, ...]:
        if not loaded:
            loaded.append(hashes())
        content_id = id_of(value)
        ids, found_hashes, versions = loaded[0]
        found = hash_neighbours(ids, found_hashes, content_id, distance, versions)
        if similar is not None:
            found = np.union1d(found, similar(content_id))
        return tuple(int(i) for i in found)

    def fill(current: Node) -> Node:
        if isinstance(current, Duplicates) and current.ids is None:
            return replace(current, ids=ids_for(current.value))
        return current

    return map_leaves(node, fill)


def hash_pairs(hashes: np.ndarray, distance: int,
               versions: np.ndarray | None = None) -> np.ndarray:
    """Every pair of positions ``[i, j]`` (``i < j``) whose hashes differ in at
    most ``distance`` bits (``PHASH_DRIFT`` more when their ``versions`` differ);
    equal hashes of one version are paired through their first holder."""
    hashes = _as_unsigned(hashes)
    if versions is None:
        versions = np.zeros(len(hashes), np.uint64)
    keys = np.stack([hashes, np.asarray(versions).astype(np.uint64)], axis=1)
    entries, first, inverse = np.unique(keys, axis=0, return_index=True,
                                        return_inverse=True)
    inverse = inverse.reshape(-1)
    unique, kinds = entries[:, 0], entries[:, 1]
    widest = distance + (PHASH_DRIFT if len(np.unique(kinds)) > 1 else 0)
    # equal hashes: each position with its hash's first holder
    same = np.flatnonzero(first[inverse] != np.arange(len(hashes)))
    pairs = [np.stack([first[inverse[same]], same], axis=1)]
    blocks = widest + 1
    bounds = np.linspace(0, 64, blocks + 1).astype(int)
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        key = (unique >> np.uint64(low)) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(key, kind="stable")
        cuts = np.flatnonzero(np.diff(key[order])) + 1
        for run in np.split(order, cuts):
            if len(run) < 2:
                continue
            for start in range(0, len(run), 1024):  # bounded memory for long runs
                left = run[start:start + 1024]
                limit = np.where(kinds[left][:, None] == kinds[run][None, :], distance, widest)
                near = np.bitwise_count(unique[left][:, None] ^ unique[run][None, :]) <= limit
                a, b = np.nonzero(near)
                a, b = left[a], run[b]
                keep = a < b
                pairs.append(np.stack([first[a[keep]], first[b[keep]]], axis=1))
    found = np.concatenate(pairs).astype(np.int64)
    return np.unique(np.sort(found, axis=1), axis=0)


def find_groups(ids: np.ndarray, hashes: np.ndarray, distance: int,
                extra_pairs: np.ndarray | None = None,
                versions: np.ndarray | None = None) -> list[np.ndarray]:
    """Groups of near-duplicate content ids (two or more each), largest first.

    ``ids``/``hashes`` are the catalogue's; ``extra_pairs`` are more pairs of
    content ids known to be alike (CLIP); ``versions`` the hashes' versions.
    Being a near-duplicate is made transitive here: a chain of close pairs is
    one group.
    """
    ids = np.asarray(ids, dtype=np.int64)
    positions = hash_pairs(hashes, distance, versions)
    edges = [ids[positions]] if len(positions) else []
    if extra_pairs is not None and len(extra_pairs):
        edges.append(np.asarray(extra_pairs, dtype=np.int64))
    if not edges:
        return []
    # scipy costs a second to import: only grouping needs it, not every search.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.concatenate(edges)
    nodes, local = np.unique(pairs, return_inverse=True)
    local = local.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(local), np.int8), (local[:, 0], local[:, 1])),
                       shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    groups = np.split(nodes[order], np.flatnonzero(np.diff(labels[order])) + 1)
    groups = [group for group in groups if len(group) > 1]
    groups.sort(key=lambda group: (-len(group), int(group[0])))
    return groups
