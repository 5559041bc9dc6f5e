"""A burst of 10k new files in a watched folder is absorbed in at most 1.2x
the time ``pximse index`` takes on the same files.

The files (distinct small PNGs) are made once in a staging folder on the same
file system, then moved into the watched root one by one (10k create events,
as fast as the OS renames), and the clock runs until every file is in the
catalogue. Baseline, in the same run: ``scan_roots`` (what ``pximse index``
runs) on the same files in a fresh catalogue, with the same pool.

    .venv/bin/python bench/watch_burst.py [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_result, machine_line, progress, verdict
from _watch_common import wait_for, write_tree

TARGET_RATIO = 1.2


def count_ok(catalog: object) -> int:
    return int(catalog.db.reader().execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM file WHERE state = 'ok'").fetchone()[0])


def main() -> int:
    from pximse.config import RootConfig, ScanConfig
    from pximse.library.scan import scan_roots
    from pximse.library.watch import LibraryWatcher
    from pximse.store.sqlite.catalog import SqliteCatalog

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-burst-"))
    config = ScanConfig()
    try:
        progress(f"making {args.files} files")
        staged = write_tree(work / "staged", args.files, per_folder=args.files)
        base_root = work / "baseline"
        shutil.copytree(work / "staged", base_root)

        catalog = SqliteCatalog(work / "baseline.sqlite3")
        started = time.perf_counter()
        report = scan_roots(catalog, [RootConfig(name="b", path=base_root)],
                            thumbnail_dir=work / "bt", config=config)
        baseline = time.perf_counter() - started
        catalog.close()
        progress(f"baseline: scan_roots {baseline:.1f} s ({report.new_images} new images)")

        library = work / "lib"
        (library / "burst").mkdir(parents=True)
        root = RootConfig(name="lib", path=library)
        catalog = SqliteCatalog(work / "watched.sqlite3")
        watcher = LibraryWatcher(catalog, [root], thumbnail_dir=work / "wt", scan_config=config)
        watcher.start()
        wait_for(lambda: watcher.modes.get("lib") == "watching", 30)
        time.sleep(0.5)
        started = time.perf_counter()
        for path in staged:
            os.rename(path, library / "burst" / path.name)
        moved = time.perf_counter() - started
        wait_for(lambda: count_ok(catalog) == args.files, 3600, 0.05)
        watched = time.perf_counter() - started
        watcher.stop()
        batches = watcher.batches
        catalog.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = watched / baseline
    print(f"burst of {args.files} files (moved in over {moved:.1f} s) absorbed in "
          f"{watched:.1f} s, {batches} batches; pximse index (scan_roots) {baseline:.1f} s; "
          f"ratio {ratio:.2f}x")
    ok = ratio <= TARGET_RATIO
    line = verdict("10k burst", ok, f"{ratio:.2f}x the time of pximse index "
                                    f"(target <= {TARGET_RATIO}x)")
    emit_result({"pass": ok, "files": args.files, "watched_s": watched, "baseline_s": baseline,
                 "ratio": ratio, "batches": batches, "verdicts": [line]})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
