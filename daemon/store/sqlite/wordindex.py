"""The embedded text store: word search (``m;``, ``mt;``) with SQLite FTS5.

One FTS5 table in ``words.sqlite3`` beside the catalogue, one row per image
(rowid = content id) with two columns: ``ocr`` (the OCR text) and ``meta`` (the
title and the source tags). Text is cut into words and folded in Python
(:func:`pximse.store.words.tokens`: each CJK character a word of its own) and
stored as those words separated by spaces under FTS5's ``ascii`` tokenizer,
so FTS5 splits exactly where PxIMSE did. Then:

- a word is a term (``"hello"``), the last one a prefix query (``"hel" *``);
- a run of CJK characters is a phrase of single characters (``"東 京"``), so
  one- and two-character queries need nothing special;
- typos: the words of the column within a query word's typo budget are found
  in FTS5's own vocabulary (``fts5vocab``; the same first letter, unless the
  word is long enough for two typos), compared with Damerau-Levenshtein by
  rapidfuzz, and ORed into the query.

Exact matches rank first, then matches that needed a typo, each by FTS5's
BM25 rank.

Freshness: the index follows the catalogue's write generation. Before each
search it reads the catalogue's ``meta.gen`` and re-reads the images whose
``content.gen`` is newer than the generation it last caught up with (OCR text,
title, source tags), in one transaction with the new generation, so a crash
leaves it behind, never wrong. The file is only an index: deleting it
rebuilds it on the next search.

Why FTS5 rather than tantivy: it ships with Python's SQLite (no new binary
dependency), the index is one more SQLite file with the catalogue's
transactions and crash behaviour, and it is fast enough: on 100k images
(55k with text) a first page with its total takes a median 75 ms, the
``ocr:`` n-gram index 18 ms, and the index builds in 25 s to 8 MB
(``bench/text_search.py``, on a loaded 2-core machine). tantivy's fuzzy
queries would have done the typo part natively, at the cost of a second
storage engine whose commits the catalogue cannot join, and a compiled
dependency.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pximse.query.ast import WordScope
from pximse.store.sqlite.database import connect
from pximse.store.text import TextDocument
from pximse.store.words import Term, prefix_typos, query_terms, tokens, typos_between

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(ocr, meta, tokenize = 'ascii',
                                                    prefix = '1 2 3');
CREATE VIRTUAL TABLE IF NOT EXISTS words_vocab USING fts5vocab(words, 'col');
CREATE TABLE IF NOT EXISTS words_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS: dict[str, str] = {"ocr": "ocr", "meta": "meta"}
_BATCH = 1000


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def document_columns(doc: TextDocument) -> tuple[str, str]:
    """The two columns' contents: space-separated folded words."""
    meta = tokens(doc.title)
    for tag in doc.tags1:
        meta.extend(tokens(tag))
    return " ".join(tokens(doc.text)), " ".join(meta)


