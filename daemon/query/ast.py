"""The query AST: what both query syntaxes parse to and what every compiler reads.

Nodes are frozen dataclasses so that two parses of the same query compare equal
and can be used as cache keys. Values are already typed and normalised by the
parser (sizes in bytes, dates as ISO-8601 strings, booleans as ``bool``), so a
compiler never has to look at the query text again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")

TagKind = Literal["any", "model", "source"]
"""Which tags a tag node looks at.

``model``: tags a tagger model gave the image with a score at or above the
threshold (the original syntax's ``tags.xxx``). ``source``: tags that came with
the file or its post (Pixiv, yande.re, booru filenames, manual; the original's
``tags1:xxx``). ``any``: either (a bare tag in the booru syntax).
"""

Value: TypeAlias = int | float | str | bool


@dataclass(frozen=True)
class MatchAll:
    """The empty query: every image."""


@dataclass(frozen=True)
class Tag:
    """The image has this tag."""

    name: str
    kind: TagKind = "any"


@dataclass(frozen=True)
class TagScore:
    """A tagger's score for a tag compared with a number (``tags.long_hair;<=0.9``).

    Only images that carry the tag from a model take part; an image without the
    tag has no score and does not match.
    """

    name: str
    op: CompareOp
    value: float


@dataclass(frozen=True)
class Compare:
    """A field compared with a value.

    ``field`` is the canonical name from :mod:`pximse.query.fields`. Text fields
    take ``=``/``!=``; for ``path`` and ``folder`` a value with ``*`` or ``?`` is
    a glob, otherwise ``path`` matches a substring and ``folder`` a folder prefix;
    ``title`` matches a substring, ignoring case (Unicode case folding). Date
    values are ISO-8601 strings (``2020-01-01`` or ``2020-01-01T10:30:00``),
    read as UTC.
    """

    field: str
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Has:
    """The field has a value (for tags: the image has any tag of that kind).

    ``field`` is a canonical field name or one of
    :data:`pximse.query.fields.HAS_EXTRA`: ``model_tags``, ``source_tags``, ``ocr``.
    """

    field: str


@dataclass(frozen=True)
class Text:
    """A part of a text field: the OCR text contains ``text`` (``ocr:xxx``), after
    folding both (NFKC, case folding)."""

    field: str
    text: str


WordScope = Literal["ocr", "meta"]
"""What a word search looks at: ``ocr`` the OCR text (``m;``), ``meta`` the
title and the source tags (``mt;``)."""


@dataclass(frozen=True)
class Words:
    """A word search, as the original PxIMSE's ``m;`` / ``mt;`` (Meilisearch's):
    every word must match a word of the text, the last one as a prefix too,
    with typos allowed in long words; see :mod:`pximse.store.words`. Unlike
    ``ocr:`` (an exact substring) it also ranks: a query with one and no sort
    is ordered by it. The text store fills ``ids`` (every matching content id,
    best first) before the engines see the node; ``ids`` takes no part in
    comparing or printing queries.
    """

    scope: WordScope
    text: str
    ids: tuple[int, ...] | None = field(default=None, compare=False, repr=False)


VectorKind = Literal["text", "image"]


@dataclass(frozen=True)
class Nearest:
    """Rank by CLIP similarity: the booru syntax's ``clip:"..."`` and ``similar:ID``.

    ``kind="text"``: ``value`` is the text, embedded by the CLIP text tower.
    ``kind="image"``: ``value`` is an image of the catalogue, as its lower-case
    SHA-256 or a prefix of at least 8 hex digits; its stored vector is the query.
    (An uploaded image has no node: the API hands its embedding to the planner
    beside the query, since bytes have no place in a printable tree.)

    Not a filter: it keeps every image the rest of the query lets through and
    orders them by similarity. So a query holds at most one, and only as the
    whole filter or a child of the top-level AND (the parser and the planner
    refuse it inside OR or NOT, where it would mean nothing).
    """

    kind: VectorKind
    value: str


@dataclass(frozen=True)
class Duplicates:
    """Near-duplicates of one image, the image itself included: ``dupes:ID``.

    A filter like any other (it can be negated, ORed, combined). What counts
    as near-identical is decided when the query runs, not when it is parsed:
    perceptual hashes within a Hamming distance, and, where the planner has
    the CLIP vectors, images whose embedding is nearly the same. The search
    fills ``ids`` (the content ids found) before the engines see the node;
    ``ids`` takes no part in comparing or printing queries.
    """

    value: str
    ids: tuple[int, ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node: TypeAlias = (MatchAll | Tag | TagScore | Compare | Has | Text | Words | Nearest | Duplicates
                   | Not | And | Or)


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = True


@dataclass(frozen=True)
class Query:
    """A parsed query: the filter and the sort order (empty: the default order)."""

    where: Node = MatchAll()
    sort: tuple[SortKey, ...] = ()


def all_of(nodes: Iterable[Node]) -> Node:
    """The AND of ``nodes`` in the parsers' normal form.

    Nested ANDs are flattened and a single child stands alone, so that a query
    and its printed form parse to equal trees. An empty AND is ``MatchAll``.
    """
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, And):
            flat.extend(node.children)
        elif not isinstance(node, MatchAll):
            flat.append(node)
    if not flat:
        return MatchAll()
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def any_of(nodes: Iterable[Node]) -> Node:
    """The OR of ``nodes`` in normal form: nested ORs flattened, one child alone."""
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, Or) else (node,))
    if not flat:
        raise ValueError("an OR needs at least one child")
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def negate(node: Node) -> Node:
    """``Not(node)`` in normal form: a double negation cancels."""
    return node.child if isinstance(node, Not) else Not(node)


def walk(node: Node):  # type: ignore[no-untyped-def]
    """Yield ``node`` and every node below it, parents first."""
    yield node
    if isinstance(node, Not):
        yield from walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)


def map_leaves(node: Node, change: Callable[[Node], Node]) -> Node:
    """``node`` with every node below NOT, AND and OR replaced by ``change(node)``
    (how ``dupes:`` and word searches get their ids filled in)."""
    match node:
        case Not(child):
            return Not(map_leaves(child, change))
        case And(children):
            return And(tuple(map_leaves(child, change) for child in children))
        case Or(children):
            return Or(tuple(map_leaves(child, change) for child in children))
    return change(node)


class MisplacedNearest(ValueError):
    """A ``Nearest`` outside the top-level AND, or more than one in a query."""


def split_nearest(node: Node) -> tuple[Node, Nearest | None]:
    """The filter without its vector node, and that node (``None`` when there is none).

    >>> split_nearest(And((Tag('1girl'), Nearest('text', 'rain'))))
    (Tag(name='1girl', kind='any'), Nearest(kind='text', value='rain'))

    Raises :class:`MisplacedNearest` when a ``Nearest`` stands anywhere but as
    the whole filter or a child of the top-level AND, or when there are two.
    """
    if isinstance(node, Nearest):
        return MatchAll(), node
    top = node.children if isinstance(node, And) else (node,)
    found = [child for child in top if isinstance(child, Nearest)]
    if len(found) > 1:
        raise MisplacedNearest("a query can hold only one clip:/similar: search")
    rest = [child for child in top if not isinstance(child, Nearest)]
    for child in rest:
        if any(isinstance(below, Nearest) for below in walk(child)):
            raise MisplacedNearest(
                "clip:/similar: ranks the whole result, so it must stand at the top level "
                "of the query, ANDed with the rest (not inside an OR, a NOT or a '~' group)")
    return (all_of(rest) if found else node), (found[0] if found else None)
