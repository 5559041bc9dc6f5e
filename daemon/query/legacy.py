"""The original PxIMSE query syntax: comma-separated items, as its front end sends them.

Items (each may start with ``|`` to join the OR group, then ``!`` to negate)::

    tags.long_hair              Tag('long_hair', 'model')
    tags.long_hair;<=0.9        And(Tag('long_hair', 'model'), TagScore('long_hair', '<=', 0.9))
    tags1:初音ミク               Tag('初音ミク', 'source')
    |tags1:a, |tags1:b          Or(Tag('a', 'source'), Tag('b', 'source'))
    !tags.monochrome            Not(Tag('monochrome', 'model'))
    !user                       Not(Has('user'))
    !text                       Not(Has('ocr'))
    filesize;>1000000           Compare('filesize', '>', 1000000)
    textlen;<3                  And(Has('ocr'), Compare('textlen', '<', 3))
    type;="pixiv1"              And(Compare('source', '=', 'pixiv'),
                                    Not(Compare('filename', '=', '[0-9]*_[0-9]*_p[0-9]*')))
    date;>=2000-01-01&<2010-01-01   And(Compare('date', '>=', '2000-01-01'),
                                        Compare('date', '<', '2010-01-01'))
    userid;="12345"             Compare('userid', '=', '12345')
    user;=null                  Not(Has('user'))
    m;ありがとう                 Words('ocr', 'ありがとう')
    mt;miku                     Words('meta', 'miku')

The ``|`` items together form one OR, ANDed with the other items (the
original's meaning), standing where the first ``|`` item stands. Dates are
read as the span they name, as in the booru syntax (see
:mod:`pximse.query.values`): ``date;>2000-01-01`` means from 2000-01-02 on,
where the original compared with midnight.

Where the original's stored documents gave an item its meaning, the item
keeps it: a tag's score is compared only where the tag is present (the
original stored tags at or above 0.5 only), ``textlen`` measures only images
that have OCR text (the others had none), and ``type`` tells ``pixiv``
(``{user}_{illust}_p{page}`` names) from ``pixiv1`` (other Pixiv names) and
counts the sites the original did not know as ``other``.
"""

from __future__ import annotations

import re

from pximse.query.ast import (
    Compare,
    CompareOp,
    Has,
    MatchAll,
    Node,
    Not,
    SortKey,
    Tag,
    Words,
    all_of,
    any_of,
    negate,
)
from pximse.query.errors import QueryError
from pximse.query.fields import Field, field, lookup
from pximse.query.lexer import COMPARE_PREFIX
from pximse.query.values import compare, sort_keys, tag_score

LEGACY_KEYS = {"type": "source", "illustid": "postid", "createdate": "posted",
               "likecount": "likes", "viewcount": "views", "bookmarkcount": "bookmarks",
               "commentcount": "comments"}
"""The original's MongoDB keys whose meaning differs from, or is missing in, the fields table.

The original stored the site in ``type`` (pixiv, twitter, yandere, other),
the post id in ``illustid``, Pixiv's post date in ``createDate`` and its
counts in ``likeCount``, ``viewCount``, ``bookmarkCount`` and ``commentCount``.
"""

PIXIV_USER_NAMES = "[0-9]*_[0-9]*_p[0-9]*"
"""The file names the original called ``pixiv`` (``{user}_{illust}_p{page}``, as a
``filename`` glob); other Pixiv names were its ``pixiv1``."""

ORIGINAL_TYPES = ("pixiv", "pixiv1", "twitter", "yandere", "other")
"""The values the original's ``type`` took."""

_OTHER_SOURCES = ("other", "danbooru", "gelbooru")
"""The sources the original's ``type`` called ``other``."""

_PRESENCE_KEYS = {"tags": "model_tags", "tags1": "source_tags", "text": "ocr"}
"""The original's keys that hold tags or text rather than a field: only their
presence can be tested (``tags1``, ``!text``, ``text;=null``)."""

_LEGACY_START = re.compile(r"(tags\.|tags1:|mt?;)", re.IGNORECASE)
_KEY_SEMICOLON = re.compile(r"([A-Za-z_][A-Za-z0-9_]*);")


def legacy_field(name: str) -> Field | None:
    canonical = LEGACY_KEYS.get(name.lower())
    return field(canonical) if canonical else lookup(name)


