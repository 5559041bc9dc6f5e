"""A slow, obvious evaluator of the query AST over rows read back from a catalogue.

The differential tests in ``test_query_engines.py`` hold the SQL compiler and
the in-memory index to this module. It reads the SQLite file with a plain
connection (no catalogue code) and implements the documented meaning of each
node in plain Python, one image at a time:

- ``Tag``: ``model`` is a tagger's tag (kind 0) scored at or above the threshold,
  ``source`` any tag of another kind, ``any`` either; tag names match by
  ``tag_key`` (NFKC, case-folded, spaces as underscores).
- ``TagScore``: some kind-0 row of the tag whose score satisfies the comparison.
- ``Compare``: a missing value matches only ``!=``; dates are ISO-8601 read as
  UTC and compared as epoch seconds; ``user`` ignores ASCII case; ``title`` is
  a substring under Unicode case folding (``str.casefold``); ``format``
  knows the aliases; ``source`` drops dots; ``id`` is a SHA-256 prefix;
  ``path`` is a case-insensitive substring of any file's path, or a glob when
  the value holds ``*`` or ``?`` (the ``Compare`` docstring's rule);
  ``folder`` is a folder prefix (absolute value) or a run of folder components
  (relative value), ignoring ASCII case, or the same kind of glob.
- ``Has``, ``Text`` (case-insensitive OCR substring), ``Not``/``And``/``Or``.
- Only content with ``state >= 0`` (present or offline) is found. Results are
  ordered by each sort key with missing values last, then by content row id
  descending; ``random`` is the compiler's documented stable shuffle.

A comparison with a missing value is false (``!=`` is true), so ``NOT`` of it
is true: the two-valued logic the query language documents.
"""

from __future__ import annotations

import operator
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pximse.query.ast import (
    And,
    Compare,
    Duplicates,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
    Words,
)
from pximse.query.fields import lookup
from pximse.store.tagnames import tag_key

COLUMNS: dict[str, str] = {
    "filesize": "filesize",
    "width": "width",
    "height": "height",
    "ratio": "ratio",
    "pixels": "pixels",
    "date": "date",
    "posted": "posted",
    "source": "source",
    "user": "user_name",
    "userid": "user_id",
    "postid": "post_id",
    "page": "page",
    "tagcount": "tagcount",
    "textlen": "textlen",
    "format": "format",
    "animated": "animated",
    "frames": "frames",
    "title": "title",
    "bookmarks": "bookmarks",
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "ai": "ai",
    "r18": "r18",
    "pixiv_state": "pixiv_state",
}
"""Query field -> content column."""

NULLABLE_FIELDS = frozenset(
    name for name, column in COLUMNS.items()
    if column in ("posted", "user_name", "user_id", "post_id", "page", "textlen", "title",
                  "bookmarks", "views", "likes", "comments", "ai", "r18", "pixiv_state")
)
ALWAYS_PRESENT = frozenset({
    "path", "folder", "filename", "id", "filesize", "width", "height", "ratio", "pixels", "date",
    "format", "frames", "animated",
})
FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff", "apng": "png"}
RANDOM_MULTIPLIER, RANDOM_MODULUS = 1103515245, 2147483647

