"""Print a query AST in the booru-style syntax.

``parse_query(format_query(q), syntax="booru") == q`` for every query the
parsers produce, that is every tree in their normal form:

* no AND directly inside an AND and no OR directly inside an OR;
* no AND or OR with fewer than two children;
* no NOT directly inside a NOT;
* ``MatchAll`` only as the whole filter (the empty query);
* date comparisons only with ``>=`` and ``<`` (partial dates are spans);
* values already normalised (sizes in bytes, ``source`` and ``format`` in
  lower case, ``id`` and ``similar:`` as lower-case hex);
* at most one ``Nearest``, as the whole filter or a child of the top AND.

:func:`pximse.query.ast.all_of`, ``any_of`` and ``negate`` build trees in
this form. A tree outside it still prints, but may read back as an equal
query in normal form rather than the same tree.
"""

from __future__ import annotations

from pximse.query.ast import (
    And,
    Compare,
    Duplicates,
    Has,
    MatchAll,
    Nearest,
    Node,
    Not,
    Or,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
    Value,
    Words,
)
from pximse.query.fields import lookup
from pximse.query.lexer import quote, tag_text, value_text

_TAG_PREFIX = {"model": "model:", "source": "src:"}


def format_query(query: Query) -> str:
    """The query in canonical booru syntax, ``order:`` keys last."""
    words = [] if isinstance(query.where, MatchAll) else [format_node(query.where)]
    words.extend(format_sort_key(key) for key in query.sort)
    return " ".join(words)


def format_sort_key(key: SortKey) -> str:
    if key.field == "random":
        return "order:random"
    return f"order:{key.field}" if key.descending else f"order:{key.field}_asc"


def format_node(node: Node) -> str:
    """A filter in booru syntax; OR binds loosest, so it needs no brackets at the top."""
    if isinstance(node, Or):
        return " or ".join(_and_level(child) for child in node.children)
    return _and_level(node)


def _and_level(node: Node) -> str:
    if isinstance(node, And):
        return " ".join(_unary(child) for child in node.children)
    return _unary(node)


def _unary(node: Node) -> str:
    if isinstance(node, And | Or):
        return "(" + format_node(node) + ")"
    if isinstance(node, Not):
        return "-" + _unary(node.child)
    return _atom(node)


def _atom(node: Node) -> str:
    if isinstance(node, Tag):
        if node.kind == "any":
            return tag_text(node.name)
        return _TAG_PREFIX[node.kind] + _tag_value(node.name)
    if isinstance(node, TagScore):
        return f"model:{_tag_value(node.name)}:{node.op}{node.value!r}"
    if isinstance(node, Compare):
        op = "" if node.op == "=" else node.op
        return f"{node.field}:{op}{_value(node.field, node.value)}"
    if isinstance(node, Has):
        return f"has:{node.field}"
    if isinstance(node, Text):
        return f"ocr:{value_text(node.text)}"
    if isinstance(node, Words):
        return f"{'m' if node.scope == 'ocr' else 'mt'}:{value_text(node.text)}"
    if isinstance(node, Nearest):
        if node.kind == "text":
            return f"clip:{value_text(node.value)}"
        return f"similar:{node.value}"
    if isinstance(node, Duplicates):
        return f"dupes:{node.value}"
    if isinstance(node, MatchAll):
        raise ValueError("MatchAll can only be the whole filter, not part of one")
    raise TypeError(f"not a query node: {node!r}")


def _tag_value(name: str) -> str:
    """A tag after ``model:`` or ``src:``; a ``:`` in it is quoted so scores stay apart."""
    text = value_text(name)
    return text if text == name else quote(name)


def _value(field_name: str, value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    spec = lookup(field_name)
    if spec is not None and spec.kind in ("str", "path"):
        return value_text(value)
    return value  # dates: ISO text needs no quotes
