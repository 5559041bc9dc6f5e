"""OCR text search latency on 1M images (the n-gram index of ``ocrindex.py``).

Target (issue): ``ocr:`` queries of 1, 2, 3 and 5 characters, CJK and ASCII,
p50 < 50 ms for ``SqliteCatalog.search`` (first page of 50 and the total
count, as the API asks), on both the in-memory-index path and the SQL path.

Data (seeded): ``--images`` content rows; 45% have OCR text, 1-4 lines of
short Japanese, Chinese or English phrases with a few random characters
mixed in, 0-80 characters in all (median ~20); 10% ran OCR and found no text;
the rest have not been through OCR. The texts go in through
``SqliteCatalog.set_ocr_many`` in batches of 5,000 (the insert rate printed is
that path's, index included). Cached in ``bench/data/ocr_<n>.sqlite3``.

Baseline in the same run: the scan the index replaces, the total count of
``instr(casefold(text), ?)`` over every OCR row.

    .venv/bin/python bench/ocr_query.py [--images 1000000] [--runs 7] [--rebuild]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from _common import DATA_DIR, REPO_DIR, emit_result, median, percentile, progress, verdict

sys.path.insert(0, str(REPO_DIR / "daemon"))

from pximse.query.ast import Query, Text  # noqa: E402
from pximse.store.sqlite.catalog import SqliteCatalog  # noqa: E402

P50_TARGET_MS = 50.0
BATCH = 5000

JAPANESE = [
    "ありがとう", "ありがとうございます", "おはよう", "こんにちは", "よろしくお願いします",
    "夏の日", "今日は晴れ", "明日また会おう", "好きです", "かわいい", "お誕生日おめでとう",
    "新刊", "委託販売", "サンプル", "続きは本で", "魔法少女", "東京", "ゲーム", "予約受付中",
    "第一話", "完成しました", "にゃーん", "だいじょうぶ", "先生", "学校の帰り道",
]
CHINESE = [
    "我爱你", "谢谢", "你好", "中国", "新年快乐", "今天天气很好", "生日快乐", "再见",
    "北京", "小说", "漫画", "第一章", "喜欢", "朋友们", "完结",
]
ENGLISH = [
    "Hello", "world", "THANK YOU", "sale", "ends today", "Happy Birthday", "Merry Christmas",
    "the", "and", "New Year", "Chapter", "coming soon", "Twitter", "pixiv", "FANBOX",
    "Good morning", "love", "sample", "Vol.", "C103", "Comic Market", "illustration",
]
RANDOM_CHARS = "あいうえおかきくけこアイウエオ日月火水木金土山川人一二三ABCxyz0123456789!?"

QUERIES: tuple[tuple[str, str], ...] = (
    ("1 CJK", "夏"), ("1 CJK", "好"), ("1 CJK", "谢"), ("1 CJK", "の"),
    ("2 CJK", "先生"), ("2 CJK", "漫画"), ("2 CJK", "魔法"), ("2 CJK", "ござ"),
    ("3 CJK", "ありが"), ("3 CJK", "第一章"), ("3 CJK", "今日は"),
    ("5 CJK", "ありがとう"), ("5 CJK", "新年快乐"), ("5 CJK", "学校の帰り"),
    ("1 ASCII", "x"), ("1 ASCII", "v"), ("1 ASCII", "e"),
    ("2 ASCII", "th"), ("2 ASCII", "xy"), ("2 ASCII", "c1"),
    ("3 ASCII", "the"), ("3 ASCII", "sal"), ("3 ASCII", "vol"),
    ("5 ASCII", "hello"), ("5 ASCII", "comic"), ("5 ASCII", "merry"),
    ("none", "存在しない文字列"),
)


def make_text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        pool = rng.choice((JAPANESE, JAPANESE, CHINESE, ENGLISH, ENGLISH))
        words = [rng.choice(pool) for _ in range(rng.randrange(1, 4))]
        if rng.random() < 0.3:
            words.append("".join(rng.choice(RANDOM_CHARS) for _ in range(rng.randrange(1, 6))))
        lines.append((" " if pool is ENGLISH else "").join(words))
    return "\n".join(lines)[:80]


def build(path: Path, images: int, seed: int) -> dict[str, float]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(seed)
    catalog = SqliteCatalog(path, memory_index=False)
    progress(f"content rows: {images:,}")
    with catalog.db.write() as conn:
        conn.executemany(
            "INSERT INTO content (id, sha256, filesize, width, height, ratio, pixels, format,"
            " date, added_ns) VALUES (?, ?, 1000, 100, 100, 1.0, 10000, 'png', ?, 0)",
            ((i, f"{i:064x}", 1_420_000_000 + rng.randrange(315_360_000))
             for i in range(1, images + 1)),
        )
    size_before = _file_size(path, catalog)
    results: list[tuple[int, str, str]] = []
    for content_id in range(1, images + 1):
        roll = rng.random()
        if roll < 0.45:
            results.append((content_id, "bench-ocr", make_text(rng)))
        elif roll < 0.55:
            results.append((content_id, "bench-ocr", ""))
    progress(f"OCR results: {len(results):,} through set_ocr_many, {BATCH:,} per batch")
    started = time.perf_counter()
    for start in range(0, len(results), BATCH):
        catalog.set_ocr_many(results[start : start + BATCH])
        if start % (BATCH * 20) == 0:
            done = start + BATCH
            progress(f"  {done:,} ({done / (time.perf_counter() - started):,.0f}/s)")
    elapsed = time.perf_counter() - started
    conn = catalog.db.reader()
    conn.execute("ANALYZE")
    size_after = _file_size(path, catalog)
    grams = conn.execute("SELECT count(*) FROM ocr_gram").fetchone()[0]
    index_bytes = _table_bytes(conn, ("ocr_gram", "ocr_result"))
    catalog.close()
    return {
        "ocr_results": len(results),
        "insert_s": elapsed,
        "insert_per_s": len(results) / elapsed,
        "gram_rows": grams,
        "file_growth_mb": (size_after - size_before) / 2**20,
        **{f"{name}_mb": size / 2**20 for name, size in index_bytes.items()},
    }


def _file_size(path: Path, catalog: SqliteCatalog) -> int:
    catalog.db.reader().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def _table_bytes(conn, names: tuple[str, ...]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    try:
        return {name: conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?",
                                   (name,)).fetchone()[0] or 0 for name in names}
    except Exception:  # dbstat not compiled in
        return {}


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline-runs", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"ocr_{args.images}.sqlite3"
    stats: dict[str, float] = {}
    if args.rebuild or not path.exists():
        stats = build(path, args.images, seed=1)
        for key, value in stats.items():
            print(f"build: {key} = {value:,.1f}")
    payload: dict[str, object] = {"images": args.images, "build": stats}
    verdicts = []
    for use_index in (True, False):
        catalog = SqliteCatalog(path, memory_index=use_index)
        engine = "memory index" if use_index else "SQL"
        warm = timed(lambda c=catalog: c.search(Query(Text("ocr", "夏")), limit=50))
        print(f"\n[{engine}] first query (cold; loads the in-memory index if any): {warm:.0f} ms")
        per_class: dict[str, list[float]] = {}
        for label, text in QUERIES:
            query = Query(Text("ocr", text))
            times = [timed(lambda c=catalog, q=query: c.search(q, limit=50))
                     for _ in range(args.runs)]
            total = catalog.search(query, limit=50).total
            per_class.setdefault(label, []).extend(times)
            print(f"  {label:8} {text!r:14} total {total:>7,}  p50 {median(times):7.1f} ms"
                  f"  max {max(times):7.1f} ms")
        every = [t for times in per_class.values() for t in times]
        print(f"[{engine}] by class:")
        for label, times in per_class.items():
            print(f"  {label:8} p50 {median(times):7.1f} ms  p95 {percentile(times, 95):7.1f} ms")
        p50, p95 = median(every), percentile(every, 95)
        verdicts.append(verdict(f"ocr query p50 ({engine})", p50 < P50_TARGET_MS,
                                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p50 < 50 ms)"))
        payload[engine] = {"p50_ms": p50, "p95_ms": p95,
                           "classes": {k: median(v) for k, v in per_class.items()}}
        catalog.close()
    catalog = SqliteCatalog(path, memory_index=False)
    conn = catalog.db.reader()
    scan = []
    for text in ("夏", "ありがとう", "hello"):
        for _ in range(args.baseline_runs):
            scan.append(timed(lambda t=text: conn.execute(
                "SELECT count(*) FROM ocr_text WHERE instr(casefold(text), ?) > 0",
                (t,)).fetchone()))
    print(f"\nbaseline: full instr(casefold(text)) scan p50 {median(scan):.0f} ms")
    payload["baseline_scan_p50_ms"] = median(scan)
    catalog.close()
    size = path.stat().st_size / 2**20
    print(f"catalogue file {size:,.0f} MB")
    emit_result(payload)
    return 0 if all(line.startswith("PASS") for line in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
