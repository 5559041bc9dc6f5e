"""The one entry point: a query string in either syntax to a :class:`Query`.

>>> parse_query("1girl -monochrome filesize:>2MB order:-date").where
And(children=(Tag(name='1girl', kind='any'), Not(child=Tag(name='monochrome', kind='any')), \
Compare(field='filesize', op='>', value=2097152)))
>>> parse_query("tags.long_hair,|tags1:猫,|tags1:犬").where
And(children=(Tag(name='long_hair', kind='model'), Or(children=(Tag(name='猫', kind='source'), \
Tag(name='犬', kind='source')))))
>>> format_query(parse_query("date:2020"))
'date:>=2020-01-01 date:<2021-01-01'
"""

from __future__ import annotations

from typing import Literal

from pximse.query.ast import Query, SortKey
from pximse.query.booru import parse_booru
from pximse.query.errors import QueryError
from pximse.query.legacy import looks_legacy, parse_legacy, parse_legacy_sort
from pximse.query.printer import format_query
from pximse.query.values import sort_keys

Syntax = Literal["auto", "booru", "legacy"]

__all__ = ["Syntax", "detect_syntax", "format_query", "parse_query", "parse_sort"]


def detect_syntax(text: str) -> Literal["booru", "legacy"]:
    """``legacy`` when an item of the text starts like the original syntax, else ``booru``.

    See :func:`pximse.query.legacy.looks_legacy` for the rule.
    """
    return "legacy" if looks_legacy(text) else "booru"


def parse_query(text: str, sort: str = "", syntax: Syntax = "auto") -> Query:
    """Parse a query and a separate sort list.

    ``order:`` keys written in a booru query come first, then the keys of
    ``sort``; beside a query in the original syntax, ``sort`` knows the
    original's keys too (``createDate``, ``type`` the site). Raises
    :class:`QueryError` (position, message, the text) for anything malformed,
    and nothing else.
    """
    if syntax not in ("auto", "booru", "legacy"):
        raise QueryError(f"unknown syntax '{syntax}': use auto, booru or legacy", 0, text)
    chosen = detect_syntax(text) if syntax == "auto" else syntax
    if chosen == "legacy":
        query = Query(parse_legacy(text))
        extra = parse_legacy_sort(sort)
    else:
        query = parse_booru(text)
        extra = parse_sort(sort)
    return Query(query.where, query.sort + extra) if extra else query


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """Sort keys in either syntax: ``filesize;1``, ``-date``, ``order:-date``, ``random``…

    Comma- or space-separated. A bare key and ``-key`` sort descending (the
    original's default); ``+key``, ``key_asc`` and ``key;1`` ascending.
    """
    return sort_keys(text, 0, text)