_OPS: dict[str, Callable[[object, object], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ASCII_FOLD = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}

Truth = bool | None


def ascii_fold(text: str) -> str:
    return text.translate(_ASCII_FOLD)


def iso_epoch(text: str) -> int:
    """Whole seconds since 1970 for an ISO-8601 date or date-time, naive read as UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(seconds=1)


def glob_regex(pattern: str) -> re.Pattern[str] | None:
    """SQLite GLOB as a regex (``*``, ``?``, ``[set]``, ``[^set]``, ranges);
    None for a pattern that can match nothing (an unclosed ``[``)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i + 1
            invert = j < n and pattern[j] == "^"
            j += invert
            members: list[str] = []
            if j < n and pattern[j] == "]":
                members.append(re.escape("]"))
                j += 1
            while j < n and pattern[j] != "]":
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    members.append(f"{re.escape(pattern[j])}-{re.escape(pattern[j + 2])}")
                    j += 3
                else:
                    members.append(re.escape(pattern[j]))
                    j += 1
            if j >= n:
                return None
            out.append(("[^" if invert else "[") + "".join(members) + "]")
            i = j
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass
class Item:
    """One content row and everything a query can look at."""

    cid: int
    sha256: str
    state: int
    row: dict[str, object]
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, folder)
    names: list[str] = field(default_factory=list)  # the files' names
    tags: list[tuple[str, int, float]] = field(default_factory=list)  # (key, kind, score)
    ocr: str | None = None


class Reference:
    """The rows of one catalogue file and the reference semantics over them."""

    def __init__(self, items: Iterable[Item], tag_threshold: float = 0.5) -> None:
        self.items = {item.cid: item for item in items}
        self.tag_threshold = tag_threshold
        self.dupe_distance = 4

    @classmethod
    def load(cls, path: Path | str, tag_threshold: float = 0.5) -> Reference:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            items = {
                row["id"]: Item(row["id"], row["sha256"], row["state"], dict(row))
                for row in conn.execute("SELECT * FROM content")
            }
            for cid, path_text, folder, name in conn.execute(
                "SELECT content_id, path, folder, name FROM file WHERE content_id IS NOT NULL"
            ):
                items[cid].files.append((path_text, folder))
                items[cid].names.append(name)
            for cid, key, kind, score in conn.execute(
                "SELECT it.content_id, t.key, it.kind, it.score FROM image_tag it"
                " JOIN tag t ON t.id = it.tag_id"
            ):
                items[cid].tags.append((key, kind, score))
            for cid, text in conn.execute("SELECT content_id, text FROM ocr_text"):
                items[cid].ocr = text
        finally:
            conn.close()
        return cls(items.values(), tag_threshold)

    @property
    def searchable(self) -> list[Item]:
        return [item for item in self.items.values() if item.state >= 0]

    def by_sha(self, sha256: str) -> Item:
        return next(item for item in self.items.values() if item.sha256 == sha256)

    # -- matching ----------------------------------------------------------------

    def matches(self, node: Node, item: Item) -> bool:
        match node:
            case MatchAll():
                return True
            case And(children):
                return all(self.matches(child, item) for child in children)
            case Or(children):
                return any(self.matches(child, item) for child in children)
            case Not(child):
                return not self.matches(child, item)
            case Tag(name, kind):
                return any(self._tag_row_matches(kind, k, s)
                           for key, k, s in item.tags if key == tag_key(name))
            case TagScore(name, op, value):
                return any(k == 0 and _OPS[op](s, value)
                           for key, k, s in item.tags if key == tag_key(name))
            case Compare():
                return self._compare(node, item) is True
            case Has(name):
                return self._has(name, item)
            case Text(name, text):
                if name != "ocr":
                    raise ValueError(f"'{name}' is not a text field")
                # The documented rule: NFKC, then case folding, on both sides.
                return item.ocr is not None and _fold(text) in _fold(item.ocr)
            case Words(scope, text):
                # Meilisearch's documented rules, as the fake Meilisearch implements them.
                from helpers.meili_fake import _match, _query_terms, _split

                if scope == "ocr":
                    fields = [item.ocr or ""]
                else:
                    fields = [item.row.get("title") or ""] + [
                        key for key, kind, _ in item.tags if kind != 0]
                words = [w for value in fields for w, _ in _split(value)[0]]
                return _match(_query_terms(text), words, "all") is not None
            case Duplicates(value):
                # The documented rule: the image itself, and every image whose
                # perceptual hash is at most dupe_distance bits away from its hash.
                (target,) = [i for i in self.items.values() if i.sha256.startswith(value)]
                mine, theirs = item.row["phash"], target.row["phash"]
                return item is target or (
                    mine is not None and theirs is not None and target.state >= 0
                    and bin((mine ^ theirs) & (2**64 - 1)).count("1") <= self.dupe_distance)
        raise TypeError(f"unknown node {node!r}")

    def _tag_row_matches(self, kind: str, row_kind: int, score: float) -> bool:
        model = row_kind == 0 and score >= self.tag_threshold
        if kind == "model":
            return model
        if kind == "source":
            return row_kind != 0
        return model or row_kind != 0

    def _compare(self, node: Compare, item: Item) -> Truth:
        """True/False, or None when the value is missing and the operator is not ``!=``."""
        spec = lookup(node.field)
        assert spec is not None and spec.name == node.field, node.field
        name, op, value = spec.name, node.op, node.value
        if name == "filename":
            if "*" in str(value) or "?" in str(value):
                regex = glob_regex(str(value))
                hit = regex is not None and any(regex.fullmatch(n) for n in item.names)
            else:
                hit = str(value).casefold() in [n.casefold() for n in item.names]
            return hit if op == "=" else not hit
        if name in ("path", "folder"):
            hit = self._path_hit(name, str(value), item)
            return hit if op == "=" else not hit
        if name == "id":
            hit = item.sha256.startswith(str(value).lower())
            return hit if op == "=" else not hit
        actual = item.row[COLUMNS[name]]
        wanted: object = value
        if spec.kind == "date":
            wanted = iso_epoch(str(value))
        elif spec.kind == "bool":
            wanted = int(bool(value))
        elif spec.kind == "str":
            if op not in ("=", "!="):
                raise ValueError(f"'{name}' takes = and != only")
            wanted = str(value)
            if name == "format":
                wanted = FORMAT_ALIASES.get(wanted.lower(), wanted.lower())
            elif name == "source":
                wanted = wanted.lower().replace(".", "")
            elif name == "user":
                wanted = ascii_fold(wanted)
                actual = None if actual is None else ascii_fold(str(actual))
            elif name == "title":
                hit = actual is not None and wanted.casefold() in str(actual).casefold()
                return hit if op == "=" else not hit
        if actual is None:
            return True if op == "!=" else None
        return _OPS[op](actual, wanted)

    def _path_hit(self, name: str, value: str, item: Item) -> bool:
        texts = [path if name == "path" else folder for path, folder in item.files]
        if "*" in value or "?" in value:
            regex = glob_regex(value if value.startswith(("/", "*")) else "*" + value)
            return regex is not None and any(regex.fullmatch(text) for text in texts)
        if name == "path":
            needle = value.casefold()
            return any(needle in text.casefold() for text in texts)
        if value.startswith("/"):
            base = ascii_fold(value.rstrip("/") or "/")
            below = base.rstrip("/") + "/"
            return any(ascii_fold(text) == base or ascii_fold(text).startswith(below)
                       for text in texts)
        run = "/" + ascii_fold(value.strip("/")) + "/"
        return any(run in "/" + ascii_fold(text) + "/" for text in texts)

    def _has(self, name: str, item: Item) -> bool:
        if name in ("tags", "model_tags"):
            return any(kind == 0 and score >= self.tag_threshold for _, kind, score in item.tags)
        if name in ("tags1", "source_tags"):
            return any(kind != 0 for _, kind, _ in item.tags)
        if name in ("ocr", "text", "m"):
            return bool(item.ocr)
        spec = lookup(name)
        if spec is None:
            raise ValueError(f"unknown field '{name}'")
        if spec.name in ALWAYS_PRESENT:
            return True
        actual = item.row[COLUMNS[spec.name]]
        if spec.name == "tagcount":
            return bool(actual)
        return actual is not None and actual != ""

    # -- searching ---------------------------------------------------------------

    def ids(self, node: Node) -> set[str]:
        return {item.sha256 for item in self.searchable
                if self.matches(node, item)}

    def search(self, query: Query, *, limit: int, offset: int = 0, seed: int = 0
               ) -> tuple[int, list[str]]:
        """(total, the page's SHA-256s in order), as ``SqliteCatalog.search`` answers."""
        seed %= RANDOM_MODULUS  # the catalogue takes any int and reduces it so
        found = [item for item in self.searchable
                 if self.matches(query.where, item)]
        ordered = self.order(found, query.sort or (SortKey("date", True),), seed)
        return len(found), [item.sha256 for item in ordered[offset:offset + limit]]

    def order(self, items: list[Item], sort: tuple[SortKey, ...], seed: int) -> list[Item]:
        result = sorted(items, key=lambda item: item.cid, reverse=True)
        for key in reversed(sort):
            values = {item.cid: self.sort_value(key, item, seed) for item in result}
            present = [item for item in result if values[item.cid] is not None]
            missing = [item for item in result if values[item.cid] is None]
            # Python's sort is stable, in reverse too: ties keep the later keys' order.
            descending = key.descending and key.field != "random"
            present.sort(key=lambda item: values[item.cid], reverse=descending)  # type: ignore[arg-type, return-value]
            result = present + missing
        return result

    def sort_value(self, key: SortKey, item: Item, seed: int) -> object:
        if key.field == "random":
            # SQLite's % truncates toward zero, as C does.
            number = item.cid * RANDOM_MULTIPLIER + seed
            remainder = abs(number) % RANDOM_MODULUS
            return -remainder if number < 0 else remainder
        if key.field == "path":
            return min((path for path, _ in item.files), default=None)
        if key.field == "folder":
            return min((folder for _, folder in item.files), default=None)
        if key.field == "filename":
            return min(item.names, default=None)
        if key.field == "id":
            return item.sha256
        return item.row[COLUMNS[key.field]]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()