class SqliteWordIndex:
    """Word search over one SQLite catalogue; see the module docstring.

    ``catalogue``: a connection factory for the catalogue it follows (its reader),
    or None for an index fed only through :meth:`put`."""

    def __init__(self, path: Path | str, catalogue: Any = None) -> None:
        self.path = Path(path)
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # -- writes ---------------------------------------------------------------------

    def put(self, documents: Iterable[TextDocument]) -> int:
        rows = [(doc.id, *document_columns(doc)) for doc in documents]
        with self._lock:
            self._write(rows, [])
        return len(rows)

    def delete(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._write([], [int(i) for i in ids])

    def _write(self, rows: list[tuple[int, str, str]], gone: list[int],
               generation: int | None = None) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = [row[0] for row in rows] + gone
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                conn.execute(f"DELETE FROM words WHERE rowid IN ({','.join('?' * len(chunk))})",
                             chunk)
            conn.executemany("INSERT INTO words (rowid, ocr, meta) VALUES (?, ?, ?)", rows)
            if generation is not None:
                conn.execute("INSERT OR REPLACE INTO words_meta VALUES ('gen', ?)", (generation,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM words").fetchone()[0])

    # -- following the catalogue ------------------------------------------------------

    def catch_up(self) -> int:
        """Re-index the images the catalogue changed since the last call; returns how many."""
        if self._catalogue is None:
            return 0
        reader: sqlite3.Connection = self._catalogue()
        current = int(reader.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()[0])
        with self._lock:
            row = self._conn.execute("SELECT value FROM words_meta WHERE key = 'gen'").fetchone()
            done = -1 if row is None else int(row[0])
            if done >= current:
                return 0
            changed = [cid for cid, in reader.execute(
                "SELECT id FROM content WHERE gen > ? ORDER BY id", (done,))]
            for start in range(0, len(changed), _BATCH):
                chunk = changed[start:start + _BATCH]
                docs = catalogue_documents(reader, chunk)
                last = start + _BATCH >= len(changed)
                self._write([(doc.id, *document_columns(doc)) for doc in docs], [],
                            current if last else None)
            if not changed:
                self._write([], [], current)
            if changed:
                log.info("word index: %d images re-read (generation %d)", len(changed), current)
            return len(changed)

    # -- search ---------------------------------------------------------------------

    def search_ids(self, words: str, scope: WordScope, *,
                   source_tags: Sequence[str] = ()) -> list[int]:
        """Every matching content id, exact matches first, each by BM25."""
        self.catch_up()
        terms = query_terms(words)
        if not terms:
            return []
        column = _COLUMNS[scope]
        exact = " AND ".join(self._exact(term) for term in terms)
        with self._lock:  # one connection: no search inside another thread's write
            found = self._match(column, exact)
            if any(term.typos for term in terms):
                parts = [self._with_typos(column, term) for term in terms]
                seen = set(found)
                found += [cid for cid in self._match(column, " AND ".join(parts))
                          if cid not in seen]
        return found

    def _match(self, column: str, expression: str) -> list[int]:
        sql = "SELECT rowid FROM words WHERE words MATCH ? ORDER BY rank"
        return [int(cid) for cid, in self._conn.execute(sql, (f"{{{column}}} : ({expression})",))]

    @staticmethod
    def _exact(term: Term) -> str:
        if term.cjk:
            return _quoted(" ".join(term.text))
        return _quoted(term.text) + (" *" if term.prefix else "")

    def _with_typos(self, column: str, term: Term) -> str:
        options = [self._exact(term)]
        if term.typos:
            options += [_quoted(found) for found in self._near(column, term)]
        return "(" + " OR ".join(options) + ")"

    def _near(self, column: str, term: Term) -> list[str]:
        """Words of the column within the term's typo budget (its prefixes for the last)."""
        word, limit = term.text, term.typos
        if limit >= 2:  # a wrong first letter costs two: any first letter may do
            rows = self._conn.execute("SELECT term FROM words_vocab WHERE col = ?", (column,))
        else:
            first = word[0]
            rows = self._conn.execute(
                "SELECT term FROM words_vocab WHERE col = ? AND term >= ? AND term < ?",
                (column, first, chr(ord(first) + 1)))
        found = []
        for candidate, in rows:
            if term.prefix:
                typos = prefix_typos(word, candidate, limit)
            else:
                typos = typos_between(word, candidate, limit)
            if typos:
                found.append(candidate)
        return found


def catalogue_documents(reader: sqlite3.Connection, ids: Sequence[int]) -> list[TextDocument]:
    """The text documents of catalogue images: OCR text, title, source tags."""
    marks = ",".join("?" * len(ids))
    texts = dict(reader.execute(
        f"SELECT content_id, text FROM ocr_text WHERE content_id IN ({marks})", ids))
    tags: dict[int, list[str]] = {}
    keys: dict[int, list[str]] = {}
    for cid, name, key in reader.execute(
            "SELECT it.content_id, t.name, t.key FROM image_tag it JOIN tag t ON t.id = it.tag_id"
            f" WHERE it.content_id IN ({marks}) AND it.kind != 0 ORDER BY t.key", ids):
        if key not in keys.setdefault(cid, []):
            keys[cid].append(key)
            tags.setdefault(cid, []).append(name)
    return [TextDocument(int(cid), texts.get(cid) or "", title or "",
                         tuple(tags.get(cid, ())), tuple(keys.get(cid, ())))
            for cid, title in reader.execute(
                f"SELECT id, title FROM content WHERE id IN ({marks})", ids)]
