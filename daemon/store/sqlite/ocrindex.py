"""OCR text search on SQLite: an n-gram index of the folded OCR text.

What ``ocr:text`` means: after folding both sides (NFKC, then Unicode case
folding, as tag names are matched), the query is a substring of the image's
OCR text. So ``ocr:straße`` finds "STRASSE", ``ocr:abc`` finds full-width
"ＡＢＣ" and ``ocr:カタカナ`` finds half-width "ｶﾀｶﾅ"; one or two CJK
characters are as good a query as any other.

How: FTS5's trigram tokenizer cannot answer queries under three characters
and a scan of every text costs ~70 ms per 200k images, so the catalogue keeps
its own index. Every distinct 1-, 2- and 3-character substring ("gram") of an
image's folded text is a row ``(gram, content_id)`` of the WITHOUT ROWID table
``ocr_gram``, the gram packed into one integer (``gram_key``), so a posting is
a few bytes and a gram's postings are one contiguous range of the B-tree.

- A query of 1-3 characters is exactly one gram: its postings are the answer,
  with nothing to verify.
- A longer query is driven by its rarest 3-gram (counted, capped, when the
  query is compiled), its next rarest 3-grams are probed on the primary key,
  and only the candidates left are checked with ``instr`` on the stored folded
  text (``ocr_result.folded``), so the answer is the exact substring match.

Writes keep ``ocr_text``, ``ocr_result``, ``ocr_gram`` and ``content.textlen``
together in the caller's write transaction (``write_ocr``).
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

MAX_GRAM = 3
"""Grams of 1..MAX_GRAM characters are indexed; a query that long is exact."""

_BASE = 0x110001
"""Code points are 0..0x10FFFF; digit ``ord(c) + 1`` keeps "a" and "\\0a" apart.
Three digits stay below 2**63, so every gram fits an SQLite INTEGER."""

COUNT_CAP = 5000
"""Postings counted per gram when picking the driver (a bound on planning cost)."""

PROBES = 3
"""Grams besides the driver that a long query probes before the ``instr`` check."""

Box = Sequence[float] | Sequence[Sequence[float]]
"""A text line's box: a quadrilateral ``[[x, y] * 4]`` as RapidOCR gives, or
``[x0, y0, x1, y1]``; stored as given (JSON)."""

OcrLine = tuple[str, Box | None, float | None]
"""One recognised line: its text, its box in image pixels, the model's confidence."""

GramCounts = Callable[[list[int]], Mapping[int, int]]


def fold(text: str) -> str:
    """The form OCR text and queries are matched in: NFKC, then case-folded.

    >>> fold("ＡＢＣ Straße ｶﾀｶﾅ")
    'abc strasse カタカナ'
    """
    return unicodedata.normalize("NFKC", text).casefold()


def gram_key(gram: str) -> int:
    """One gram (1..MAX_GRAM characters) as an integer, distinct for distinct grams."""
    key = 0
    for char in gram:
        key = key * _BASE + ord(char) + 1
    return key


def grams(folded: str) -> set[int]:
    """The keys of every 1-, 2- and 3-character substring of ``folded``."""
    codes = [ord(char) + 1 for char in folded]
    keys = set(codes)
    pairs = [a * _BASE + b for a, b in zip(codes, codes[1:], strict=False)]
    keys.update(pairs)
    keys.update(p * _BASE + c for p, c in zip(pairs, codes[2:], strict=False))
    return keys


def join_lines(lines: Sequence[OcrLine] | str) -> tuple[str, list[OcrLine]]:
    """The image's text (lines joined by newlines) and the lines as a list."""
    if isinstance(lines, str):
        return lines, [(lines, None, None)] if lines else []
    items = [(str(text), box, confidence) for text, box, confidence in lines]
    return "\n".join(text for text, _, _ in items), items


