"""Words and brackets of the booru-style syntax, and the rules the printer shares.

The lexer turns ``1girl -(a or b) user:"some one" order:-date`` into tokens:
words (made of unquoted and quoted pieces), ``(``, ``)``, the prefixes ``-``
and ``~``, and the keywords ``or`` / ``and``. Danbooru tags carry brackets
(``hatsune_miku_(cosplay)``, ``:)``), so brackets are read as grouping only
where they cannot belong to a tag:

* ``(`` opens a group only at the start of a word;
* ``)`` closes a group at the start of a word, or at the end of a word when
  it is not matched by a ``(`` inside that word and a group is open.

So ``(a_(b) c)`` is the group of ``a_(b)`` and ``c``, while ``:)`` outside a
group is a tag. Inside a group, quote a tag that ends in an unmatched ``)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pximse.query.errors import QueryError
from pximse.query.fields import lookup

MAX_DEPTH = 50
"""How deeply groups may nest; deeper is an error rather than a stack overflow."""

SITE_KEYS = ("pixiv", "twitter", "danbooru", "yandere", "gelbooru")
"""``pixiv:123`` is ``source:pixiv postid:123``."""

SPECIAL_KEYS = frozenset({"order", "sort", "has", "ocr", "m", "mt", "tag", "model", "src", "clip",
                          "similar", *SITE_KEYS})
"""Keys of the booru syntax that are not fields."""

COMPARE_PREFIX = re.compile(r"(>=|<=|!=|==|=|>|<)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RANGE_END = re.compile(r"[+-]?\.?\d")

TokenKind = Literal["word", "(", ")", "-", "~", "or", "and"]


@dataclass(frozen=True)
class Piece:
    """A run of a word: unquoted text, or the unescaped content of a quoted string.

    ``start`` is where the piece begins in the query (the opening quote for a
    quoted piece).
    """

    text: str
    quoted: bool
    start: int


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    start: int
    pieces: tuple[Piece, ...] = ()


def trailing_excess(text: str) -> int:
    """How many of the ``)`` that end ``text`` are not matched by a ``(`` in it."""
    trailing = len(text) - len(text.rstrip(")"))
    depth = 0
    for char in text[: len(text) - trailing]:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return trailing - min(trailing, depth)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    opened: list[int] = []  # positions of the groups still open
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == "(":
            opened.append(i)
            if len(opened) > MAX_DEPTH:
                raise QueryError(f"groups nest deeper than {MAX_DEPTH}", i, query)
            tokens.append(Token("(", i))
            i += 1
        elif char == ")":
            if not opened:
                raise QueryError("unmatched ')'", i, query)
            opened.pop()
            tokens.append(Token(")", i))
            i += 1
        elif char in "-~":
            if i + 1 == n or query[i + 1].isspace():
                what = "'-' (not)" if char == "-" else "'~' (or)"
                raise QueryError(f"{what} must be followed by a tag, filter or group "
                                 "with no space between", i, query)
            tokens.append(Token(char, i))  # type: ignore[arg-type]
            i += 1
        else:
            i = _word(query, i, tokens, opened)
    if opened:
        raise QueryError("unclosed '('", opened[-1], query)
    return tokens


def _word(query: str, start: int, tokens: list[Token], opened: list[int]) -> int:
    """Read the word at ``start`` into ``tokens``; return where it ends."""
    pieces: list[Piece] = []
    i, n = start, len(query)
    while i < n and not query[i].isspace():
        if query[i] == '"':
            opening = i
            text, i = read_quoted(query, i)
            pieces.append(Piece(text, True, opening))
            if i < n and query[i] == ")":
                break
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] != '"':
                j += 1
            pieces.append(Piece(query[i:j], False, i))
            i = j
    closing = 0
    last = pieces[-1]
    if not last.quoted:
        closing = min(trailing_excess(last.text), len(opened))
        if closing:
            pieces[-1] = Piece(last.text[:-closing], False, last.start)
    word_end = i - closing
    if len(pieces) == 1 and not pieces[0].quoted and pieces[0].text.lower() in ("or", "and"):
        tokens.append(Token(pieces[0].text.lower(), start))  # type: ignore[arg-type]
    else:
        tokens.append(Token("word", start, tuple(pieces)))
    for k in range(closing):
        opened.pop()
        tokens.append(Token(")", word_end + k))
    return i


def read_quoted(query: str, start: int) -> tuple[str, int]:
    """The content of the quoted string at ``start`` and the index after it.

    A backslash takes the next character literally (``\\"``, ``\\\\``).
    """
    out: list[str] = []
    i, n = start + 1, len(query)
    while i < n:
        char = query[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < n:
            out.append(query[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    raise QueryError("unclosed quote", start, query)


# -- the colon rule ----------------------------------------------------------


def is_filter_key(key: str) -> bool:
    return key.lower() in SPECIAL_KEYS or lookup(key) is not None


def looks_like_range(text: str) -> bool:
    """``1..5``, ``2020..``, ``..3MB``: a ``..`` with a number or date at an end."""
    low, sep, high = text.partition("..")
    if not sep or (not low and not high):
        return False
    return all(not end or _RANGE_END.match(end) for end in (low, high))


def looks_like_filter(key: str, value: str) -> bool:
    """An unknown ``key:value`` that is meant as a filter, not a tag (``foo:>5``)."""
    if not _IDENTIFIER.fullmatch(key):
        return False
    return bool(COMPARE_PREFIX.match(value)) or looks_like_range(value)


def word_is_tag(text: str) -> bool:
    """Whether an unquoted word is read as a tag by the colon rule."""
    key, sep, value = text.partition(":")
    if not sep or not key:
        return True
    return not is_filter_key(key) and not looks_like_filter(key, value)


# -- quoting, for the printer -------------------------------------------------


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain_safe(text: str) -> bool:
    """Text that reads back as itself in an unquoted word, anywhere in a query.

    Brackets must pair up inside it: an unmatched ``(`` would take the ``)``
    that closes the group around the word, an unmatched ``)`` at the end
    would close that group early.
    """
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return (
        bool(text)
        and depth == 0
        and not any(char.isspace() for char in text)
        and '"' not in text
        and "," not in text  # commas separate the original syntax's items
        and trailing_excess(text) == 0
    )


def tag_text(name: str) -> str:
    """A tag as a word: bare when it reads back as that tag, else quoted.

    A tag that starts like an item of the original syntax (``tags.x``,
    ``m;x``, ``!width``) is quoted too, so that printed queries are never
    taken for that syntax by auto-detection.
    """
    from pximse.query.legacy import looks_legacy  # legacy imports this module

    if (
        _plain_safe(name)
        and name[0] not in "-~()"
        and name.lower() not in ("or", "and")
        and word_is_tag(name)
        and not looks_legacy(name)
    ):
        return name
    return quote(name)


def value_text(value: str) -> str:
    """A text value after ``key:``: bare when it reads back unchanged, else quoted."""
    if _plain_safe(value) and not COMPARE_PREFIX.match(value) and ":" not in value \
            and ".." not in value:
        return value
    return quote(value)