def parse_legacy_sort(text: str) -> tuple[SortKey, ...]:
    """The original's sort list (``filesize;1,createDate``): its keys
    (``illustid``, ``createDate``, ``viewCount``…, ``type`` the site) and
    PxIMSE's field names, in any of the sort forms :func:`sort_keys` reads."""
    return sort_keys(text, 0, text, legacy_field)


def looks_legacy(text: str) -> bool:
    """Whether a query is in the original syntax (the ``syntax="auto"`` rule).

    It is when any comma-separated item (commas inside double quotes do not
    count) starts with ``tags.``, ``tags1:``, ``m;`` or ``mt;``, or with a known field
    name and ``;`` — after an optional ``|`` and ``!`` — or is ``!`` and a
    field name, or ``!tags``, ``!tags1``, ``|tags``, ``|tags1``. Nothing may
    stand between these parts (``! width`` is two booru tags); the explicit
    ``syntax="legacy"`` is more lenient and allows spaces.
    """
    try:
        spans = _split_items(text, escapes=True)  # as the booru syntax reads quotes
    except QueryError:  # an unclosed quote: judge the plain comma-separated parts
        items = text.split(",")
    else:
        items = [text[start:end] for start, end in spans]
    for raw in items:
        item = raw.strip()
        or_item = item.startswith("|")
        item = item[1:] if or_item else item
        negated = item.startswith("!")
        item = item[1:] if negated else item
        if _LEGACY_START.match(item):
            return True
        key = _KEY_SEMICOLON.match(item)
        if key is not None and (legacy_field(key[1]) is not None
                                or key[1].lower() in _PRESENCE_KEYS):
            return True
        if (negated or or_item) and (
            item.lower() in ("tags", "tags1")
            or (negated and (legacy_field(item) is not None or item.lower() == "text"))
        ):
            return True
    return False


def parse_legacy(query: str) -> Node:
    """Parse a query in the original syntax; :class:`QueryError` when malformed."""
    if not query.strip():
        return MatchAll()
    items: list[Node | None] = []
    alternatives: list[Node] = []
    slot: int | None = None
    spans = _split_items(query)
    for index, (start, end) in enumerate(spans):
        if not query[start:end].strip():
            comma = end if index + 1 < len(spans) else start - 1
            raise QueryError("empty item: two commas in a row, or a comma at an end",
                             comma, query)
        node, in_or_group = _item(query, start, end)
        if in_or_group:
            alternatives.append(node)
            if slot is None:
                slot = len(items)
                items.append(None)
        else:
            items.append(node)
    if slot is not None:
        items[slot] = any_of(alternatives)
    return all_of(item for item in items if item is not None)


