"""The OCR n-gram index: NFKC + case-folded substring search, CJK included."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from pathlib import Path

import pytest

from pximse.query.ast import Query, Text
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog
from pximse.store.sqlite.ocrindex import fold, gram_key, grams

TEXTS = [
    "ありがとうございます",
    "夏の日、海へ行こう",
    "我爱你 中国",
    "Hello World",
    "SALE ends today",
    "Mixed 日本語 and English",
    "Straße",
    "ＡＢＣ full width",
    "ｶﾀｶﾅ",
    "",
    "夏",
]


def _sha(i: int) -> str:
    return hashlib.sha256(f"ocr-{i}".encode()).hexdigest()


def _catalogs(path: Path, n: int) -> tuple[SqliteCatalog, SqliteCatalog, dict[str, int]]:
    """(memory-index catalogue, SQL-only catalogue, sha -> content id) over ``n`` images."""
    memory = SqliteCatalog(path, memory_index=True)
    sql = SqliteCatalog(path, memory_index=False)
    root = memory.ensure_root("r", "/lib")
    batch = ScanBatch(root)
    for i in range(n):
        batch.new_content.append(NewContent(
            sha256=_sha(i), filesize=1000, format="png", width=10, height=10, frames=1,
            animated=False, phash=None, thumbnail=False, mtime_ns=(1_600_000_000 + i) * 10**9))
        batch.files.append(FileRecord(f"/lib/{i}.png", 1000, 1, "ok", _sha(i)))
    memory.apply_scan_batch(batch)
    ids = memory.content_ids([_sha(i) for i in range(n)])
    return memory, sql, ids


@pytest.fixture
def engines(tmp_path: Path):  # type: ignore[no-untyped-def]
    memory, sql, ids = _catalogs(tmp_path / "c.sqlite3", len(TEXTS) + 2)
    memory.set_ocr_many([(ids[_sha(i)], "test", text) for i, text in enumerate(TEXTS)])
    yield memory, sql, ids
    memory.close()
    sql.close()


def _found(catalog: SqliteCatalog, query: Query) -> set[str]:
    page = catalog.search(query, limit=1000)
    assert page.total == len(page.items)
    return {item.id for item in page.items}


def _expected(query: str) -> set[str]:
    return {_sha(i) for i, text in enumerate(TEXTS) if fold(query) in fold(text)}


@pytest.mark.parametrize(("query", "count"), [
    ("ありがとう", 1),       # Japanese
    ("が", 1),               # one kana
    ("夏", 2),               # one kanji (a text that is only that character, too)
    ("夏の", 1),             # two CJK characters
    ("海へ行こう", 1),       # five
    ("我爱你", 1),           # Chinese
    ("中", 1),
    ("world", 1),            # English, case-insensitive
    ("HELLO WORLD", 1),
    ("日本語 and", 1),        # mixed
    ("O", 2),                # one ASCII letter
    ("STRASSE", 1),          # casefold: ß is ss
    ("straße", 1),
    ("abc", 1),              # NFKC: full-width ＡＢＣ
    ("ＡＢＣ", 1),
    ("カタカナ", 1),          # NFKC: half-width katakana
    ("nothing like it", 0),  # no match
    ("ござる", 0),
])
def test_queries(engines, query: str, count: int) -> None:  # type: ignore[no-untyped-def]
    memory, sql, _ = engines
    expected = _expected(query)
    assert len(expected) == count
    for syntax in (f'ocr:"{query}"',):
        parsed = parse_query(syntax)
        assert parsed.where == Text("ocr", query)
        assert _found(sql, parsed) == expected
        assert _found(memory, parsed) == expected


def test_replacing_text_replaces_grams(engines) -> None:  # type: ignore[no-untyped-def]
    memory, sql, ids = engines
    content_id = ids[_sha(0)]
    memory.set_ocr(content_id, "test-2", [("さようなら", [[0, 0], [10, 0], [10, 5], [0, 5]], 0.9),
                                          ("Bye", [0, 6, 10, 11], 0.5)])
    rows = {row[0] for row in memory.db.reader().execute(
        "SELECT gram FROM ocr_gram WHERE content_id = ?", (content_id,))}
    assert rows == grams(fold("さようなら\nBye"))
    assert gram_key("あり") not in rows
    for catalog in (memory, sql):
        assert _found(catalog, Query(Text("ocr", "ありがとう"))) == set()
        assert _found(catalog, Query(Text("ocr", "さよう"))) == {_sha(0)}
        assert _found(catalog, Query(Text("ocr", "bye"))) == {_sha(0)}
    detail = memory.db.reader().execute(
        "SELECT textlen FROM content WHERE id = ?", (content_id,)).fetchone()
    assert detail[0] == len("さようなら\nBye")
    assert memory.ocr_lines(content_id) == ("test-2", [
        ("さようなら", [[0, 0], [10, 0], [10, 5], [0, 5]], 0.9), ("Bye", [0, 6, 10, 11], 0.5)])
    assert memory.ocr_lines(ids[_sha(len(TEXTS))]) is None


def test_empty_text_is_ocr_without_text(engines) -> None:  # type: ignore[no-untyped-def]
    memory, sql, ids = engines
    empty = _sha(TEXTS.index(""))
    for catalog in (memory, sql):
        assert empty not in _found(catalog, parse_query("has:ocr"))
        assert empty in _found(catalog, parse_query("textlen:0"))


def test_text_written_before_the_index_is_indexed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    memory, sql, ids = _catalogs(path, 3)
    sql.close()
    with memory.db.write() as conn:  # as a catalogue from before migration 5 holds it
        conn.execute("INSERT INTO ocr_text (content_id, text) VALUES (?, '古い文字')",
                     (ids[_sha(1)],))
        conn.execute("INSERT INTO meta (key, value) VALUES ('ocr_reindex', '1')")
    memory.close()
    reopened = SqliteCatalog(path, memory_index=False)
    assert _found(reopened, Query(Text("ocr", "文字"))) == {_sha(1)}
    assert reopened.db.reader().execute(
        "SELECT count(*) FROM meta WHERE key = 'ocr_reindex'").fetchone()[0] == 0
    reopened.close()


ALPHABET = (
    "abcXYZ ßẞİı" "ＡＢｃ"  # ASCII, case pairs, letters whose folding changes length
    "あいうアイウｱｲｳ" "日本語夏海" "我爱中国"  # kana (full and half width), kanji, hanzi
)


def test_agrees_with_python_reference(tmp_path: Path) -> None:
    rng = random.Random(7)
    n = 300
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30)))
             for _ in range(n)]
    memory, sql, ids = _catalogs(tmp_path / "r.sqlite3", n)
    memory.set_ocr_many([(ids[_sha(i)], "test", text) for i, text in enumerate(texts)])
    queries = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 6)))
               for _ in range(40)]
    for _ in range(60):
        text = rng.choice([t for t in texts if t])
        start = rng.randrange(len(text))
        part = text[start:start + rng.randrange(1, 8)]
        queries.append(part.swapcase() if rng.random() < 0.5 else part)
    for query in queries:
        expected = {_sha(i) for i, text in enumerate(texts) if fold(query) in fold(text)}
        assert _found(sql, Query(Text("ocr", query))) == expected, query
        assert _found(memory, Query(Text("ocr", query))) == expected, query
        if all(unicodedata.is_normalized("NFKC", s) for s in (query, *texts)):
            # Where NFKC changes nothing this is Python's plain casefold() in.
            assert expected == {_sha(i) for i, t in enumerate(texts)
                                if query.casefold() in t.casefold()}
    nfkc_stable = [t for t in texts if unicodedata.is_normalized("NFKC", t)]
    for text in nfkc_stable[:50]:
        for length in (1, 2, 4):
            query = text[:length].upper()
            if not query or not unicodedata.is_normalized("NFKC", query):
                continue
            casefold_expected = {_sha(i) for i, t in enumerate(texts)
                                 if unicodedata.is_normalized("NFKC", t)
                                 and query.casefold() in t.casefold()}
            found = _found(sql, Query(Text("ocr", query)))
            assert casefold_expected <= found
    memory.close()
    sql.close()


def test_memory_index_sees_new_text(engines) -> None:  # type: ignore[no-untyped-def]
    memory, _, ids = engines
    query = parse_query("ocr:新しい")
    assert _found(memory, query) == set()
    memory.set_ocr(ids[_sha(len(TEXTS))], "test", "新しい本")
    assert _found(memory, query) == {_sha(len(TEXTS))}


def test_image_detail_returns_the_lines_with_boxes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

    catalog = SqliteCatalog(tmp_path / "c.sqlite3")
    root = catalog.ensure_root("r", "/r")
    sha = "ab" * 32
    catalog.apply_scan_batch(ScanBatch(
        root, new_content=[NewContent(sha, 1, "png", 9, 9, 1, False, 0, False, 0)],
        files=[FileRecord("/r/a.png", 1, 0, "ok", sha)]))
    cid = catalog.content_ids([sha])[sha]
    box = [[1.0, 2.0], [30.0, 2.0], [30.0, 12.0], [1.0, 12.0]]
    catalog.set_ocr(cid, "rapidocr:test", [("ありがとう", box, 0.93), ("Hello", box, 0.88)])
    detail = catalog.image(sha)
    assert detail is not None and detail.ocr_model == "rapidocr:test"
    assert [line["text"] for line in detail.ocr_lines] == ["ありがとう", "Hello"]
    assert detail.ocr_lines[0]["box"] == box and detail.ocr_lines[1]["confidence"] == 0.88
    catalog.close()
