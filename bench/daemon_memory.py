"""The daemon on a million images: memory after a mix of queries, the first query
after start, and the unfiltered first page.

    .venv/bin/python bench/daemon_memory.py [--images 1000000] [--queries 20]

Targets, each against a baseline measured in the same run:

- ``pximse serve --no-scan --no-models`` (the model stages run in a child process
  of their own; this is the daemon that answers) on the cached synthetic catalogue
  (``make_catalog.py``), after ``--queries`` mixed queries over HTTP (the
  query-latency mix), idle 2 s: at most 450 MiB RSS. Baseline: the same daemon
  on an empty data folder after one search.
- The first query after start (sent as soon as ``/api/status`` answers):
  at most 0.5 s. Baselines: the same query's warm time, and a first tag query
  right after it (which loads that tag's postings).
- In-process, ``SqliteCatalog.search`` of the unfiltered first page (50, newest
  first, with the total), warm: at most 5 ms. Baseline: SQLite answering the
  same page's ids from its date index.

Also printed: what the in-memory index holds by part, and the postings cache
against its budget (the measurement the budget was sized by).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA_DIR, emit_result, machine_line, median, progress, verdict
from idle_rss import Daemon, rss_of
from make_catalog import ensure_catalog
from query_latency import QUERIES, fill_names

RSS_TARGET_MIB = 450
FIRST_QUERY_TARGET_S = 0.5
FIRST_PAGE_TARGET_S = 0.005


def in_process(catalog_path: Path) -> dict[str, float]:
    from pximse.query.ast import Query
    from pximse.store.sqlite.catalog import SqliteCatalog
    from pximse.store.sqlite.mempostings import POSTINGS_BUDGET
    from pximse.store.sqlite.search import SUMMARY_COLUMNS

    catalog = SqliteCatalog(catalog_path)
    try:
        index = catalog.index
        assert index is not None
        started = time.perf_counter()
        index.warm()
        warm_s = time.perf_counter() - started
        pages, direct = [], []
        conn = catalog.db.reader()
        for _ in range(30):
            t0 = time.perf_counter()
            page = catalog.search(Query(), limit=50)
            pages.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            conn.execute(f"SELECT {SUMMARY_COLUMNS} FROM content c WHERE c.state IN (0, 1)"
                         " ORDER BY c.date DESC, c.id DESC LIMIT 50").fetchall()
            direct.append(time.perf_counter() - t0)
        ids_only = []
        for _ in range(30):
            t0 = time.perf_counter()
            conn.execute("SELECT id FROM content WHERE state IN (0, 1)"
                         " ORDER BY date DESC, id DESC LIMIT 50").fetchall()
            ids_only.append(time.perf_counter() - t0)
        names = fill_names(conn)
        from pximse.query.parse import parse_query

        for _, text, sort in QUERIES:
            catalog.search(parse_query(text.format(**names), sort), limit=50)
        memory = index.memory()
        return {"warm_s": warm_s, "first_page_s": median(pages), "total": page.total,
                "sqlite_page_s": median(direct), "sqlite_ids_s": median(ids_only),
                "postings_bytes": memory["postings"], "budget": POSTINGS_BUDGET,
                "memory": memory}  # type: ignore[dict-item]
    finally:
        catalog.close()


def daemon_run(workroot: Path, catalog_path: Path, count: int) -> dict[str, object]:
    daemon = Daemon(workroot / "big")
    os.link(catalog_path, daemon.data / "catalog.sqlite3")
    names = _names(catalog_path)
    queries = [text.format(**names) for _, text, sort in QUERIES if not sort][:count]
    try:
        daemon.start(timeout=120, extra=("--no-models",))
        _, first_s, first = daemon.search("")
        _, first_tag_s, _ = daemon.search("1girl")
        times = []
        for q in queries:
            status, took, data = daemon.search(q)
            if status != 200:
                raise RuntimeError(f"{q!r} answered {status}: {data}")
            times.append(took)
        _, again_s, _ = daemon.search("")
        time.sleep(2)
        memory = rss_of(daemon.proc.pid)  # type: ignore[union-attr]
        import psutil

        main = psutil.Process(daemon.proc.pid).memory_info().rss / 2**20  # type: ignore[union-attr]
        return {"first_query_s": first_s, "first_total": first.get("total"),
                "first_tag_query_s": first_tag_s, "warm_first_query_s": again_s,
                "mix_first_runs_s": times, "rss_mib": main, "with_children": memory}
    finally:
        daemon.stop()


def empty_daemon(workroot: Path) -> float:
    daemon = Daemon(workroot / "empty")
    try:
        daemon.start(extra=("--no-models",))
        daemon.search("")
        time.sleep(2)
        import psutil

        return psutil.Process(daemon.proc.pid).memory_info().rss / 2**20  # type: ignore[union-attr]
    finally:
        daemon.stop()


def _names(catalog_path: Path) -> dict[str, str]:
    import sqlite3

    conn = sqlite3.connect(catalog_path)
    try:
        return fill_names(conn)
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    catalog_path, _ = ensure_catalog(args.images)
    print(f"daemon memory and first queries on {catalog_path.name}; {machine_line()}; "
          f"load average {open('/proc/loadavg').read().split()[:3]}", flush=True)

    progress("in-process: warm, the unfiltered first page, the query mix")
    inner = in_process(catalog_path)
    print(f"in-process: warm {inner['warm_s']:.2f} s; unfiltered first page of 50 "
          f"(total {inner['total']:,}) {inner['first_page_s'] * 1000:.2f} ms; SQLite's date "
          f"index for the same page {inner['sqlite_page_s'] * 1000:.2f} ms "
          f"(its ids alone {inner['sqlite_ids_s'] * 1000:.2f} ms)")
    memory = inner["memory"]
    print("in-memory index after the whole mix: " + ", ".join(
        f"{part} {size / 2**20:.1f} MiB" for part, size in memory.items())  # type: ignore[attr-defined]
          + f"; postings budget {inner['budget'] / 2**20:.0f} MiB")

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="daemon_memory-", dir=DATA_DIR))
    try:
        progress("daemon on an empty data folder (baseline)")
        empty = empty_daemon(workroot)
        progress(f"daemon on {catalog_path.name}; load average "
                 f"{open('/proc/loadavg').read().split()[:3]}")
        run = daemon_run(workroot, catalog_path, args.queries)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    mix = run["mix_first_runs_s"]
    print(f"daemon: first query after start {run['first_query_s'] * 1000:.0f} ms "  # type: ignore[operator]
          f"(total {run['first_total']}; the same query warm "
          f"{run['warm_first_query_s'] * 1000:.0f} ms); first tag query "  # type: ignore[operator]
          f"{run['first_tag_query_s'] * 1000:.0f} ms; {len(mix)} mixed queries, "  # type: ignore[operator, arg-type]
          f"first runs p50 {median(mix) * 1000:.0f} ms, max {max(mix) * 1000:.0f} ms")  # type: ignore[arg-type, type-var]
    print(f"daemon RSS after them, idle 2 s: {run['rss_mib']:.0f} MiB (with children "
          f"{run['with_children']['rss_mb']:.0f} MiB); the same daemon on an empty data "  # type: ignore[index]
          f"folder: {empty:.0f} MiB", flush=True)
    lines = [
        verdict(f"RSS after {len(mix)} mixed queries <= {RSS_TARGET_MIB} MiB",  # type: ignore[arg-type]
                run["rss_mib"] <= RSS_TARGET_MIB,  # type: ignore[operator]
                f"{run['rss_mib']:.0f} MiB (empty library: {empty:.0f} MiB)"),
        verdict("first query after start <= 0.5 s",
                run["first_query_s"] <= FIRST_QUERY_TARGET_S,  # type: ignore[operator]
                f"{run['first_query_s'] * 1000:.0f} ms (warm: "  # type: ignore[operator]
                f"{run['warm_first_query_s'] * 1000:.0f} ms)"),  # type: ignore[operator]
        verdict("unfiltered first page in-process <= 5 ms",
                inner["first_page_s"] <= FIRST_PAGE_TARGET_S,
                f"{inner['first_page_s'] * 1000:.2f} ms (SQLite's date index: "
                f"{inner['sqlite_page_s'] * 1000:.2f} ms)"),
    ]
    emit_result({"bench": "daemon_memory", "images": args.images, "in_process": inner,
                 "daemon": run, "empty_daemon_rss_mib": empty,
                 "pass": all(line.startswith("PASS") for line in lines)})
    return 0 if all(line.startswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
