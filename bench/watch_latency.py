"""A new file in a watched folder is searchable within 2 s of its last write.

A real ``pximse serve`` watches a root; a picture named the way Pixiv
downloads are (``<user>_<post>_p0.png``) is written into it, and the API is
asked, every 10 ms, for ``userid:<user>`` (the filename source) until the
picture is found (a first file, not measured, loads the query's column). With
a model (a tiny ONNX tagger, so that its own time is small and known) the
daemon is asked for the tag the model gives it, and the target is 2 s plus
the model's own time for one image.

Baseline, in the same run: indexing the same kind of file once with
``scan_roots`` in-process (the work the watcher cannot avoid); the ratio says
what watching adds on top (notification, debounce, the HTTP round trip).

    .venv/bin/python bench/watch_latency.py [--files 10]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import REPO_DIR, emit_result, machine_line, median, progress, verdict
from _watch_common import picture_bytes, start_daemon, wait_for

TARGET_S = 2.0


def baseline(work: Path, files: int) -> float:
    from pximse.config import RootConfig, ScanConfig
    from pximse.library.scan import scan_roots
    from pximse.store.sqlite.catalog import SqliteCatalog

    root = work / "baseline"
    root.mkdir()
    catalog = SqliteCatalog(work / "baseline.sqlite3")
    times = []
    for i in range(files):
        (root / f"{900 + i}_{5000 + i}_p0.png").write_bytes(picture_bytes(900 + i))
        started = time.perf_counter()
        scan_roots(catalog, [RootConfig(name="b", path=root)], thumbnail_dir=work / "bt",
                   config=ScanConfig(workers=1))
        times.append(time.perf_counter() - started)
    catalog.close()
    return median(times)


def latencies(port: int, library: Path, files: int, first_user: int, query: str,
              color: tuple[int, int, int] | None = None) -> list[float]:
    found = []
    for i in range(files):
        user = first_user + i
        path = library / f"{user}_{7000 + user}_p0.png"
        data = picture_bytes(user, (96, 72), color=color)
        with open(path, "wb") as out:
            out.write(data)
        written = time.perf_counter()

        def searchable(user: int = user) -> bool:
            body = httpx.get(f"http://127.0.0.1:{port}/api/search",
                             params={"q": query.format(user=user)}, timeout=10).json()
            return bool(body.get("total"))

        wait_for(searchable, 60)
        found.append(time.perf_counter() - written)
        time.sleep(0.3)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-latency-"))
    try:
        base = baseline(work, args.files)
        progress(f"baseline: scan_roots of one new file {base * 1000:.0f} ms")

        library = work / "lib"
        library.mkdir()
        daemon, port = start_daemon(work / "plain", {"lib": library}, "--no-models")
        try:
            latencies(port, library, 1, 50, "userid:{user}")  # loads the query's column
            plain = latencies(port, library, args.files, 100, "userid:{user}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        progress(f"without models: median {median(plain):.2f} s, max {max(plain):.2f} s")

        sys.path.insert(0, str(REPO_DIR / "tests"))
        from helpers.wd14_model import NAME, build_model, make_weights

        model = build_model(work / "weights" / NAME, *make_weights(0))
        tagged_lib = work / "lib2"
        tagged_lib.mkdir()
        daemon, port = start_daemon(
            work / "models", {"lib": tagged_lib},
            extra=f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\n'
                  'ocr = ""\nclip = ""\n')
        try:
            # The first file starts the worker and loads the model: not measured.
            latencies(port, tagged_lib, 1, 400, "userid:{user} model:red_theme:>0.5",
                      (230, 20, 20))
            tagged = latencies(port, tagged_lib, args.files, 500,
                               "userid:{user} model:red_theme:>0.5", (230, 20, 20))
            status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=10).json()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        rate = status["indexing"]["stages"]["tagger"]["rate"] or 0.0
        model_s = 1.0 / rate if rate else 0.0
        progress(f"with the tagger: median {median(tagged):.2f} s, max {max(tagged):.2f} s "
                 f"(its own time per image {model_s * 1000:.0f} ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = median(plain) / base if base else float("nan")
    print(f"baseline (scan_roots of one file): {base * 1000:.0f} ms; watched: median "
          f"{median(plain) * 1000:.0f} ms, max {max(plain) * 1000:.0f} ms; ratio {ratio:.1f}x")
    ok_plain = max(plain) <= TARGET_S
    ok_model = max(tagged) <= TARGET_S + model_s
    verdicts = [
        verdict("searchable by filename source", ok_plain,
                f"max {max(plain):.2f} s over {args.files} files (target <= {TARGET_S} s)"),
        verdict("searchable by the model's tag", ok_model,
                f"max {max(tagged):.2f} s (target <= {TARGET_S} s + {model_s:.2f} s model time)"),
    ]
    emit_result({"pass": ok_plain and ok_model, "baseline_s": base,
                 "median_s": median(plain), "max_s": max(plain), "ratio": ratio,
                 "model_median_s": median(tagged), "model_max_s": max(tagged),
                 "model_own_s": model_s, "verdicts": verdicts})
    return 0 if ok_plain and ok_model else 1


if __name__ == "__main__":
    sys.exit(main())