def write_ocr(
    conn: sqlite3.Connection | Any,
    content_id: int,
    model_id: str,
    lines: Sequence[OcrLine] | str,
    gen: int,
) -> None:
    """Replace one image's OCR result inside the caller's write transaction.

    Stores the joined text (``ocr_text``), its length in characters
    (``content.textlen``; 0 when the model found no text, NULL only before OCR
    ran), the folded text and the lines with boxes and confidences as JSON
    ``[[text, box, confidence], ...]`` (``ocr_result``), and the grams that
    changed (``ocr_gram``); the content row is stamped with ``gen``.
    """
    text, items = join_lines(lines)
    folded = fold(text)
    row = conn.execute(
        "SELECT r.folded, t.text FROM ocr_text t LEFT JOIN ocr_result r"
        " ON r.content_id = t.content_id WHERE t.content_id = ?",
        (content_id,),
    ).fetchone()
    old: set[int] = set()
    if row is not None:
        old = grams(row[0] if row[0] is not None else fold(row[1]))
    new = grams(folded)
    conn.executemany(
        "DELETE FROM ocr_gram WHERE gram = ? AND content_id = ?",
        [(key, content_id) for key in old - new],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO ocr_gram (gram, content_id) VALUES (?, ?)",
        [(key, content_id) for key in sorted(new - old)],
    )
    conn.execute(
        "INSERT INTO ocr_text (content_id, text) VALUES (?, ?)"
        " ON CONFLICT(content_id) DO UPDATE SET text = excluded.text",
        (content_id, text),
    )
    conn.execute(
        "INSERT INTO ocr_result (content_id, model_id, folded, lines) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(content_id) DO UPDATE SET model_id = excluded.model_id,"
        " folded = excluded.folded, lines = excluded.lines",
        (content_id, model_id, folded, json.dumps(items, ensure_ascii=False)),
    )
    conn.execute(
        "UPDATE content SET textlen = ?, gen = ? WHERE id = ?", (len(text), gen, content_id)
    )


def read_ocr(conn: sqlite3.Connection | Any, content_id: int) -> tuple[str, list[OcrLine]] | None:
    """The model id and lines stored for an image (None before OCR ran on it)."""
    row = conn.execute(
        "SELECT model_id, lines FROM ocr_result WHERE content_id = ?", (content_id,)
    ).fetchone()
    if row is None:
        return None
    return row[0], [(text, box, conf) for text, box, conf in json.loads(row[1])]


def reindex_missing(conn: sqlite3.Connection | Any, gen: int) -> int:
    """Index the ``ocr_text`` rows that have no ``ocr_result`` (written before the
    index existed); returns how many. Runs in the caller's write transaction."""
    rows = conn.execute(
        "SELECT t.content_id, t.text FROM ocr_text t WHERE NOT EXISTS"
        " (SELECT 1 FROM ocr_result r WHERE r.content_id = t.content_id)"
    ).fetchall()
    for content_id, text in rows:
        conn.execute("DELETE FROM ocr_text WHERE content_id = ?", (content_id,))
        write_ocr(conn, content_id, "", text, gen)
    return len(rows)


def gram_counts(conn: sqlite3.Connection | Any, keys: Iterable[int]) -> dict[int, int]:
    """Postings per gram, counted up to ``COUNT_CAP`` (enough to rank them)."""
    return {
        key: conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM ocr_gram WHERE gram = ? LIMIT ?)",
            (key, COUNT_CAP),
        ).fetchone()[0]
        for key in keys
    }


def match_sql(query: str, params: list[object], counts: GramCounts | None = None) -> str:
    """``c.id IN (...)``: the images whose folded OCR text contains the folded query."""
    return f"c.id IN ({content_sql(query, params, counts)})"


def content_sql(query: str, params: list[object], counts: GramCounts | None = None) -> str:
    """A SELECT of the content ids whose folded OCR text contains the folded query.

    ``counts`` (gram key -> postings, capped) picks the rarest gram to drive a
    long query; without it the query's grams are taken in order.
    """
    folded = fold(query)
    if not folded:
        return "SELECT content_id FROM ocr_text"
    if len(folded) <= MAX_GRAM:
        params.append(gram_key(folded))
        return "SELECT g.content_id FROM ocr_gram g WHERE g.gram = ?"
    keys = list(dict.fromkeys(
        gram_key(folded[i : i + MAX_GRAM]) for i in range(len(folded) - MAX_GRAM + 1)
    ))
    if counts is not None:
        known = counts(keys)
        keys.sort(key=lambda key: known.get(key, 0))
    driver, probes = keys[0], keys[1 : 1 + PROBES]
    params.append(driver)
    sql = "SELECT g.content_id FROM ocr_gram g WHERE g.gram = ?"
    for key in probes:
        params.append(key)
        sql += (
            " AND EXISTS (SELECT 1 FROM ocr_gram p WHERE p.gram = ?"
            " AND p.content_id = g.content_id)"
        )
    params.append(folded)
    return sql + (
        " AND instr((SELECT r.folded FROM ocr_result r WHERE r.content_id = g.content_id),"
        " ?) > 0"
    )
