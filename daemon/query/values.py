"""Typed values shared by both query syntaxes: numbers, sizes, pixel counts,
partial dates, booleans and the per-field normalisation of text values.

Every function takes the value's text, its 0-based position in the whole
query and the query itself, so that a bad value raises :class:`QueryError`
pointing at the value. Both parsers build comparison nodes through
:func:`compare` and :func:`value_range`, so the two syntaxes give equal trees
for equal meanings.

Partial dates stand for a span of time and are normalised to comparisons with
full dates, ``>=`` the first moment of the span and ``<`` the first moment
after it::

    date:2020       -> date >= 2020-01-01 AND date < 2021-01-01
    date:>2020      -> date >= 2021-01-01
    date:<=2020-06  -> date < 2020-07-01

so a date comparison in a parsed tree always uses ``>=`` or ``<``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, DecimalException
from typing import NoReturn

from pximse.query.ast import (
    Compare,
    CompareOp,
    Node,
    SortKey,
    TagScore,
    Value,
    all_of,
    any_of,
)
from pximse.query.errors import QueryError
from pximse.query.fields import PIXIV_STATES, SORT_ONLY, Field, lookup, sortable_names

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(NUMBER)
_INT_RE = re.compile(r"[+-]?\d+")
_RATIO_RE = re.compile(rf"({NUMBER})\s*[:/]\s*({NUMBER})")
_SIZE_RE = re.compile(rf"({NUMBER})\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_PIXELS_RE = re.compile(rf"({NUMBER})\s*(k|m|mp)?", re.IGNORECASE)
_DATE_RE = re.compile(
    r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})"
    r"(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?Z?)?)?)?",
    re.IGNORECASE,
)

INT_LIMIT = 2**63 - 1
"""The largest integer a query may hold (SQLite's and MongoDB's 64-bit integers)."""

ORDERED_KINDS = frozenset({"int", "float", "size", "date"})
"""Kinds that take every comparison and ranges; the others take ``=`` and ``!=``."""

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_PIXEL_UNITS = {"": 1, "k": 1000, "m": 1000**2, "mp": 1000**2}
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_SOURCE_ALIASES = {"yande.re": "yandere", "x": "twitter", "pixiv1": "pixiv"}
_FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff"}
_HEX_RE = re.compile(r"[0-9a-f]{8,64}")


def fail(message: str, position: int, query: str) -> NoReturn:
    raise QueryError(message, position, query)


# -- numbers ---------------------------------------------------------------


def parse_float(text: str, pos: int, query: str) -> float:
    """A decimal number; ``16:9`` and ``16/9`` are read as a ratio."""
    if _NUMBER_RE.fullmatch(text):
        value = float(text)
    elif match := _RATIO_RE.fullmatch(text):
        numerator, denominator = float(match[1]), float(match[2])
        if denominator == 0:
            fail(f"'{text}' divides by zero", pos, query)
        value = numerator / denominator
    else:
        fail(f"'{text}' is not a number", pos, query)
    if not math.isfinite(value):
        fail(f"'{text}' is too large", pos, query)
    return value


def parse_int(text: str, pos: int, query: str, name: str) -> int:
    if not _INT_RE.fullmatch(text):
        if _NUMBER_RE.fullmatch(text):
            fail(f"'{name}' takes a whole number, not '{text}'", pos, query)
        fail(f"'{text}' is not a number", pos, query)
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 19 or int(text) > INT_LIMIT or int(text) < -INT_LIMIT:
        fail(f"'{text}' is too large", pos, query)
    return int(text)


def _scaled(number: str, scale: int, text: str, pos: int, query: str, name: str) -> int:
    """``number * scale`` as an int, rounded to the nearest unit."""
    try:
        amount = Decimal(number) * scale
    except DecimalException:  # an exponent beyond Decimal's range
        fail(f"'{text}' is too large", pos, query)
    if abs(amount) > INT_LIMIT:
        fail(f"'{text}' is too large", pos, query)
    if amount < 0:
        fail(f"'{name}' cannot be negative", pos, query)
    return int(amount.to_integral_value())


def parse_size(text: str, pos: int, query: str) -> int:
    """A size in bytes: ``1048576``, ``512KB``, ``1.5MB``, ``2G`` (1024-based)."""
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        fail(f"'{text}' is not a size; write bytes or a number with B, KB, MB, GB or TB",
             pos, query)
    unit = (match[2] or "").lower()[:1]
    return _scaled(match[1], _SIZE_UNITS[unit], text, pos, query, "a size")


def parse_pixels(text: str, pos: int, query: str) -> int:
    """A pixel count: ``2000000``, ``2M``, ``500K`` (1000-based)."""
    match = _PIXELS_RE.fullmatch(text)
    if match is None:
        fail(f"'{text}' is not a pixel count; write a number, optionally with K or M",
             pos, query)
    scale = _PIXEL_UNITS[(match[2] or "").lower()]
    if scale == 1:
        return parse_int(text, pos, query, "pixels")
    return _scaled(match[1], scale, text, pos, query, "a pixel count")


def parse_bool(text: str, pos: int, query: str, name: str) -> bool:
    found = _BOOLS.get(text.lower())
    if found is None:
        fail(f"'{name}' takes true or false (or yes/no), not '{text}'", pos, query)
    return found


# -- dates -----------------------------------------------------------------


@dataclass(frozen=True)
class DateSpan:
    """The span of time a (partial) date names: from ``start`` for one ``unit``."""

    start: datetime
    unit: str  # year, month, day, hour, minute, second

    def end(self, pos: int, query: str) -> datetime:
        """The first moment after the span."""
        start = self.start
        try:
            if self.unit == "year":
                return start.replace(year=start.year + 1)
            if self.unit == "month":
                if start.month == 12:
                    return start.replace(year=start.year + 1, month=1)
                return start.replace(month=start.month + 1)
            step = {"day": timedelta(days=1), "hour": timedelta(hours=1),
                    "minute": timedelta(minutes=1), "second": timedelta(seconds=1)}[self.unit]
            return start + step
        except (ValueError, OverflowError):
            fail("the date is out of range (years 1 to 9999)", pos, query)


def iso(moment: datetime) -> str:
    """The canonical text of a moment: ``YYYY-MM-DD`` at midnight, else ``YYYY-MM-DDTHH:MM:SS``."""
    if moment.hour == moment.minute == moment.second == 0:
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds")


def parse_date(text: str, pos: int, query: str) -> DateSpan:
    """``2020``, ``2020-06``, ``2020-06-01``, ``2020-06-01T10``, ``…T10:30``, ``…T10:30:15``.

    A space may stand for the ``T``; a trailing ``Z`` is allowed (times are UTC).
    """
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        fail(f"'{text}' is not a date; write YYYY, YYYY-MM, YYYY-MM-DD or "
             "YYYY-MM-DDTHH:MM:SS", pos, query)
    parts = [int(group) if group is not None else None for group in match.groups()]
    units = ("year", "month", "day", "hour", "minute", "second")
    unit = units[max(i for i, part in enumerate(parts) if part is not None)]
    year, month, day, hour, minute, second = (part or 0 for part in parts)
    try:
        start = datetime(year, month or 1, day or 1, hour, minute, second)
    except ValueError as exc:
        fail(f"'{text}' is not a valid date: {exc}", pos, query)
    return DateSpan(start, unit)


# -- text values -----------------------------------------------------------


def text_value(field: Field, text: str, pos: int, query: str) -> str:
    """A text field's value, normalised where the field has a fixed vocabulary."""
    if text == "":
        fail(f"missing value for '{field.name}'", pos, query)
    if field.name == "source":
        lowered = text.lower()
        return _SOURCE_ALIASES.get(lowered, lowered)
    if field.name == "format":
        lowered = text.lower().lstrip(".")
        return _FORMAT_ALIASES.get(lowered, lowered)
    if field.name == "pixiv_state":
        lowered = text.lower()
        if lowered not in PIXIV_STATES:
            fail(f"'{field.name}' is one of {', '.join(PIXIV_STATES)}, not '{text}'", pos, query)
        return lowered
    if field.name == "id":
        lowered = text.lower()
        if not _HEX_RE.fullmatch(lowered):
            fail("an id is 8 to 64 hex digits (a prefix of the SHA-256)", pos, query)
        return lowered
    return text


