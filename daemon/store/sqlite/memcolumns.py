"""Numeric columns of the in-memory query index, each in the smallest dtype that holds it.

A million-image catalogue has a dozen numeric fields; at int64 plus a null
flag each costs 9 MB, most of it zeros: widths fit in 16 bits, bookmarks and
page numbers in 16 or 32, flags in 8. A column is loaded as int64, then kept
in the narrowest signed type that holds every value *and its negation* (the
sort negates a column for a descending order), and widened in place when an
update brings a value that does not fit. REAL columns (``ratio``) stay
float64, so comparisons give SQLite's answer to the bit. A column with no
null row keeps no null flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SIGNED = (np.int8, np.int16, np.int32, np.int64)


def narrowest(low: int, high: int) -> type[np.signedinteger]:
    """The smallest signed dtype holding every value in ``low..high`` and its negation."""
    for dtype in _SIGNED:
        if max(high, -low) <= np.iinfo(dtype).max:
            return dtype
    return np.int64


@dataclass
class NumericColumn:
    values: np.ndarray
    """0 where null; narrowest signed integer dtype, or float64 for a REAL column."""
    null: np.ndarray | None
    """bool per row, None while no row is null. Rows of ids no content has are
    not null: every answer is masked by the content states anyway."""

    @classmethod
    def empty(cls, size: int, real: bool) -> NumericColumn:
        return cls(np.zeros(size, dtype=np.float64 if real else np.int8), None)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + (0 if self.null is None else self.null.nbytes)

    def set(self, ids: np.ndarray, values: np.ndarray, null: np.ndarray) -> None:
        """Rows ``ids`` take ``values`` (0 where ``null``)."""
        if self.values.dtype.kind == "i" and len(values):
            wanted = narrowest(int(values.min()), int(values.max()))
            if np.dtype(wanted).itemsize > self.values.dtype.itemsize:
                self.values = self.values.astype(wanted)
        self.values[ids] = values
        if self.null is None and null.any():
            self.null = np.zeros(len(self.values), dtype=bool)
        if self.null is not None:
            self.null[ids] = null
            if not self.null.any():
                self.null = None

    def resize(self, size: int) -> None:
        """Grow to ``size`` rows (0, not null, until loaded)."""
        old = len(self.values)
        self.values = np.concatenate([self.values, np.zeros(size - old, self.values.dtype)])
        if self.null is not None:
            self.null = np.concatenate([self.null, np.zeros(size - old, dtype=bool)])

    def is_null(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Null flags of ``ids`` (every row when None)."""
        size = len(self.values) if ids is None else len(ids)
        if self.null is None:
            return np.zeros(size, dtype=bool)
        return self.null if ids is None else self.null[ids]

    def compare(self, op: str, number: float) -> np.ndarray:
        """Rows where ``value op number``; a null row matches only ``!=`` (SQL's
        ``IS NOT`` meaning, as the SQL compiler writes it)."""
        result = compare(self.values, op, number)
        if self.null is None:
            return result
        with_nulls: np.ndarray = result | self.null if op == "!=" else result & ~self.null
        return with_nulls


def compare(values: np.ndarray, op: str, number: float) -> np.ndarray:
    if op in ("=", "!="):
        equal: np.ndarray = values == number if op == "=" else values != number
        return equal
    if op == "<":
        return values < number
    if op == "<=":
        return values <= number
    if op == ">":
        return values > number
    return values >= number
