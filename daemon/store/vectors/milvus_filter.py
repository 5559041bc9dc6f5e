"""The part of a query filter that Milvus can evaluate on the scalars beside each vector.

A Milvus collection of PxIMSE vectors keeps a few of the catalogue's columns
next to each vector (:data:`SCALARS`), so that a filter on them runs *inside*
Milvus' search instead of becoming a list of allowed ids. :func:`milvus_filter`
turns a filter into a Milvus boolean expression when every node of it is about
those columns, and answers ``None`` otherwise (tags, paths, OCR text: the
catalogue then hands over the allowed ids).

Meaning: the query language's, not Milvus' own. Milvus compares NULL with
SQL's three-valued logic (``not (posted > 10)`` leaves out the images with
no date), whereas a query's comparison with a missing value is false and its
``NOT`` true; so every comparison on a nullable column is guarded with
``is not null`` (``!=`` with ``is null or``), which makes each one two-valued.
On a server without nullable fields (before Milvus 2.5) a collection keeps a
``has_<field>`` flag beside each nullable column instead
(:mod:`pximse.store.vectors.milvus_features`), and the guards test the flag.
"""

from __future__ import annotations

import json
from typing import Any

from pximse.query.ast import And, Compare, Has, MatchAll, Node, Not, Or
from pximse.query.fields import lookup
from pximse.store.content_fields import FORMAT_ALIASES
from pximse.store.records import iso_to_epoch
from pximse.store.vectors.milvus_features import PRESENCE_PREFIX

SCALARS: dict[str, tuple[str, bool]] = {
    # query field -> (Milvus type: int, float or str; nullable)
    "state": ("int", False),
    "date": ("int", False),
    "filesize": ("int", False),
    "width": ("int", False),
    "height": ("int", False),
    "ratio": ("float", False),
    "pixels": ("int", False),
    "frames": ("int", False),
    "animated": ("int", False),
    "tagcount": ("int", False),
    "format": ("str", False),
    "source": ("str", False),
    "posted": ("int", True),
    "page": ("int", True),
    "textlen": ("int", True),
}
"""The catalogue columns stored beside each vector (``state``: 1 present, 0
offline, -1 gone, -2 not yet copied from the catalogue)."""

UNSYNCED_STATE = -2
_OPS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SEARCHABLE = "state in [0, 1]"
_TRUE, _FALSE = "true", "false"
"""Constants, folded away while compiling: Milvus before 2.4 has no boolean literals."""
_NOTHING = "state == -9"
"""Selects no row (``state`` is -2 to 1): what a filter that is always false becomes."""


def milvus_filter(node: Node, *, presence_flags: bool = False) -> str | None:
    """A Milvus expression with the meaning of ``node`` (searchable images only),
    or None when some part of it needs the catalogue. ``presence_flags``: the
    collection marks missing values with ``has_<field>`` flags, not NULLs."""
    inner = _Compiler(presence_flags).expr(node)
    if inner is None:
        return None
    if inner == _FALSE:
        return _NOTHING
    return SEARCHABLE if inner == _TRUE else f"{SEARCHABLE} and ({inner})"


class _Compiler:
    """Compiles for one collection layout: NULLs, or ``has_`` flags."""

    def __init__(self, presence_flags: bool) -> None:
        self.flags = presence_flags

    def present(self, name: str) -> str:
        return f"{PRESENCE_PREFIX}{name} == true" if self.flags else f"{name} is not null"

    def absent(self, name: str) -> str:
        return f"{PRESENCE_PREFIX}{name} == false" if self.flags else f"{name} is null"

    def expr(self, node: Node) -> str | None:
        match node:
            case MatchAll():
                return _TRUE
            case And(children) | Or(children):
                found = [self.expr(child) for child in children]
                if any(part is None for part in found):
                    return None
                # AND: a false child decides, true ones drop out; OR the other way round.
                decides, neutral = (_FALSE, _TRUE) if isinstance(node, And) else (_TRUE, _FALSE)
                if decides in found:
                    return decides
                parts = [part for part in found if part != neutral]
                if not parts:
                    return neutral
                joiner = " and " if isinstance(node, And) else " or "
                return "(" + joiner.join(f"({part})" for part in parts) + ")"
            case Not(child):
                inner = self.expr(child)
                if inner in (_TRUE, _FALSE):
                    return _FALSE if inner == _TRUE else _TRUE
                return None if inner is None else f"not ({inner})"
            case Compare():
                return self.compare(node)
            case Has(name):
                spec = lookup(name)
                if spec is None or spec.name not in SCALARS:
                    return None
                if spec.name == "tagcount":
                    return "tagcount > 0"
                return self.present(spec.name) if SCALARS[spec.name][1] else _TRUE
        return None

    def compare(self, node: Compare) -> str | None:
        spec = lookup(node.field)
        if spec is None or spec.name not in SCALARS:
            return None
        name = spec.name
        kind, nullable = SCALARS[name]
        value: Any = node.value
        if spec.kind == "date":
            value = iso_to_epoch(str(value))
        elif spec.kind == "bool":
            value = 1 if value else 0
        elif kind == "str":
            if node.op not in ("=", "!="):
                return None  # the catalogue raises the error a user sees
            value = str(value)
            value = (FORMAT_ALIASES.get(value.lower(), value.lower()) if name == "format"
                     else value.lower().replace(".", ""))
        elif isinstance(value, bool):
            value = int(value)
        literal = (json.dumps(value, ensure_ascii=False) if isinstance(value, str)
                   else repr(value))
        clause = f"{name} {_OPS[node.op]} {literal}"
        if not nullable:
            return clause
        if node.op == "!=":
            return f"({self.absent(name)} or {clause})"
        return f"({self.present(name)} and {clause})"
