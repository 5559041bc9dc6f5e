"""A folder of 5k already-indexed files moved to another root: the catalogue is
updated in under 10 s, with zero model runs.

Two roots are watched; 5k distinct small pictures in one folder are indexed
(and marked done by a model stage, as the background indexer would leave
them), then the folder is moved into the other root in one rename. The clock
runs until every file is catalogued at its new path and none at the old one.
Zero model runs: no new content, and nothing pending for the model stage.

Baseline, in the same run: indexing the same 5k files from scratch with
``scan_roots`` (what a tool that does not recognise moves would pay, before
its models run again).

    .venv/bin/python bench/watch_move.py [--files 5000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_result, machine_line, progress, verdict
from _watch_common import wait_for, write_tree

TARGET_S = 10.0


def main() -> int:
    from pximse.config import RootConfig, ScanConfig
    from pximse.library.scan import scan_roots
    from pximse.library.watch import LibraryWatcher
    from pximse.store.sqlite.catalog import SqliteCatalog

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-move-"))
    config = ScanConfig()
    try:
        one, two = work / "one", work / "two"
        two.mkdir()
        progress(f"making {args.files} files")
        write_tree(one / "album", args.files, per_folder=args.files)
        roots = [RootConfig(name="one", path=one), RootConfig(name="two", path=two)]
        catalog = SqliteCatalog(work / "catalog.sqlite3")
        started = time.perf_counter()
        scan_roots(catalog, roots, thumbnail_dir=work / "t", config=config)
        baseline = time.perf_counter() - started
        ids = [row[0] for row in catalog.db.reader().execute("SELECT id FROM content")]
        catalog.record_stages([(cid, "tagger", "bench-model", None) for cid in ids])
        contents = len(ids)
        progress(f"baseline: indexing {args.files} files {baseline:.1f} s")

        watcher = LibraryWatcher(catalog, roots, thumbnail_dir=work / "t", scan_config=config)
        watcher.start()
        wait_for(lambda: len(watcher.modes) == 2, 30)
        time.sleep(0.5)
        reader = catalog.db.reader()

        def moved() -> bool:
            new = reader.execute("SELECT count(*) FROM file f JOIN root r ON r.id = f.root_id"
                                 " WHERE r.name = 'two' AND f.state = 'ok'").fetchone()[0]
            old = reader.execute("SELECT count(*) FROM file f JOIN root r ON r.id = f.root_id"
                                 " WHERE r.name = 'one'").fetchone()[0]
            return bool(new == args.files and old == 0)

        started = time.perf_counter()
        (one / "album").rename(two / "album")
        wait_for(moved, 600, 0.02)
        elapsed = time.perf_counter() - started
        watcher.stop()
        new_content = reader.execute("SELECT count(*) FROM content").fetchone()[0] - contents
        pending = catalog.count_pending("tagger", "bench-model")
        catalog.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = elapsed / baseline
    print(f"moved {args.files} files across roots: catalogue updated in {elapsed:.2f} s "
          f"({new_content} new content, {pending} images pending for the model); "
          f"indexing them from scratch {baseline:.1f} s; ratio {ratio:.3f}x")
    ok_time = elapsed < TARGET_S
    ok_models = new_content == 0 and pending == 0
    verdicts = [verdict("5k folder move", ok_time, f"{elapsed:.2f} s (target < {TARGET_S} s)"),
                verdict("zero model runs", ok_models,
                        f"{new_content} new content, {pending} pending")]
    emit_result({"pass": ok_time and ok_models, "files": args.files, "move_s": elapsed,
                 "baseline_s": baseline, "ratio": ratio, "new_content": new_content,
                 "pending": pending, "verdicts": verdicts})
    return 0 if ok_time and ok_models else 1


if __name__ == "__main__":
    sys.exit(main())
