"""The booru-style syntax: tags, ``-tag``, ``~a ~b``, ``or``, groups and ``key:value`` filters.

Grammar (NOT binds tighter than AND, AND tighter than OR)::

    query   := or_expr?
    or_expr := and_expr ( "or" and_expr )*
    and_expr:= item ( "and"? item )*        -- the "~" items of one and_expr form one OR
    item    := "~"? unary
    unary   := "-"* primary
    primary := "(" or_expr ")" | word

Examples (``parse_booru(text).where``)::

    1girl -monochrome          And(Tag('1girl'), Not(Tag('monochrome')))
    ~cat ~dog solo             And(Or(Tag('cat'), Tag('dog')), Tag('solo'))
    a b or c                   Or(And(Tag('a'), Tag('b')), Tag('c'))
    filesize:>2MB              Compare('filesize', '>', 2097152)
    date:2020                  And(Compare('date', '>=', '2020-01-01'),
                                   Compare('date', '<', '2021-01-01'))
    character:hatsune_miku     Tag('character:hatsune_miku')   (the colon rule)
    pixiv:123                  And(Compare('source', '=', 'pixiv'), Compare('postid', '=', '123'))
    pixiv:deleted              Compare('pixiv_state', '=', 'deleted')
    model:long_hair:>0.9       TagScore('long_hair', '>', 0.9)
    clip:"girl in the rain"    Nearest('text', 'girl in the rain')
    1girl similar:0123abcd     And(Tag('1girl'), Nearest('image', '0123abcd'))

``order:`` words may stand anywhere among the terms; they go to ``Query.sort``
and take no part in the filter. ``clip:`` and ``similar:`` rank rather than
filter: at most one per query, at its top level (see
:class:`pximse.query.ast.Nearest`).
"""

from __future__ import annotations

import re

from pximse.query.ast import (
    Compare,
    CompareOp,
    Duplicates,
    Has,
    MatchAll,
    MisplacedNearest,
    Nearest,
    Node,
    Query,
    SortKey,
    Tag,
    TagKind,
    Text,
    Words,
    all_of,
    any_of,
    negate,
    split_nearest,
)
from pximse.query.errors import QueryError
from pximse.query.fields import HAS_EXTRA, PIXIV_STATES, Field, lookup
from pximse.query.lexer import (
    COMPARE_PREFIX,
    SITE_KEYS,
    Piece,
    Token,
    looks_like_filter,
    tokenize,
)
from pximse.query.values import (
    NUMBER,
    ORDERED_KINDS,
    compare,
    score_range,
    sort_keys,
    tag_score,
    value_range,
)

_SCORE_SUFFIX = re.compile(rf"(?:>=|<=|!=|==|=|>|<)\s*{NUMBER}|(?:{NUMBER})?\.\.(?:{NUMBER})?")
_TAG_KEYS: dict[str, TagKind] = {"tag": "any", "model": "model", "src": "source"}
_HAS_ALIASES = {"model": "model_tags", "src": "source_tags", "text": "ocr"}
_HEX_ID = re.compile(r"[0-9a-fA-F]{8,64}")


def parse_booru(query: str) -> Query:
    """Parse a booru-style query; :class:`QueryError` with the position when malformed."""
    parser = _Parser(query, tokenize(query))
    where = parser.parse()
    if parser.vectors:
        try:
            split_nearest(where)
        except MisplacedNearest as error:
            at = parser.vectors[1] if len(parser.vectors) > 1 else parser.vectors[0]
            raise QueryError(str(error), at, query) from None
    return Query(where, tuple(parser.sort))


def _op(text: str) -> CompareOp:
    return "=" if text in ("", "==") else text  # type: ignore[return-value]


