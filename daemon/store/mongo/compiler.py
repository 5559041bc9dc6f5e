"""Compile the query AST to a MongoDB filter and sort, with SQLite's meaning.

The SQL compiler (:mod:`pximse.store.sqlite.compiler`) is the reference; this module gives
the same answers over the document shape of :mod:`pximse.store.mongo.documents`:
one ``content`` document per image that carries its tags (``tags``: key,
origin, kind, score), its files' paths and folders (raw and case-folded), the
case-folded OCR text and every filter column. So every node is a condition on
one document, and a query is one ``find`` (or one aggregation when the sort
needs computed keys).

Missing values follow the SQL compiler's two-valued rules: a comparison with
a missing value is false, ``!=`` is true (``$ne`` matches null), and ``NOT``
(``$nor``) of a false comparison is true. Sorts put missing values last in
either direction, then break ties by content id descending, as SQLite does.
"""

from __future__ import annotations

from typing import Any

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
    SortKey,
    Tag,
    TagScore,
    Text,
    Words,
)
from pximse.query.errors import QueryError
from pximse.query.fields import lookup
from pximse.store.content_fields import (
    CONTENT_COLUMNS,
    FILE_FIELDS,
    FORMAT_ALIASES,
    KIND_MODEL,
    NULLABLE,
)
from pximse.store.mongo.ocrgrams import grams_filter
from pximse.store.records import iso_to_epoch
from pximse.store.sqlite.ocrindex import fold
from pximse.store.tagnames import tag_key

Filter = dict[str, Any]

FIELD_KEYS: dict[str, str] = dict(CONTENT_COLUMNS)
"""Query field -> document key: the SQLite columns' names, so that a field added
there (a plain column) is a document key here without another table."""

SORT_KEYS: dict[str, str] = {**FIELD_KEYS, "path": "path_min", "folder": "folder_min",
                             "filename": "name_min", "id": "sha256"}
RANDOM_MULTIPLIER, RANDOM_MODULUS = 1103515245, 2147483647

_NOTHING: Filter = {"_id": {"$in": []}}
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """SQLite's NOCASE folding: ASCII letters only."""
    return text.translate(_ASCII_LOWER)


def regex_escape(text: str) -> str:
    """``text`` as a literal in both PCRE (MongoDB) and Python's ``re`` (mongomock):
    every ASCII character that is not a letter, digit or underscore is escaped."""
    return "".join("\\" + char if char.isascii() and not (char.isalnum() or char == "_")
                   and char not in "\n\r\t" else char for char in text)


def glob_regex(pattern: str) -> str | None:
    """SQLite's GLOB (``*``, ``?``, ``[set]``, ``[^set]``, ranges; case-sensitive) as an
    anchored regular expression; None for a pattern that matches nothing (an unclosed ``[``)."""
    out: list[str] = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append(r"[\s\S]*")
        elif char == "?":
            out.append(r"[\s\S]")
        elif char == "[":
            j = i + 1
            invert = j < n and pattern[j] == "^"
            j += invert
            members: list[str] = []
            if j < n and pattern[j] == "]":
                members.append(r"\]")
                j += 1
            while j < n and pattern[j] != "]":
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    members.append(f"{_class_char(pattern[j])}-{_class_char(pattern[j + 2])}")
                    j += 3
                else:
                    members.append(_class_char(pattern[j]))
                    j += 1
            if j >= n:
                return None
            out.append(("[^" if invert else "[") + "".join(members) + "]")
            i = j
        else:
            out.append(regex_escape(char))
        i += 1
    out.append("$")
    return "".join(out)


