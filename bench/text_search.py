"""Word search (``m;``, ``mt;``) on the embedded index: build time, latency, against ``ocr:``.

Data: ``ocr_query.py``'s synthetic OCR texts (Japanese, Chinese and English
phrases, 45% of ``--images`` with text), built into a fresh catalogue here.
The word index (``words.sqlite3``, SQLite FTS5) is built by its first search
(it follows the catalogue's write generation), timed. Then each query runs
``--runs`` times through ``SqliteCatalog.search`` (a first page of 50 and the
total, as the API asks): ``m;`` word searches (an exact word, a prefix, a
word with a typo, two words, CJK runs of 1 to 5 characters); baseline in the
same run: the same text as ``ocr:`` (the n-gram substring index), which is
what ``m;`` meant before it became a word search again.

    .venv/bin/python bench/text_search.py [--images 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import emit_result, median, progress, verdict
from ocr_query import build

from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog

QUERIES = (
    ("word", "hello"), ("word", "sample"), ("prefix", "illustr"), ("prefix", "chap"),
    ("typo", "helo"), ("typo", "chirstmas"), ("two words", "comic market"),
    ("1 CJK", "夏"), ("2 CJK", "先生"), ("3 CJK", "第一章"), ("5 CJK", "ありがとう"),
    ("none", "zzzzqq"),
)
P50_TARGET_MS = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pximse-words-bench-"))
    try:
        facts = build(work / "catalog.sqlite3", args.images, 7)
        progress(f"catalogue: {facts['ocr_results']:,} OCR results")
        catalog = SqliteCatalog(work / "catalog.sqlite3")
        began = time.perf_counter()
        indexed = catalog.text_store.catch_up()
        build_s = time.perf_counter() - began
        size_mb = (work / "words.sqlite3").stat().st_size / 2**20
        progress(f"word index: {indexed:,} images in {build_s:.1f}s, {size_mb:.0f} MB")
        rows = []
        for kind, text in QUERIES:
            timings = {}
            for syntax, query in (("m;", f'm;"{text}"'), ("ocr:", f'ocr:"{text}"')):
                parsed = parse_query(query)
                catalog.search(parsed, limit=50)  # warm
                runs = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    page = catalog.search(parsed, limit=50)
                    runs.append(time.perf_counter() - started)
                timings[syntax] = (median(runs) * 1000, page.total)
            rows.append((kind, text, *timings["m;"], *timings["ocr:"]))
            progress(f"{kind:9} {text!r:16} m; {timings['m;'][0]:7.1f} ms "
                     f"({timings['m;'][1]:>6} hits)   ocr: {timings['ocr:'][0]:7.1f} ms "
                     f"({timings['ocr:'][1]:>6} hits)")
        catalog.close()
        worst = max(row[2] for row in rows)
        typical = median([row[2] for row in rows])
        baseline = median([row[4] for row in rows])
        line = verdict(
            "word search p50", worst < P50_TARGET_MS * 3 and typical < P50_TARGET_MS,
            f"{args.images:,} images: m; median {typical:.1f} ms (worst {worst:.1f}), "
            f"ocr: median {baseline:.1f} ms, ratio {typical / baseline:.1f}x; index built "
            f"in {build_s:.1f}s, {size_mb:.0f} MB")
        emit_result({"name": "text_search", "ok": True, "verdict": line,
                     "build_s": build_s, "index_mb": size_mb,
                     "queries": [dict(zip(("kind", "text", "m_ms", "m_total", "ocr_ms",
                                           "ocr_total"), row, strict=True)) for row in rows]})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