class _Parser:
    def __init__(self, query: str, tokens: list[Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.i = 0
        self.sort: list[SortKey] = []
        self.vectors: list[int] = []  # where each clip:/similar: word starts

    def fail(self, message: str, position: int) -> QueryError:
        return QueryError(message, position, self.query)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.or_expr()
        stray = self.peek()
        if stray is not None:  # pragma: no cover - the lexer balances brackets
            raise self.fail("unmatched ')'", stray.start)
        return MatchAll() if node is None else node

    def or_expr(self) -> Node | None:
        parts: list[Node] = []
        first = self.and_expr()
        if first is not None:
            parts.append(first)
        while (token := self.peek()) is not None and token.kind == "or":
            if not parts:
                raise self.fail("'or' needs a term before it", token.start)
            self.i += 1
            following = self.and_expr()
            if following is None:
                raise self.fail("'or' needs a term after it", token.start)
            parts.append(following)
        return any_of(parts) if parts else None

    def and_expr(self) -> Node | None:
        items: list[Node | None] = []
        alternatives: list[Node] = []
        slot: int | None = None  # where the "~" group stands among the items
        pending_and: Token | None = None
        while (token := self.peek()) is not None and token.kind not in ("or", ")"):
            if token.kind == "and":
                if not items or pending_and is not None:
                    raise self.fail("'and' needs a term before it", token.start)
                pending_and = token
                self.i += 1
                continue
            if token.kind == "word" and _is_order(token):
                self.i += 1
                self.sort.extend(self.order(token))
                continue
            pending_and = None
            if token.kind == "~":
                self.i += 1
                following = self.peek()
                if following is not None and following.kind == "~":
                    raise self.fail("'~' twice", following.start)
                alternatives.append(self.unary(token))
                if slot is None:
                    slot = len(items)
                    items.append(None)
            else:
                items.append(self.unary(None))
        if pending_and is not None:
            raise self.fail("'and' needs a term after it", pending_and.start)
        if slot is not None:
            items[slot] = any_of(alternatives)
        return all_of(item for item in items if item is not None) if items else None

    def unary(self, tilde: Token | None) -> Node:
        negations = 0
        first_minus: Token | None = None
        while (token := self.peek()) is not None and token.kind == "-":
            negations += 1
            first_minus = first_minus or token
            self.i += 1
        token = self.peek()
        prefix = first_minus or tilde
        if token is None or token.kind in ("or", "and", ")"):
            assert prefix is not None  # and_expr only calls here on a term or a prefix
            sign = "-" if prefix is first_minus else "~"
            raise self.fail(f"'{sign}' must be followed by a tag, filter or group",
                            prefix.start)
        if token.kind == "~":
            raise self.fail("put '~' before '-', as in ~-tag", token.start)
        node = self.primary(prefix)
        if isinstance(node, Nearest) and prefix is not None:
            what = "negated" if prefix is first_minus else "put in a '~' group"
            raise self.fail(f"clip:/similar: ranks the results; it cannot be {what}",
                            prefix.start)
        return negate(node) if negations % 2 else node

    def primary(self, prefix: Token | None) -> Node:
        token = self.tokens[self.i]
        self.i += 1
        if token.kind == "(":
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != ")":  # pragma: no cover - lexer balances
                raise self.fail("unclosed '('", token.start)
            self.i += 1
            if inner is None:
                raise self.fail("empty group '()'", token.start)
            return inner
        if _is_order(token):
            assert prefix is not None
            raise self.fail("order: sorts the results; it cannot be negated or put in "
                            "an OR group", prefix.start)
        node = word_node(token, self.query)
        if isinstance(node, Nearest):
            self.vectors.append(token.start)
        return node

    def order(self, token: Token) -> tuple[SortKey, ...]:
        first = token.pieces[0]
        if len(token.pieces) > 1:
            raise self.fail("order: takes field names, not quoted text", token.pieces[1].start)
        colon = first.text.index(":")
        value = first.text[colon + 1:]
        if not value:
            raise self.fail("missing sort field after 'order:'", first.start + colon + 1)
        return sort_keys(value, first.start + colon + 1, self.query)


def _is_order(token: Token) -> bool:
    first = token.pieces[0]
    return not first.quoted and first.text.lower().startswith(("order:", "sort:"))


# -- words ---------------------------------------------------------------------


def word_node(token: Token, query: str) -> Node:
    """The node one word stands for: a tag, a filter, or a special key."""
    pieces = token.pieces
    first = pieces[0]
    if first.quoted:
        if len(pieces) > 1:
            raise QueryError("a quoted tag must end at the closing quote "
                             "(put a space after it)", pieces[1].start, query)
        return _tag("any", first.text, first.start, query)
    key, colon, value = first.text.partition(":")
    if not colon or not key:
        if len(pieces) > 1:
            raise QueryError("a quote must start the word or follow 'key:'",
                             pieces[1].start, query)
        return Tag(first.text)
    after = first.start + len(key) + 1
    rest = ([Piece(value, False, after)] if value else []) + list(pieces[1:])
    lowered = key.lower()
    if lowered in _TAG_KEYS:
        return _tag_filter(lowered, rest, after, query)
    if lowered == "has":
        return _has(_single(rest, "has", after, query), query)
    if lowered == "ocr":
        text, position = _single(rest, "ocr", after, query)
        if not text.strip():
            raise QueryError("missing text after 'ocr:'", position, query)
        return Text("ocr", text)
    if lowered in ("m", "mt"):
        text, position = _single(rest, lowered, after, query)
        if not text.strip():
            raise QueryError(f"missing words after '{lowered}:' (write {lowered}:\"rainy day\")",
                             position, query)
        return Words("ocr" if lowered == "m" else "meta", text)
    if lowered == "clip":
        text, position = _single(rest, "clip", after, query)
        if not text.strip():
            raise QueryError('missing text after \'clip:\' (write clip:"a girl in the rain")',
                             position, query)
        return Nearest("text", text)
    if lowered == "similar":
        image, position = _single(rest, "similar", after, query)
        if not _HEX_ID.fullmatch(image):
            raise QueryError("similar: takes an image id: its SHA-256, or 8 or more of its "
                             f"first hex digits, not '{image}'", position, query)
        return Nearest("image", image.lower())
    if lowered in ("dupes", "duplicates"):
        image, position = _single(rest, lowered, after, query)
        if not _HEX_ID.fullmatch(image):
            raise QueryError(f"{lowered}: takes an image id: its SHA-256, or 8 or more of its "
                             f"first hex digits, not '{image}'", position, query)
        return Duplicates(image.lower())
    if lowered in SITE_KEYS:
        post, position = _single(rest, lowered, after, query)
        if lowered == "pixiv" and post.lower() in PIXIV_STATES:
            return Compare("pixiv_state", "=", post.lower())
        if not post.isascii() or not post.isdigit():
            if lowered == "pixiv":
                raise QueryError(f"pixiv: takes an illust id (digits) or one of "
                                 f"{', '.join(PIXIV_STATES)}, not '{post}'", position, query)
            raise QueryError(f"{lowered}: takes a post id (digits), not '{post}'",
                             position, query)
        return all_of([Compare("source", "=", lowered), Compare("postid", "=", post)])
    field = lookup(key)
    if field is not None:
        return _field_filter(field, key, rest, after, query)
    if len(pieces) > 1 or looks_like_filter(key, value):
        raise QueryError(f"unknown field '{key}'", first.start, query)
    return Tag(first.text)


def _single(rest: list[Piece], key: str, after: int, query: str) -> tuple[str, int]:
    """The one value after ``key:``, quoted or not, and where it starts."""
    if not rest:
        raise QueryError(f"missing value after '{key}:'", after, query)
    if len(rest) > 1:
        raise QueryError("a quoted value must follow 'key:' directly and end the word",
                         rest[1].start, query)
    return rest[0].text, rest[0].start + (1 if rest[0].quoted else 0)


def _tag(kind: TagKind, name: str, position: int, query: str) -> Tag:
    if not name.strip():
        raise QueryError("empty tag", position, query)
    return Tag(name, kind)


def _tag_filter(key: str, rest: list[Piece], after: int, query: str) -> Node:
    kind = _TAG_KEYS[key]
    if not rest:
        raise QueryError(f"missing tag after '{key}:'", after, query)
    first = rest[0]
    condition: str | None = None
    where = 0
    if first.quoted:
        name = first.text
        if len(rest) > 1:
            suffix = rest[1]
            if kind != "model" or len(rest) > 2 or suffix.quoted \
                    or not suffix.text.startswith(":"):
                raise QueryError("unexpected text after the quoted tag", suffix.start, query)
            condition, where = suffix.text[1:], suffix.start + 1
    else:
        if len(rest) > 1:
            raise QueryError(f"a quoted tag must follow '{key}:' directly",
                             rest[1].start, query)
        name = first.text
        colon = name.rfind(":")
        suffix_text = name[colon + 1:]
        if kind == "model" and colon > 0 and suffix_text != ".." \
                and _SCORE_SUFFIX.fullmatch(suffix_text):
            name, condition, where = name[:colon], name[colon + 1:], first.start + colon + 1
    tag = _tag(kind, name, first.start, query)
    if condition is None:
        return tag
    if not condition:
        raise QueryError("missing score after ':'", where, query)
    operator = COMPARE_PREFIX.match(condition)
    if operator is not None:
        value = condition[operator.end():]
        return tag_score(tag.name, _op(operator[1]), value, where + operator.end(), query)
    if ".." in condition:
        low, _, high = condition.partition("..")
        return score_range(tag.name, low, where, high, where + len(low) + 2, query)
    raise QueryError("a tag score needs an operator or a range, as in model:NAME:>0.5 "
                     "or model:NAME:0.5..0.9", where, query)


def _has(value: tuple[str, int], query: str) -> Node:
    name, position = value
    lowered = name.lower()
    if lowered == "tags":
        return any_of([Has("model_tags"), Has("source_tags")])
    lowered = _HAS_ALIASES.get(lowered, lowered)
    if lowered in HAS_EXTRA:
        return Has(lowered)
    field = lookup(name)
    if field is None:
        raise QueryError(f"unknown field '{name}'", position, query)
    return Has(field.name)


def _field_filter(field: Field, key: str, rest: list[Piece], after: int, query: str) -> Node:
    if not rest:
        raise QueryError(f"missing value for '{key}'", after, query)
    first = rest[0]
    if first.quoted:
        if len(rest) > 1:
            raise QueryError("unexpected text after the closing quote", rest[1].start, query)
        return compare(field, "=", first.text, first.start + 1, query)
    operator = COMPARE_PREFIX.match(first.text)
    op_text = operator[1] if operator else ""
    value = first.text[len(op_text):]
    value_at = first.start + len(op_text)
    if len(rest) > 1:
        quoted = rest[1]
        if value or len(rest) > 2 or not quoted.quoted:
            raise QueryError("a quoted value must follow 'key:' or its operator directly "
                             "and end the word", rest[1].start, query)
        return compare(field, _op(op_text), quoted.text, quoted.start + 1, query, first.start)
    if not value:
        if op_text:
            raise QueryError(f"missing value after '{op_text}'", value_at, query)
        raise QueryError(f"missing value for '{key}'", value_at, query)
    if field.kind in ORDERED_KINDS and ".." in value:
        if op_text:
            raise QueryError("a range takes no operator: write key:a..b", first.start, query)
        low, _, high = value.partition("..")
        return value_range(field, low, value_at, high, value_at + len(low) + 2, query)
    return compare(field, _op(op_text), value, value_at, query, first.start)