def field_value(field: Field, text: str, pos: int, query: str) -> Value:
    """The typed value of ``text`` for a field of any kind but ``date``."""
    if text.strip() == "" and field.kind not in ("str", "path"):
        fail(f"missing value for '{field.name}'", pos, query)
    if field.kind == "int":
        if field.name == "pixels":
            return parse_pixels(text, pos, query)
        return parse_int(text, pos, query, field.name)
    if field.kind == "float":
        return parse_float(text, pos, query)
    if field.kind == "size":
        return parse_size(text, pos, query)
    if field.kind == "bool":
        return parse_bool(text, pos, query, field.name)
    return text_value(field, text, pos, query)


# -- comparison nodes ------------------------------------------------------


def compare(field: Field, op: CompareOp, text: str, pos: int, query: str,
            op_pos: int | None = None) -> Node:
    """The node for ``field op text``, with dates widened to the span they name."""
    if field.kind not in ORDERED_KINDS and op not in ("=", "!="):
        fail(f"'{field.name}' takes only = and != (it is {_kind_words(field)})",
             pos if op_pos is None else op_pos, query)
    if field.kind != "date":
        return Compare(field.name, op, field_value(field, text, pos, query))
    span = parse_date(text, pos, query)
    start = iso(span.start)
    if op == ">=":
        return Compare(field.name, ">=", start)
    if op == "<":
        return Compare(field.name, "<", start)
    end = iso(span.end(pos, query))
    if op == ">":
        return Compare(field.name, ">=", end)
    if op == "<=":
        return Compare(field.name, "<", end)
    if op == "=":
        return all_of([Compare(field.name, ">=", start), Compare(field.name, "<", end)])
    return any_of([Compare(field.name, "<", start), Compare(field.name, ">=", end)])


