"""Compile the query AST to SQLite SQL over the catalogue's tables.

Every node becomes a boolean expression on the ``content`` row ``c``. Tag
nodes become correlated ``EXISTS`` probes on the ``(tag_id, content_id)``
primary key, which is cheap per row when SQLite walks an index in sort order
and stops after a page; the most selective positive tag of a top-level AND
becomes ``c.id IN (...)`` instead, so SQLite can drive the whole query from
that tag's postings when they are few.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
from pximse.store.records import iso_to_epoch
from pximse.store.sqlite.ocrindex import GramCounts
from pximse.store.sqlite.ocrindex import match_sql as ocr_match_sql
from pximse.store.tagnames import tag_key

_COLUMNS: dict[str, str] = {name: f"c.{column}" for name, column in CONTENT_COLUMNS.items()}

_SORT_EXPRESSIONS: dict[str, str] = {
    **_COLUMNS,
    "path": "(SELECT min(f.path) FROM file f WHERE f.content_id = c.id)",
    "folder": "(SELECT min(f.folder) FROM file f WHERE f.content_id = c.id)",
    "filename": "(SELECT min(f.name) FROM file f WHERE f.content_id = c.id)",
    "id": "c.sha256",
}


@dataclass
class SqlWhere:
    """A compiled filter: SQL text with ``?`` placeholders and its parameters."""

    sql: str
    params: list[object] = field(default_factory=list)


class SqlCompiler:
    """Turns one AST into SQL; ``tag_counts`` (tag key -> images) guides the plan."""

    ocr_gram_counts: GramCounts | None = None
    """OCR gram key -> postings (capped), to drive a long ``ocr:`` query by its
    rarest gram; the catalogue sets it."""

    def __init__(
        self,
        tag_threshold: float = 0.5,
        tag_counts: Callable[[list[str]], Mapping[str, int]] | None = None,
    ) -> None:
        self.tag_threshold = tag_threshold
        self.tag_counts = tag_counts

    def where(self, node: Node) -> SqlWhere:
        params: list[object] = []
        driver = self._pick_driver(node)
        sql = self._node(node, params, driver)
        return SqlWhere(sql, params)

    def order_by(self, sort: tuple[SortKey, ...], seed: int = 0) -> str:
        terms: list[str] = []
        for key in sort:
            if key.field == "random":
                # A stable shuffle, so that paging through it is consistent.
                terms.append(f"((c.id * 1103515245 + {int(seed)}) % 2147483647)")
                continue
            expression = _SORT_EXPRESSIONS.get(key.field)
            if expression is None:
                raise QueryError(f"cannot sort by '{key.field}'")
            direction = "DESC" if key.descending else "ASC"
            if key.field in NULLABLE or key.field in FILE_FIELDS:
                # Rows without a value (no post date, no OCR yet) go last either way.
                terms.append(f"{expression} IS NULL, {expression} {direction}")
            else:
                # Never NULL: a bare term lets SQLite walk the column's index.
                terms.append(f"{expression} {direction}")
        terms.append("c.id DESC")
        return ", ".join(terms)

    # -- nodes ---------------------------------------------------------------

    def _node(self, node: Node, params: list[object], driver: Tag | None = None) -> str:
        match node:
            case MatchAll():
                return "1"
            case And(children):
                parts = [self._node(child, params, driver) for child in children]
                return "(" + " AND ".join(parts) + ")" if parts else "1"
            case Or(children):
                parts = [self._node(child, params) for child in children]
                return "(" + " OR ".join(parts) + ")" if parts else "0"
            case Not(child):
                return f"NOT {self._node(child, params)}"
            case Tag():
                return self._tag(node, params, drive=node is driver)
            case TagScore(name, op, value):
                params.extend([tag_key(name), KIND_MODEL, value])
                return (
                    "EXISTS (SELECT 1 FROM image_tag t WHERE t.content_id = c.id"
                    " AND t.tag_id = (SELECT id FROM tag WHERE key = ?)"
                    f" AND t.kind = ? AND t.score {_sql_op(op)} ?)"
                )
            case Compare():
                return self._compare(node, params)
            case Has(field_name):
                return self._has(field_name, params)
            case Text(field_name, text):
                if field_name != "ocr":
                    raise QueryError(f"'{field_name}' is not a text field")
                # The n-gram index (NFKC + case-folded substring); see ocrindex.py.
                return ocr_match_sql(text, params, self.ocr_gram_counts)
            case Duplicates(value, ids):
                if ids is None:
                    raise QueryError(f"dupes:{value} was not resolved before compiling")
                params.append(json.dumps(list(ids)))
                return "c.id IN (SELECT value FROM json_each(?))"
            case Words(_, text, ids):
                if ids is None:
                    raise QueryError(f"the word search {text!r} was not resolved before compiling")
                params.append(json.dumps(list(ids)))
                return "c.id IN (SELECT value FROM json_each(?))"
            case Nearest():
                raise QueryError("clip:/similar: rank by CLIP similarity, which SQL cannot; "
                                 "the search planner takes them out before compiling")
        raise QueryError(f"unsupported query node {type(node).__name__}")

    def _tag(self, node: Tag, params: list[object], *, drive: bool) -> str:
        condition, extra = self._tag_condition(node)
        params.append(tag_key(node.name))
        params.extend(extra)
        if drive:
            return (
                "c.id IN (SELECT t.content_id FROM image_tag t"
                f" WHERE t.tag_id = (SELECT id FROM tag WHERE key = ?){condition})"
            )
        return (
            "EXISTS (SELECT 1 FROM image_tag t WHERE t.content_id = c.id"
            f" AND t.tag_id = (SELECT id FROM tag WHERE key = ?){condition})"
        )

    def _tag_condition(self, node: Tag) -> tuple[str, list[object]]:
        if node.kind == "model":
            return " AND t.kind = 0 AND t.score >= ?", [self.tag_threshold]
        if node.kind == "source":
            return " AND t.kind != 0", []
        return " AND (t.kind != 0 OR t.score >= ?)", [self.tag_threshold]

    def _compare(self, node: Compare, params: list[object]) -> str:
        spec = lookup(node.field)
        if spec is None:
            raise QueryError(f"unknown field '{node.field}'")
        op = _sql_op(node.op)
        value = node.value
        if spec.name in FILE_FIELDS:
            return self._path(spec.name, node.op, str(value), params)
        if spec.name == "id":
            params.append(str(value).lower() + "%")
            clause = "c.sha256 LIKE ?"
            return clause if node.op == "=" else f"NOT {clause}"
        if spec.name == "title":
            if node.op not in ("=", "!="):
                raise QueryError("'title' is text: use = or !=")
            # A part of the title in any case; never NULL, so that NOT keeps the
            # images without a title.
            params.append(str(value).casefold())
            clause = "coalesce(instr(casefold(c.title), ?), 0) > 0"
            return clause if node.op == "=" else f"NOT {clause}"
        column = _COLUMNS[spec.name]
        if spec.kind == "date":
            value = iso_to_epoch(str(value))
        elif spec.kind == "bool":
            value = 1 if value else 0
        elif spec.kind == "str":
            value = str(value)
            if spec.name == "format":
                value = FORMAT_ALIASES.get(value.lower(), value.lower())
            elif spec.name == "source":
                value = value.lower().replace(".", "")
            if node.op not in ("=", "!="):
                raise QueryError(f"'{spec.name}' is text: use = or !=")
            if spec.name == "user":
                column += " COLLATE NOCASE"
        params.append(value)
        if node.op == "!=":
            # A missing value is different from any value.
            return f"({column} IS NULL OR {column} != ?)"
        if spec.name in NULLABLE:
            # Never NULL, so that NOT of it keeps the images without a value.
            return f"({column} {op} ? AND {column} IS NOT NULL)"
        return f"{column} {op} ?"

    def _path(self, name: str, op: str, value: str, params: list[object]) -> str:
        clause = self.file_clause(name, value, params)
        exists = f"EXISTS (SELECT 1 FROM file f WHERE f.content_id = c.id AND {clause})"
        return exists if op == "=" else f"NOT {exists}"

    def file_clause(self, name: str, value: str, params: list[object]) -> str:
        """The condition on a file row ``f`` for ``path``, ``folder`` or ``filename``
        equal to ``value`` (an image matches when one of its files does)."""
        column = {"path": "f.path", "folder": "f.folder", "filename": "f.name"}[name]
        if "*" in value or "?" in value:
            # A glob ('[' alone is common in names, "[Circle] title.png", so it is not one).
            # A name's glob is the whole name; a path's or folder's may start anywhere.
            pattern = value if value.startswith(("/", "*")) or name == "filename" \
                else "*" + value
            clause = f"{column} GLOB ?"
            params.append(pattern)
        elif name == "filename":
            clause = "casefold(f.name) = ?"
            params.append(value.casefold())
        elif name == "path":
            clause = "instr(casefold(f.path), ?) > 0"
            params.append(value.casefold())
        elif value.startswith("/"):
            folder = (value.rstrip("/") or "/").casefold()
            clause = "(casefold(f.folder) = ? OR casefold(f.folder) LIKE ? ESCAPE '\\')"
            params.extend([folder, like_escape(folder.rstrip("/")) + "/%"])
        else:
            clause = "('/' || casefold(f.folder) || '/') LIKE ? ESCAPE '\\'"
            params.append("%/" + like_escape(value.strip("/").casefold()) + "/%")
        return clause

    def _has(self, name: str, params: list[object]) -> str:
        if name in ("tags", "tags1", "tag", "model_tags", "source_tags"):
            kind = "t.kind != 0"
            if name in ("tags", "model_tags"):
                kind = "t.kind = 0 AND t.score >= ?"
                params.append(self.tag_threshold)
            return f"EXISTS (SELECT 1 FROM image_tag t WHERE t.content_id = c.id AND {kind})"
        if name in ("ocr", "text", "m"):
            return "coalesce(c.textlen, 0) > 0"
        spec = lookup(name)
        if spec is None:
            raise QueryError(f"unknown field '{name}'")
        if spec.name in (*FILE_FIELDS, "id", "filesize", "width", "height", "ratio",
                         "pixels", "date", "format", "frames", "animated"):
            return "1"
        column = _COLUMNS[spec.name]
        if spec.kind == "str":
            return f"({column} IS NOT NULL AND {column} != '')"
        if spec.name == "tagcount":
            return "c.tagcount > 0"
        return f"{column} IS NOT NULL"

    # -- planning ------------------------------------------------------------

    def _pick_driver(self, node: Node) -> Tag | None:
        """The rarest positive tag at the top level, if rare enough to drive the query."""
        if self.tag_counts is None:
            return None
        candidates = [node] if isinstance(node, Tag) else (
            [child for child in node.children if isinstance(child, Tag)]
            if isinstance(node, And) else []
        )
        if not candidates:
            return None
        counts = self.tag_counts([tag_key(tag.name) for tag in candidates])
        best = min(candidates, key=lambda tag: counts.get(tag_key(tag.name), 0))
        total = counts.get("", 0)
        if total and counts.get(tag_key(best.name), 0) > total // 20:
            return None
        return best


def _sql_op(op: str) -> str:
    return {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[op]


def like_escape(text: str) -> str:
    """``text`` matched literally in a LIKE pattern with ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