def _split_items(query: str, escapes: bool = False) -> list[tuple[int, int]]:
    """The spans between commas, leaving commas inside double quotes alone.

    The original syntax has no escapes (a backslash is a character, as in
    Windows paths); with ``escapes`` a backslash in quotes takes the next
    character, as in the booru syntax.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    opened: int | None = None
    escaped = False
    for i, char in enumerate(query):
        if escaped:
            escaped = False
        elif char == "\\" and escapes and opened is not None:
            escaped = True
        elif char == '"':
            opened = i if opened is None else None
        elif char == "," and opened is None:
            spans.append((start, i))
            start = i + 1
    if opened is not None:
        raise QueryError("unclosed quote", opened, query)
    spans.append((start, len(query)))
    return spans


def _item(query: str, start: int, end: int) -> tuple[Node, bool]:
    raw = query[start:end]
    position = start + len(raw) - len(raw.lstrip())
    text = raw.strip()
    in_or_group = text.startswith("|")
    if in_or_group:
        text, position = _skip(text, position)
    negated = text.startswith("!")
    if negated:
        text, position = _skip(text, position)
    if text.startswith("|"):
        message = "put '|' before '!'" if negated else "'|' twice"
        raise QueryError(message, position, query)
    if text.startswith("!"):
        raise QueryError("'!' twice", position, query)
    if not text:
        sign = "!" if negated else "|"
        raise QueryError(f"missing item after '{sign}'", position, query)
    node = _positive(text, position, query)
    return (negate(node) if negated else node), in_or_group


def _skip(text: str, position: int) -> tuple[str, int]:
    """``text`` without its first character and the spaces after it."""
    rest = text[1:]
    stripped = rest.lstrip()
    return stripped, position + 1 + len(rest) - len(stripped)


def _positive(text: str, position: int, query: str) -> Node:
    lowered = text.lower()
    for prefix, scope in (("mt;", "meta"), ("m;", "ocr")):
        if lowered.startswith(prefix):
            body, at = _unquote(text[len(prefix):], position + len(prefix), query)
            if not body.strip():
                raise QueryError(f"missing words after '{prefix}'", position + len(prefix),
                                 query)
            return Words(scope, body)  # type: ignore[arg-type]
    if lowered.startswith("tags."):
        return _model_tag(text[5:], position + 5, query)
    if lowered.startswith("tags1:"):
        return _source_tag(text[6:], position + 6, query)
    if lowered in _PRESENCE_KEYS:
        return Has(_PRESENCE_KEYS[lowered])
    semicolon = text.find(";")
    if semicolon >= 0:
        key = text[:semicolon].rstrip()
        if not key:
            raise QueryError("missing field name before ';'", position, query)
        body, at = text[semicolon + 1:], position + semicolon + 1
        if key.lower() in _PRESENCE_KEYS:
            return _presence_conditions(key, body, at, query)
        found = legacy_field(key)
        if found is None:
            raise QueryError(f"unknown field '{key}'", position, query)
        if key.lower() == "type":
            return _type_conditions(body, at, query)
        return _conditions(found, body, at, query)
    found = legacy_field(text)
    if found is None:
        raise QueryError(
            f"unknown item '{text}': write tags.NAME, tags1:NAME, m;WORDS, mt;WORDS, FIELD;>VALUE "
            "or a field name", position, query)
    return Has(found.name)


def _unquote(text: str, position: int, query: str) -> tuple[str, int]:
    """``text`` without surrounding spaces and one pair of surrounding quotes."""
    stripped = text.strip()
    at = position + len(text) - len(text.lstrip())
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return stripped[1:-1], at + 1
    if stripped[:1] == '"':
        raise QueryError("a quoted name or text must end the item", at, query)
    return stripped, at


def _score_split(body: str, position: int, query: str) -> int | None:
    """Where ``;`` starts a condition in ``NAME;COND``: ``None`` when there is none.

    A ``;`` at the start of the name (the tags ``;d``, ``;3``) or followed by
    neither an operator nor a number belongs to the name.
    """
    start = 1
    while (semicolon := body.find(";", start)) >= 0:
        following = body[semicolon + 1:].lstrip()
        if following[:1] and following[0] in "<>=!":
            return semicolon
        if not following or following[0].isdigit() or following[0] == ".":
            raise QueryError("expected an operator (>, >=, <, <=, =, !=) after ';'",
                             position + semicolon + 1, query)
        start = semicolon + 1
    return None


def _model_tag(body: str, position: int, query: str) -> Node:
    split = _score_split(body, position, query)
    name, at = _unquote(body if split is None else body[:split], position, query)
    if not name.strip():
        raise QueryError("missing tag name after 'tags.'", position, query)
    if split is None:
        return Tag(name, "model")
    # The original stored only the tags a model gave at or above the threshold:
    # a score is compared where the tag is present.
    nodes: list[Node] = [Tag(name, "model")]
    for op, value, quoted, value_at, _ in _split_conditions(
        body[split + 1:], position + split + 1, query
    ):
        if value.lower() == "null" and not quoted:
            raise QueryError("a tag score cannot be null", value_at, query)
        nodes.append(tag_score(name, op, value, value_at, query))
    return all_of(nodes)


def _source_tag(body: str, position: int, query: str) -> Node:
    split = _score_split(body, position, query)
    if split is not None:
        raise QueryError("source tags have no score; compare tags.NAME (a model tag)",
                         position + split, query)
    name, at = _unquote(body, position, query)
    if not name.strip():
        raise QueryError("missing tag name after 'tags1:'", position, query)
    return Tag(name, "source")


def _conditions(found: Field, body: str, position: int, query: str) -> Node:
    nodes: list[Node] = []
    for op, value, quoted, value_at, op_at in _split_conditions(body, position, query):
        if value.lower() == "null" and not quoted:
            if op not in ("=", "!="):
                raise QueryError("null works only with = and !=", op_at, query)
            has = Has(found.name)
            nodes.append(negate(has) if op == "=" else has)
            continue
        nodes.append(compare(found, op, value, value_at, query, op_at))
    if found.name == "textlen" and any(not isinstance(node, (Has, Not)) for node in nodes):
        # The original measured the text of images that had some.
        nodes.insert(0, Has("ocr"))
    return all_of(nodes)


def _presence_conditions(key: str, body: str, position: int, query: str) -> Node:
    """``tags1;=null``, ``text;!=null``: the only comparisons these keys take."""
    has = Has(_PRESENCE_KEYS[key.lower()])
    nodes: list[Node] = []
    for op, value, quoted, _, op_at in _split_conditions(body, position, query):
        if value.lower() != "null" or quoted or op not in ("=", "!="):
            hint = {"text": "m;WORDS (a word search) or textlen;>N",
                    "tags": "tags.NAME;>SCORE", "tags1": "tags1:NAME"}[key.lower()]
            raise QueryError(f"'{key}' takes only =null and !=null here; write {hint}",
                             op_at, query)
        nodes.append(negate(has) if op == "=" else has)
    return all_of(nodes)


def _type_conditions(body: str, position: int, query: str) -> Node:
    """``type;="pixiv1"``: the site, with the original's own values (see the module)."""
    nodes: list[Node] = []
    for op, value, quoted, _, op_at in _split_conditions(body, position, query):
        if value.lower() == "null" and not quoted:
            if op not in ("=", "!="):
                raise QueryError("null works only with = and !=", op_at, query)
            nodes.append(negate(Has("source")) if op == "=" else Has("source"))
            continue
        if op not in ("=", "!="):
            raise QueryError("'type' is text: use = or !=", op_at, query)
        node = _original_type(value.strip().lower())
        nodes.append(node if op == "=" else negate(node))
    return all_of(nodes)


