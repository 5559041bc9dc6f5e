"""Stored vectors gathered straight out of faiss's inverted lists, by (list, offset).

An exact search over a narrow filter should touch only the allowed vectors. They
sit in the inverted lists, each list in an allocation of its own, so there is no
single matrix to index. :class:`ListRows` makes one: a numpy view whose item at
byte ``b`` is the ``code_size`` bytes starting at address ``lowest + b``, where
``lowest`` is the lowest address of any list's codes. The row at offset ``o``
of list ``l`` is then the item at ``start[l] + o * code_size``, and the allowed
rows come out in one fancy-indexing gather (float16 codes, no float32 copy),
ready for faiss's scanner.

The view spans memory that is not ours (between the lists); only items at the
positions of stored rows are ever read. It is valid until a list changes (an
add, a removal, a repack may move a list's allocation): the store drops it on
every write and builds it again, under its lock, on the next exact search
(one pointer read per list).
"""

from __future__ import annotations

import ctypes
from typing import Any

import faiss
import numpy as np

__all__ = ["ListRows", "row_scanner", "top_of_codes"]


class ListRows:
    """The codes of every list of ``index`` (an ``ArrayInvertedLists`` IVF), readable by
    position."""

    def __init__(self, index: Any) -> None:
        lists = index.invlists
        self.code_size = int(index.code_size)
        sizes = np.array([lists.list_size(n) for n in range(index.nlist)], np.int64)
        starts = np.array([int(lists.get_codes(n)) if size else 0
                           for n, size in enumerate(sizes)], np.int64)
        filled = sizes > 0
        if not filled.any():
            self._view = np.empty(0, np.dtype((np.void, self.code_size)))
            self._start = np.zeros(len(sizes), np.int64)
            return
        lowest = int(starts[filled].min())
        highest = int((starts + sizes * self.code_size)[filled].max())
        span = (ctypes.c_char * (highest - lowest)).from_address(lowest)
        self._view = np.ndarray(shape=(highest - lowest - self.code_size + 1,),
                                dtype=np.dtype((np.void, self.code_size)),
                                buffer=memoryview(span),
                                strides=(1,))
        self._start = np.where(filled, starts - lowest, 0)

    def gather(self, lists: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The codes of the rows at ``offsets`` in ``lists`` (both per row, all stored),
        as a C-contiguous ``uint8`` array of ``len(lists) × code_size``."""
        at = self._start[lists] + offsets.astype(np.int64) * self.code_size
        rows: np.ndarray = self._view[at]
        return rows.view(np.uint8).reshape(len(at), self.code_size)


def row_scanner(index: Any) -> Any:
    """faiss's list scanner of ``index`` (``InvertedListScanner``), to score gathered
    rows exactly as a list scan scores them. Keep one per index for the index's life:
    it is never freed (freeing one through faiss's wrappers breaks the next one
    they return), so making one per query would leak."""
    return index.get_InvertedListScanner(False, None, None)


def top_of_codes(scanner: Any, query: np.ndarray, codes: np.ndarray, ids: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of ``codes`` (rows labelled ``ids``) for ``query``, by
    ``scanner`` (:func:`row_scanner`): one thread, no OpenMP team to wake (on a
    loaded machine that wait costs more than the scan). Returns ``(scores, ids)``,
    unordered, ``k`` long at most."""
    k = min(k, len(ids))
    scores = np.full(k, -np.inf, np.float32)
    labels = np.full(k, -1, np.int64)
    if not k:
        return scores, labels
    query = np.ascontiguousarray(query, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    scanner.set_query(faiss.swig_ptr(query))
    scanner.set_list(0, 0.0)  # codes are the vectors (no residual): no coarse term
    scanner.scan_codes(len(ids), faiss.swig_ptr(codes), faiss.swig_ptr(ids),
                       faiss.swig_ptr(scores), faiss.swig_ptr(labels), k)
    return scores, labels
