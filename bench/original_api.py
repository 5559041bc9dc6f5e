"""What the original front end's answer costs, against PxIMSE's own, in one run.

A synthetic catalogue (``make_catalog.py``, 100k images by default, ~30 model
tags an image, Pixiv and yande.re source tags) is served in-process (httpx,
as the API tests call it). For each query, in the same run and process:

- baseline: ``GET /api/search?limit=1000`` — PxIMSE's page of summaries;
- original: ``POST /api/query/`` with ``limit=1000`` — the same results as the
  original's documents (every tag with its score, source tags, Pixiv fields,
  folder and file name), and without a limit (the original's 1,200).

and the two ways of reading what the documents add for 1,200 results:

- per image: ``catalog.image(id)`` for each (what a route reading one image
  at a time would do);
- batched: ``catalog.result_details(ids)`` (what ``/api/query/`` does).

Each call is timed twice: wall clock, and the process's CPU time (what the
call costs the machine; on a shared machine the wall clock stretches with
the load, on idle cores it comes close to the CPU time).

Pass, on CPU time: the original's answer of 1,000 takes at most 3x PxIMSE's
own plus 100 ms, the 1,200 of the original under a second, and the batched
read is faster than the per-image one.

    .venv/bin/python bench/original_api.py [--images 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_DIR, emit_result, fmt_ms, machine_line, median, progress, verdict
from make_catalog import ensure_catalog

QUERIES = [("", "date"), ("tags.1girl", "filesize;1"), ("tags.long_hair,!tags.monochrome", ""),
           ('|type;="pixiv",|type;="yandere",width;>=1000', "bookmarkCount")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_DIR / "tests"))
    from helpers.api_client import api_client

    from pximse.api.app import create_app
    from pximse.config import load_config
    from pximse.store.sqlite.catalog import SqliteCatalog

    source, _ = ensure_catalog(args.images)
    with tempfile.TemporaryDirectory(prefix="pximse-bench-") as folder_name:
        folder = Path(folder_name)
        catalog_path = folder / "data" / "catalog.sqlite3"
        catalog_path.parent.mkdir()
        shutil.copyfile(source, catalog_path)
        (folder / "config.toml").write_text(
            '[[library.roots]]\nname = "library"\npath = "/library"\n\n'
            '[models]\nclip = ""\ntagger = ""\nocr = ""\n', encoding="utf-8")
        config = load_config(folder / "config.toml", folder / "data", env={})
        catalog = SqliteCatalog(catalog_path)
        rows: list[dict[str, object]] = []
        with api_client(create_app(config, catalog)) as client:
            for query, sort in QUERIES:
                booru_sort = sort.replace("bookmarkCount", "bookmarks")
                timings: dict[str, list[float]] = {"search": [], "documents": [],
                                                   "documents_1200": []}
                cpu: dict[str, list[float]] = {name: [] for name in timings}
                calls = {
                    "search": ("GET", "/api/search", {"params": {
                        "q": query, "sort": booru_sort, "limit": 1000, "syntax": "legacy"}}),
                    "documents": ("POST", "/api/query/", {"data": {
                        "query": query, "sort": sort, "text": "null", "limit": "1000"}}),
                    "documents_1200": ("POST", "/api/query/", {"data": {
                        "query": query, "sort": sort, "text": ""}}),
                }
                for run in range(args.runs + 1):  # the first run warms the caches up
                    for name, (method, path, options) in calls.items():
                        started, started_cpu = time.perf_counter(), time.process_time()
                        answer = client.request(method, path, **options)
                        elapsed = time.perf_counter() - started
                        elapsed_cpu = time.process_time() - started_cpu
                        answer.raise_for_status()
                        if run:
                            timings[name].append(elapsed)
                            cpu[name].append(elapsed_cpu)
                count = len(answer.json())
                row = {"query": query, "sort": sort, "documents_no_limit": count,
                       **{name: median(values) for name, values in timings.items()},
                       **{f"{name}_cpu": median(values) for name, values in cpu.items()}}
                rows.append(row)
                progress(f"{query or '(all)'} sort {sort or '-'}: search "
                         f"{fmt_ms(row['search'])}, documents "  # type: ignore[arg-type]
                         f"{fmt_ms(row['documents'])}, {count} documents "  # type: ignore[arg-type]
                         f"{fmt_ms(row['documents_1200'])}")  # type: ignore[arg-type]
            ids = [doc["_id"] for doc in client.post("/api/query/", data={"sort": "date"}).json()]
        per_image, batched = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            for sha in ids:
                catalog.image(sha)
            per_image.append(time.perf_counter() - started)
            started = time.perf_counter()
            catalog.result_details(ids)
            batched.append(time.perf_counter() - started)
        catalog.close()

    worst = max(row["documents_cpu"] / (row["search_cpu"] + 0.1)  # type: ignore[operator]
                for row in rows)
    slowest_1200 = max(row["documents_1200_cpu"] for row in rows)  # type: ignore[type-var]
    ratio = median(per_image) / median(batched)
    print(machine_line(), f"load average {os.getloadavg()[0]:.1f}")
    for row in rows:
        for kind, suffix in (("wall", ""), ("CPU", "_cpu")):
            search, documents = row["search" + suffix], row["documents" + suffix]
            print(f"  {row['query'] or '(all)':45} sort {row['sort'] or '-':13} {kind:4} 1000: "
                  f"search {fmt_ms(search)}, documents {fmt_ms(documents)} "  # type: ignore[arg-type]
                  f"({documents / search:.2f}x); {row['documents_no_limit']} documents "  # type: ignore[operator]
                  f"{fmt_ms(row['documents_1200' + suffix])}")  # type: ignore[arg-type]
    print(f"  details of {len(ids)} results: per image {fmt_ms(median(per_image))}, "
          f"batched {fmt_ms(median(batched))} ({ratio:.1f}x faster)")
    ok = worst <= 3 and slowest_1200 < 1.0 and ratio > 1
    verdict("original_api", ok,
            f"documents at most {worst:.2f}x (search + 100 ms), 1200 in at most "
            f"{fmt_ms(slowest_1200)} (CPU time), batched details {ratio:.1f}x faster than "
            "per image")
    emit_result({"name": "original_api", "images": args.images, "rows": rows,
                 "details_per_image_s": median(per_image), "details_batched_s": median(batched),
                 "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