def _original_type(value: str) -> Node:
    if value in ("pixiv", "pixiv1"):
        names = Compare("filename", "=", PIXIV_USER_NAMES)
        return all_of([Compare("source", "=", "pixiv"),
                       names if value == "pixiv" else negate(names)])
    if value == "other":
        return any_of(Compare("source", "=", site) for site in _OTHER_SOURCES)
    return Compare("source", "=", value.replace(".", ""))


def _split_conditions(
    body: str, position: int, query: str
) -> list[tuple[CompareOp, str, bool, int, int]]:
    """``>a&<=b`` as (operator, value, quoted, value position, operator position)."""
    found: list[tuple[CompareOp, str, bool, int, int]] = []
    i, n = 0, len(body)
    ampersand = position - 1
    while True:
        while i < n and body[i].isspace():
            i += 1
        if i >= n:
            if not found:
                raise QueryError("missing condition after ';' (write ;>VALUE, ;=VALUE, …)",
                                 position - 1, query)
            raise QueryError("'&' must be followed by a condition", ampersand, query)
        operator = COMPARE_PREFIX.match(body, i)
        if operator is None:
            raise QueryError("expected an operator (>, >=, <, <=, =, !=)", position + i, query)
        op: CompareOp = "=" if operator[1] == "==" else operator[1]  # type: ignore[assignment]
        op_at = position + i
        i = operator.end()
        while i < n and body[i].isspace():
            i += 1
        if i < n and body[i] in "\"'":
            close = body.find(body[i], i + 1)
            if close < 0:
                raise QueryError("unclosed quote", position + i, query)
            value, quoted, value_at = body[i + 1:close], True, position + i + 1
            i = close + 1
            while i < n and body[i].isspace():
                i += 1
            if i < n and body[i] != "&":
                raise QueryError("unexpected text after the closing quote", position + i, query)
        else:
            stop = body.find("&", i)
            stop = n if stop < 0 else stop
            value, quoted, value_at = body[i:stop].rstrip(), False, position + i
            i = stop
            if not value:
                raise QueryError(f"missing value after '{operator[1]}'", value_at, query)
        found.append((op, value, quoted, value_at, op_at))
        if i >= n:
            return found
        ampersand = position + i
        i += 1