def _class_char(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


class MongoCompiler:
    """Turns one AST into a MongoDB filter on ``content`` documents."""

    def __init__(self, tag_threshold: float = 0.5) -> None:
        self.tag_threshold = tag_threshold

    def filter(self, node: Node) -> Filter:
        match node:
            case MatchAll():
                return {}
            case And(children):
                parts = [self.filter(child) for child in children]
                parts = [part for part in parts if part]
                return {"$and": parts} if len(parts) > 1 else (parts[0] if parts else {})
            case Or(children):
                parts = [self.filter(child) for child in children]
                if any(not part for part in parts):
                    return {}
                return {"$or": parts} if parts else dict(_NOTHING)
            case Not(child):
                inner = self.filter(child)
                return {"$nor": [inner]} if inner else dict(_NOTHING)
            case Tag(name, kind):
                return {"tags": {"$elemMatch": {"key": tag_key(name), **self._tag_kind(kind)}}}
            case TagScore(name, op, value):
                return {"tags": {"$elemMatch": {"key": tag_key(name), "kind": KIND_MODEL,
                                                "score": _condition(op, float(value))}}}
            case Compare():
                return self._compare(node)
            case Has(field_name):
                return self._has(field_name)
            case Text(field_name, text):
                if field_name != "ocr":
                    raise QueryError(f"'{field_name}' is not a text field")
                folded = fold(text)
                if not folded:
                    return {"ocr_folded": {"$ne": None}}
                return grams_filter(folded, regex_escape(folded))
            case Duplicates(value, ids):
                if ids is None:
                    raise QueryError(f"dupes:{value} was not resolved before compiling")
                return {"_id": {"$in": [int(i) for i in ids]}}
            case Words(_, text, ids):
                if ids is None:
                    raise QueryError(f"the word search {text!r} was not resolved before compiling")
                return {"_id": {"$in": [int(i) for i in ids]}}
            case Nearest():
                raise QueryError("clip:/similar: rank by CLIP similarity, which a catalogue "
                                 "filter cannot; the search planner takes them out first")
        raise QueryError(f"unsupported query node {type(node).__name__}")

    def _tag_kind(self, kind: str) -> Filter:
        model = {"kind": KIND_MODEL, "score": {"$gte": self.tag_threshold}}
        if kind == "model":
            return model
        if kind == "source":
            return {"kind": {"$ne": KIND_MODEL}}
        return {"$or": [{"kind": {"$ne": KIND_MODEL}}, {"score": {"$gte": self.tag_threshold}}]}

    def _compare(self, node: Compare) -> Filter:
        spec = lookup(node.field)
        if spec is None:
            raise QueryError(f"unknown field '{node.field}'")
        value: Any = node.value
        if spec.name in FILE_FIELDS:
            found = self._path(spec.name, str(value))
            return found if node.op == "=" else _negate(found)
        if spec.name == "id":
            found = {"sha256": {"$regex": "^" + regex_escape(str(value).lower())}}
            return found if node.op == "=" else _negate(found)
        if spec.name == "title":
            if node.op not in ("=", "!="):
                raise QueryError("'title' is text: use = or !=")
            found = {"title_cf": {"$regex": regex_escape(str(value).casefold())}}
            return found if node.op == "=" else _negate(found)
        key = FIELD_KEYS[spec.name]
        if spec.kind == "date":
            value = iso_to_epoch(str(value))
        elif spec.kind == "bool":
            value = 1 if value else 0
        elif spec.kind == "str":
            if node.op not in ("=", "!="):
                raise QueryError(f"'{spec.name}' is text: use = or !=")
            value = str(value)
            if spec.name == "format":
                value = FORMAT_ALIASES.get(value.lower(), value.lower())
            elif spec.name == "source":
                value = value.lower().replace(".", "")
            elif spec.name == "user":
                key, value = "user_ci", ascii_lower(value)
        elif isinstance(value, bool):
            value = int(value)
        return {key: _condition(node.op, value)}

    def _path(self, name: str, value: str) -> Filter:
        if "*" in value or "?" in value:
            # A glob ('[' alone is common in names, "[Circle] title.png", so it is not one).
            pattern = glob_regex(value if value.startswith(("/", "*")) or name == "filename"
                                 else "*" + value)
            if pattern is None:
                return dict(_NOTHING)
            return {name.replace("filename", "name") + "s": {"$regex": pattern}}
        if name == "filename":
            return {"names_cf": value.casefold()}
        if name == "path":
            return {"paths_cf": {"$regex": regex_escape(value.casefold())}}
        if value.startswith("/"):
            folder = (value.rstrip("/") or "/").casefold()
            below = regex_escape(folder.rstrip("/")) + "/"
            return {"folders_cf": {"$regex": f"^(?:{regex_escape(folder)}$|{below})"}}
        run = regex_escape(value.strip("/").casefold())
        return {"folders_cf": {"$regex": f"(?:^|/){run}(?:/|$)"}}

    def _has(self, name: str) -> Filter:
        if name in ("tags", "model_tags"):
            return {"tags": {"$elemMatch": {"kind": KIND_MODEL,
                                            "score": {"$gte": self.tag_threshold}}}}
        if name in ("tags1", "tag", "source_tags"):
            return {"tags": {"$elemMatch": {"kind": {"$ne": KIND_MODEL}}}}
        if name in ("ocr", "text", "m"):
            return {"textlen": {"$gt": 0}}
        spec = lookup(name)
        if spec is None:
            raise QueryError(f"unknown field '{name}'")
        if spec.name in (*FILE_FIELDS, "id", "filesize", "width", "height", "ratio",
                         "pixels", "date", "format", "frames", "animated"):
            return {}
        key = FIELD_KEYS[spec.name]
        if spec.kind == "str":
            return {key: {"$nin": [None, ""]}}
        if spec.name == "tagcount":
            return {"tagcount": {"$gt": 0}}
        return {key: {"$ne": None}}

    # -- order ---------------------------------------------------------------

    def sort(self, sort: tuple[SortKey, ...], seed: int = 0
             ) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        """Computed keys (``$addFields``, empty when plain keys do) and the sort spec.

        Nullable keys get a companion ``_has_<key>`` (true when present) sorted
        first, so missing values go last either way; ``random`` is the SQL
        compiler's stable shuffle of content ids."""
        computed: dict[str, Any] = {}
        spec: list[tuple[str, int]] = []
        seen: set[str] = set()
        for key in sort:
            if key.field in seen:
                continue  # a repeated key orders nothing more
            seen.add(key.field)
            if key.field == "random":
                computed["_random"] = {"$mod": [
                    {"$add": [{"$multiply": ["$_id", RANDOM_MULTIPLIER]}, int(seed)]},
                    RANDOM_MODULUS]}
                spec.append(("_random", 1))
                continue
            target = SORT_KEYS.get(key.field)
            if target is None:
                raise QueryError(f"cannot sort by '{key.field}'")
            if key.field in NULLABLE or key.field in FILE_FIELDS:
                computed[f"_has_{target}"] = {"$gt": [f"${target}", None]}
                spec.append((f"_has_{target}", -1))
            spec.append((target, -1 if key.descending else 1))
        if "_id" not in {name for name, _ in spec}:
            spec.append(("_id", -1))
        return computed, spec


def _condition(op: str, value: Any) -> Any:
    operator = {"=": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt",
                ">=": "$gte"}[op]
    return {operator: value}


def _negate(found: Filter) -> Filter:
    return {"$nor": [found]} if found else dict(_NOTHING)