def value_range(field: Field, low: str, low_pos: int, high: str, high_pos: int,
                query: str) -> Node:
    """``low..high``, both ends included; either end may be empty, not both."""
    if field.kind not in ORDERED_KINDS:
        fail(f"'{field.name}' takes no range (it is {_kind_words(field)})", low_pos, query)
    low, high = low.strip(), high.strip()
    if not low and not high:
        fail("a range needs at least one end: a..b, a.. or ..b", low_pos, query)
    nodes: list[Node] = []
    if field.kind == "date":
        if low:
            first = parse_date(low, low_pos, query).start
            nodes.append(Compare(field.name, ">=", iso(first)))
        if high:
            after = parse_date(high, high_pos, query).end(high_pos, query)
            nodes.append(Compare(field.name, "<", iso(after)))
            if low and after <= first:
                fail(f"the range is empty: {low} is after {high}", low_pos, query)
        return all_of(nodes)
    low_value = field_value(field, low, low_pos, query) if low else None
    high_value = field_value(field, high, high_pos, query) if high else None
    if low_value is not None:
        nodes.append(Compare(field.name, ">=", low_value))
    if high_value is not None:
        nodes.append(Compare(field.name, "<=", high_value))
    if (
        isinstance(low_value, int | float)
        and isinstance(high_value, int | float)
        and low_value > high_value
    ):
        fail(f"the range is empty: {low} is above {high}", low_pos, query)
    return all_of(nodes)


def tag_score(name: str, op: CompareOp, text: str, pos: int, query: str) -> TagScore:
    """A tagger's score for ``name`` compared with a number from 0 to 1."""
    if text.strip() == "":
        fail("missing score (a number from 0 to 1)", pos, query)
    value = parse_float(text.strip(), pos, query)
    if not 0 <= value <= 1:
        fail(f"a tag score is a number from 0 to 1, not {text.strip()}", pos, query)
    return TagScore(name, op, value)


def score_range(name: str, low: str, low_pos: int, high: str, high_pos: int,
                query: str) -> Node:
    if not low.strip() and not high.strip():
        fail("a range needs at least one end: a..b, a.. or ..b", low_pos, query)
    nodes: list[TagScore] = []
    if low.strip():
        nodes.append(tag_score(name, ">=", low, low_pos, query))
    if high.strip():
        nodes.append(tag_score(name, "<=", high, high_pos, query))
    if len(nodes) == 2 and nodes[0].value > nodes[1].value:
        fail(f"the range is empty: {low} is above {high}", low_pos, query)
    return all_of(nodes)


def _kind_words(field: Field) -> str:
    return {"str": "text", "path": "a path", "bool": "true or false"}.get(field.kind, field.kind)


# -- sort keys -------------------------------------------------------------

_SORT_WORD = re.compile(r"[^,\s]+")


def sort_keys(text: str, pos: int, query: str,
              field_named: Callable[[str], Field | None] = lookup) -> tuple[SortKey, ...]:
    """Sort keys from a comma- or space-separated list in either syntax.

    ``date`` and ``-date`` sort descending (newest, largest first, as the
    original did for a bare key); ``+date``, ``date_asc`` and ``date;1`` sort
    ascending; ``date;-1`` and ``date_desc`` descending. ``order:`` or
    ``sort:`` before a key is allowed. ``random`` has no direction.
    ``field_named`` reads a key's name (the original syntax knows more names).
    """
    return tuple(_sort_key(m[0], pos + m.start(), query, field_named)
                 for m in _SORT_WORD.finditer(text))


def _sort_key(word: str, pos: int, query: str,
              field_named: Callable[[str], Field | None]) -> SortKey:
    for prefix in ("order:", "sort:"):
        if word.lower().startswith(prefix):
            word, pos = word[len(prefix):], pos + len(prefix)
            break
    name, name_pos = word, pos
    descending: bool | None = None
    if ";" in word:
        name, _, direction = word.partition(";")
        if direction in ("1", "+1"):
            descending = False
        elif direction == "-1":
            descending = True
        else:
            fail("a sort direction is 1 (ascending) or -1 (descending)",
                 pos + len(name) + 1, query)
    elif word[:1] in ("+", "-"):
        descending, name, name_pos = word[0] == "-", word[1:], pos + 1
    found = field_named(name)
    if found is None and name.lower() not in SORT_ONLY:
        for suffix, suffix_descending in (("_asc", False), ("_desc", True)):
            if name.lower().endswith(suffix):
                if descending is not None and descending != suffix_descending:
                    fail(f"'{word}' asks for two sort directions", pos, query)
                name, descending = name[: -len(suffix)], suffix_descending
                found = field_named(name)
                break
    if not name:
        fail("missing sort field", name_pos, query)
    if name.lower() in SORT_ONLY:
        return SortKey(name.lower(), True)
    if found is None or not found.sortable:
        fail(f"unknown sort field '{name}'; use one of {', '.join(sortable_names())}",
             name_pos, query)
    return SortKey(found.name, True if descending is None else descending)
