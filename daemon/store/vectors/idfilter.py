"""A filter's content ids as a bitmap, the form a vector index checks them in.

The query language's filter ends as a boolean mask over content ids (the
in-memory index evaluates it that way). Packed eight ids a byte, in the bit
order of faiss's ``IDSelectorBitmap`` (bit ``i % 8`` of byte ``i // 8``), it
goes to the vector index as it is: no id list to sort or map per query, and a
million-image filter is 125 KB. No faiss here, so the catalogue can build one
without the ``vectors`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IdFilter"]


@dataclass(frozen=True)
class IdFilter:
    """A set of content ids: ``bits`` packed little-endian, ``count`` of them set."""

    bits: np.ndarray
    count: int

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> IdFilter:
        """The ids ``i`` where ``mask[i]`` is true."""
        mask = np.asarray(mask, dtype=bool)
        return cls(np.packbits(mask, bitorder="little"), int(np.count_nonzero(mask)))

    @classmethod
    def from_ids(cls, ids: np.ndarray, size: int | None = None) -> IdFilter:
        """The non-negative ``ids`` below ``size`` (all of them when ``size`` is None)."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[ids >= 0]
        if size is None:
            size = int(ids.max()) + 1 if len(ids) else 0
        mask = np.zeros(size, dtype=bool)
        mask[ids[ids < size]] = True
        return cls.from_mask(mask)

    @property
    def size(self) -> int:
        """One past the largest id the bitmap can hold."""
        return len(self.bits) * 8

    def ids(self) -> np.ndarray:
        """The ids, ascending. Only the bytes with a bit set are unpacked, so a narrow
        filter over a million ids costs its count, not the million."""
        filled = np.flatnonzero(self.bits)
        at = np.flatnonzero(np.unpackbits(self.bits[filled], bitorder="little"))
        ids: np.ndarray = filled[at >> 3].astype(np.int64) * 8 + (at & 7)
        return ids

    def intersect(self, bits: np.ndarray) -> IdFilter:
        """The ids also set in ``bits`` (same packing; the shorter one bounds the result)."""
        size = min(len(self.bits), len(bits))
        both = np.bitwise_and(self.bits[:size], bits[:size])
        return IdFilter(both, int(np.bitwise_count(both).sum()))
