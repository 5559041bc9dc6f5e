"""Run the benchmarks and print one summary table.

Each benchmark runs as its own process (so that one's caches and memory do not
colour the next), its output streamed as it goes; the summary comes from the
``BENCH-RESULT`` line each prints at the end.

    .venv/bin/python bench/run_all.py                 # all of them
    .venv/bin/python bench/run_all.py --only rescan query
    .venv/bin/python bench/run_all.py --quick         # small sizes, a smoke test
    .venv/bin/python bench/run_all.py --rebuild       # regenerate the cached data

Exit status: 0 when every target passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _common import BENCH_DIR, REPO_DIR, RESULT_PREFIX

BENCHES = ("rescan", "query", "rss", "daemon", "vectors", "scan", "xmp", "hydrus",
           "watch_latency", "watch_burst", "watch_move", "watch_idle", "page", "migrate",
           "sse", "uploads", "clip_runtime", "index_unchanged", "first_run", "kill_loop",
           "ocr_strip")
QUICK = {"daemon": ["--images", "50000"], "vectors": ["--n", "100000", "--queries", "20"],
         "scan": ["--files", "100", "--rounds", "2"]}
SCRIPTS = {"daemon": "daemon_memory.py", "vectors": "vector_search.py",
           "scan": "scan_new_files.py"}
WATCH_QUICK = {"watch_latency": ["--files", "3"], "watch_burst": ["--files", "2000"],
               "watch_move": ["--files", "1000"], "watch_idle": ["--seconds", "10"]}


def command(name: str, args: argparse.Namespace) -> list[str]:
    python = sys.executable
    if name == "rescan":
        cmd = [python, str(BENCH_DIR / "rescan.py")]
        if args.quick:
            cmd += ["--files", "10000", "--folders", "20", "--rounds", "3"]
    elif name == "query":
        cmd = [python, str(BENCH_DIR / "query_latency.py")]
        if args.quick:
            cmd += ["--images", "50000", "--tags", "4000", "--runs", "3", "--sql-runs", "2"]
        elif args.sql_runs is not None:
            cmd += ["--sql-runs", str(args.sql_runs)]
    elif name == "xmp":
        cmd = [python, str(BENCH_DIR / "xmp_sidecars.py")]
        if args.quick:
            cmd += ["--images", "1000", "--sample", "10"]
    elif name == "hydrus":
        cmd = [python, str(BENCH_DIR / "hydrus_push.py")]
        if args.quick:
            cmd += ["--images", "1000"]
    elif name == "migrate":
        cmd = [python, str(BENCH_DIR / "server_migrate.py")]
        if args.quick:
            cmd += ["--images", "10000"]
    elif name == "page":
        cmd = [python, str(BENCH_DIR / "page_search.py")]
        if args.quick:
            cmd += ["--images", "20000", "--tags", "4000", "--runs", "3"]
    elif name == "sse":
        cmd = [python, str(BENCH_DIR / "sse_streams.py")]
        if args.quick:
            cmd += ["--searches", "100"]
    elif name == "uploads":
        cmd = [python, str(BENCH_DIR / "upload_memory.py")]
    elif name == "clip_runtime":
        cmd = [python, str(BENCH_DIR / "clip_runtime.py")]
        if args.quick:
            cmd += ["--rounds", "1"]
    elif name == "index_unchanged":
        cmd = [python, str(BENCH_DIR / "index_unchanged.py")]
        if args.quick:
            cmd += ["--files", "2000", "--rounds", "2"]
    elif name == "first_run":
        cmd = [python, str(BENCH_DIR / "first_run.py")]
    elif name == "kill_loop":
        cmd = [python, str(BENCH_DIR / "kill_loop.py")]
        if args.quick:
            cmd += ["--kills", "10", "--images", "40", "--max-wait", "15"]
    elif name == "ocr_strip":
        cmd = [python, str(BENCH_DIR / "ocr_strip.py")]
        if args.quick:
            cmd += ["--height", "9000"]
    elif name in SCRIPTS:
        cmd = [python, str(BENCH_DIR / SCRIPTS[name])] + (QUICK[name] if args.quick else [])
    elif name in WATCH_QUICK:
        cmd = [python, str(BENCH_DIR / f"{name}.py")]
        if args.quick:
            cmd += WATCH_QUICK[name]
    else:
        cmd = [python, str(BENCH_DIR / "idle_rss.py")]
        if args.quick:
            cmd += ["--no-big"]
    if args.rebuild and name in ("rescan", "query"):
        cmd.append("--rebuild")
    return cmd


def run(name: str, args: argparse.Namespace) -> tuple[dict[str, object] | None, float, int]:
    cmd = command(name, args)
    print(f"\n###### {name}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    result = None
    with subprocess.Popen(cmd, cwd=REPO_DIR, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX):])
                continue
            print(line, end="", flush=True)
    return result, time.perf_counter() - started, proc.returncode


def rows_for(name: str, result: dict[str, object] | None, code: int) -> list[tuple[str, ...]]:
    if result is None:
        return [(name, "(no result)", "", "", "", f"FAIL (exit {code})")]
    status = "PASS" if result.get("pass") else "FAIL"
    if name == "rescan":
        return [("rescan", f"{result['files']} files unchanged",
                 f"{result['scan_ms']:.0f} ms", f"walk {result['baseline_ms']:.0f} ms",
                 f"{result['ratio']:.2f}x (<= 1.5x)",
                 status if result.get("nothing_changed") else "FAIL (changes found)")]
    if name == "query":
        base = result.get("baseline", {})
        first = base.get("first_page", float("nan")) * 1000  # type: ignore[union-attr]
        rows = [
            ("query", f"p50, {result.get('images')} images", f"{result['p50_ms']:.1f} ms",
             f"page {first:.1f} ms", f"{result['p50_ms'] / first:.1f}x (< 50 ms)",
             _verdict(result, "p50")),
            ("query", "p95", f"{result['p95_ms']:.1f} ms", f"page {first:.1f} ms",
             f"{result['p95_ms'] / first:.1f}x (< 200 ms)", _verdict(result, "p95")),
            ("query", "cold max (first runs)", f"{result['cold_max_ms']:.0f} ms", "", "", "info"),
        ]
        over = result.get("over_timeout") or []
        if over:
            rows.append(("query", "queries over the 5 s timeout", str(len(over)),
                         "", "", "info: " + "; ".join(over)))  # type: ignore[arg-type]
        sql = result.get("sql_path")
        if isinstance(sql, dict):
            rows.append(("query", "SQL-only path p50 / p95",
                         f"{sql['p50_ms']:.0f} / {sql['p95_ms']:.0f} ms", "", "", "info"))
        return rows
    if name == "kill_loop":
        return [("kill_loop", f"{result['kills']} SIGKILLs of index and serve",
                 f"{result['seconds']:.0f} s", "", "integrity, nothing lost or redone", status)]
    if name == "ocr_strip":
        strip, page = result["strip"], result["page"]
        return [("ocr_strip", f"OCR of a strip {strip['view']}",  # type: ignore[index]
                 f"{strip['peak_rss_mb']:.0f} MB peak",  # type: ignore[index]
                 f"page {page['peak_rss_mb']:.0f} MB",  # type: ignore[index]
                 f"{result['rss_ratio']}x (< 1536 MB)", status)]
    if name == "xmp":
        return [
            ("xmp", f"rewrite sidecars, {result['images']} images",
             f"{result['rewrite_s']:.1f} s", f"exiftool per file {result['baseline_s']:.0f} s",
             f"{result['ratio']:.0f}x faster; {result['rewrite_10k_s']:.0f} s per 10k (<= 60 s)",
             status),
            ("xmp", "same, CPU time / cores used (load-free)",
             f"{result.get('rewrite_idle_10k_s', float('nan')):.0f} s per 10k", "", "",
             f"info (load average {result.get('load_average')})"),
            ("xmp", "nothing changed: read all, write none", f"{result['unchanged_s']:.1f} s",
             "", "", "info"),
        ]
    if name == "hydrus":
        return [
            ("hydrus", f"push, nothing changed, {result['images']} images",
             f"{result['unchanged_s']:.2f} s, 0 req" if status == "PASS" else "see log",
             f"first push {result['first_s']:.1f} s, {result['first_requests']} req",
             f"{result['ratio']:.0f}x faster (0 requests)", status),
            ("hydrus", "push after a 1% change", f"{result['changed_s']:.2f} s",
             f"{result['changed_requests']} requests", "", "info"),
        ]
    if name == "page":
        return [("page", f"search in the page, {result['images']} images",
                 f"{result['page_ms']:.0f} ms", f"API fetch {result['api_ms']:.0f} ms",
                 f"{result['ratio']:.2f}x (<= 1.5x + 100 ms, < 1 s)", status)]
    if name == "sse":
        return [("sse", f"search p95, {result['streams']} event streams open",
                 f"{result['streams_p95_s'] * 1000:.0f} ms",  # type: ignore[operator]
                 f"no streams {result['baseline_p95_s'] * 1000:.0f} ms",  # type: ignore[operator]
                 "(< 100 ms)", status)]
    if name == "uploads":
        return [("uploads", "six 100 MP query images at once",
                 f"{result['bounded_grown'] / 2**20:.0f} MB",  # type: ignore[operator]
                 f"decoded whole {result['baseline_grown'] / 2**20:.0f} MB",  # type: ignore[operator]
                 "(< 300 MB)", status)]
    if name.startswith("watch_"):
        return _watch_rows(name, result, status)
    if name == "clip_runtime":
        base = f"PyTorch {result['torch_images_per_s']} img/s"
        return [
            (name, "ViT-B-32 onnxruntime fp32", f"{result['onnx_fp32_images_per_s']} img/s",
             base, f"{result['fp32_ratio']}x (>= 2x)",
             "PASS" if float(result["fp32_ratio"]) >= 2 else "FAIL"),  # type: ignore[arg-type]
            (name, "ViT-B-32 onnxruntime int8", f"{result['onnx_int8_images_per_s']} img/s",
             base, f"{result['int8_ratio']}x (>= 2x)",
             "PASS" if float(result["int8_ratio"]) >= 2 else "FAIL"),  # type: ignore[arg-type]
        ]
    if name == "index_unchanged":
        return [(name, f"pximse index, {result['files']} unchanged files",
                 f"{result['index_s']} s ({result['index_cpu_s']} s CPU)",
                 f"walk {result['walk_s']} s", f"<= 1.5x + 1 s = {result['limit_s']} s",
                 f"{status} (load {result['load']})")]
    if name == "first_run":
        return [(name, "make run until serving, fresh venv", f"{result['install_and_serve_s']} s",
                 f"installed: {result['serve_s']} s",
                 f"{int(result['venv_bytes']) / 1e9:.2f} GB (<= 1.5 GB, no torch)",  # type: ignore[call-overload]
                 status)]
    if name in SCRIPTS:
        return _store_and_scan_rows(name, result, status)
    base = result.get("baseline", {})
    rows = [("idle_rss", "serve --no-scan, fresh", f"{result.get('rss_mb', 0):.1f} MiB",
             f"python {base.get('rss_mb', 0):.1f} MiB",  # type: ignore[union-attr]
             f"{result.get('ratio', 0):.1f}x (< 150 MB)", status)]
    big = result.get("big")
    if isinstance(big, dict):
        after = big["after_tag_searches"]["rss_mb"]
        rows.append(("idle_rss", "same, 1M catalogue after searches", f"{after:.0f} MiB",
                     "", "", "info"))
    return rows


def _store_and_scan_rows(name: str, r: dict[str, Any], status: str) -> list[tuple[str, ...]]:
    if name == "daemon":
        inner, run = r["in_process"], r["daemon"]
        return [
            (name, f"RSS after 20 queries, {r['images']} images", f"{run['rss_mib']:.0f} MiB",
             f"empty library {r['empty_daemon_rss_mib']:.0f} MiB", "(<= 450 MiB)", status),
            (name, "first query after start", f"{run['first_query_s'] * 1000:.0f} ms",
             f"warm {run['warm_first_query_s'] * 1000:.0f} ms", "(<= 0.5 s)", status),
            (name, "unfiltered first page, in-process", f"{inner['first_page_s'] * 1000:.1f} ms",
             f"SQLite {inner['sqlite_page_s'] * 1000:.1f} ms", "(<= 5 ms)", status),
        ]
    if name == "vectors":
        rows = []
        for share, line in r["filtered"].items():
            rows.append((name, f"{float(share):.1%} filter, {r['n']} vectors",
                         f"{line['ours_p50_ms']:.1f} ms, recall {line['ours_recall']:.3f}",
                         f"flat+selector {line['flat_p50_ms']:.1f} ms",
                         f"{line['flat_p50_ms'] / line['ours_p50_ms']:.1f}x faster", status))
        return rows
    return [(name, f"scan of {r['files']} new files", f"median {r['ratio']:.2f}x",
             "read + SHA-256 + draft decode", "(<= 1.3x)", status)]


def _watch_rows(name: str, r: dict[str, Any], status: str) -> list[tuple[str, ...]]:
    if name == "watch_latency":
        plain = "PASS" if r["max_s"] <= 2.0 else "FAIL"
        tagged = "PASS" if r["model_max_s"] <= 2.0 + r["model_own_s"] else "FAIL"
        return [
            (name, "new file searchable (filename)", f"max {r['max_s']:.2f} s",
             f"scan of it {r['baseline_s'] * 1000:.0f} ms",
             f"median {r['ratio']:.0f}x (<= 2 s)", plain),
            (name, "same, by the model's tag", f"max {r['model_max_s']:.2f} s",
             f"model {r['model_own_s'] * 1000:.0f} ms", "(<= 2 s + model)", tagged),
        ]
    if name == "watch_burst":
        return [(name, f"{r['files']}-file burst absorbed", f"{r['watched_s']:.1f} s",
                 f"index {r['baseline_s']:.1f} s", f"{r['ratio']:.2f}x (<= 1.2x)", status)]
    if name == "watch_move":
        return [(name, f"{r['files']} files moved across roots", f"{r['move_s']:.2f} s",
                 f"index {r['baseline_s']:.1f} s",
                 f"{r['ratio']:.3f}x (< 10 s, {r['pending']} model runs)", status)]
    return [(name, "idle daemon CPU, watching", f"{r['share'] * 100:.2f}%",
             f"not watching {r['baseline_share'] * 100:.2f}%",
             f"{r['share'] / r['baseline_share'] if r['baseline_share'] else 0:.1f}x (< 1%)",
             status)]


def _verdict(result: dict[str, object], key: str) -> str:
    for line in result.get("verdicts", []):  # type: ignore[union-attr]
        if f"{key} <" in line:
            return line.split(":", 1)[0]
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--rebuild", action="store_true", help="regenerate cached data")
    parser.add_argument("--sql-runs", type=int, default=None,
                        help="query: passes on the SQL-only path (0 to skip)")
    args = parser.parse_args()

    table: list[tuple[str, ...]] = []
    all_pass = True
    for name in BENCHES:
        if name not in args.only:
            continue
        result, seconds, code = run(name, args)
        print(f"###### {name}: {seconds:.0f} s, exit {code}")
        table += rows_for(name, result, code)
        all_pass &= bool(result and result.get("pass"))

    header = ("bench", "measure", "value", "baseline", "ratio (target)", "verdict")
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"\n{'ALL PASS' if all_pass else 'SOME TARGETS MISSED'}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
