"""Rescan of an unchanged library against a bare ``os.scandir`` + ``stat`` walk.

Target (issue): rescanning an UNCHANGED library of 100k files takes at most
1.5x the time of a bare scandir + stat walk of the same tree, measured in the
same run.

The tree (200 folders x 500 tiny valid PNGs with distinct content, named the
way downloaders name files: Pixiv, Twitter, yande.re, gallery-dl, plain) is
built once under ``bench/data/rescan_<files>/``. The catalogue is filled through the
catalogue's own write API (``apply_scan_batch`` with ``NewContent`` and
``FileRecord`` from each file's real ``stat`` and SHA-256), not by decoding
100k images, so that the measured ``scan_roots`` finds every file unchanged.

Then: one walk to warm the page cache, and ``--rounds`` alternations of the
bare walk and ``scan_roots``; medians and their ratio are printed, plus a
breakdown of where ``scan_roots`` spends its time.

    .venv/bin/python bench/rescan.py [--files 100000] [--folders 200] [--rounds 5] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import time
import zlib
from pathlib import Path

from _common import (
    DATA_DIR,
    emit_result,
    ensure_data_dir,
    fmt_ms,
    machine_line,
    median,
    progress,
    verdict,
)

TARGET_RATIO = 1.5
LAYOUT_VERSION = 1


# -- the tree -------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


_IHDR = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))  # 1x1 RGB
_IEND = _chunk(b"IEND", b"")


def tiny_png(index: int) -> bytes:
    """A valid 1x1 PNG whose pixel and text chunk make its SHA-256 unique."""
    pixel = bytes((index & 0xFF, (index >> 8) & 0xFF, (index >> 16) & 0xFF))
    idat = _chunk(b"IDAT", zlib.compress(b"\x00" + pixel))
    text = _chunk(b"tEXt", b"Comment\x00bench file %d" % index)
    return b"\x89PNG\r\n\x1a\n" + _IHDR + text + idat + _IEND


def folder_and_names(folder_index: int, per_folder: int, first: int) -> tuple[str, list[str]]:
    """One folder of a realistic library and its file names (downloader conventions)."""
    kind = folder_index % 5
    names: list[str] = []
    if kind in (0, 1):  # PixivBatchDownloader: pixiv/{user}-{user_id}/{illust}_p{page}.png
        user_id = 100000 + folder_index * 37
        folder = f"pixiv/artist{folder_index:03d}-{user_id}"
        for i in range(per_folder):
            illust = 60000000 + (first + i) // 3 * 7
            names.append(f"{illust}_p{(first + i) % 3}.png")
    elif kind == 2:  # PxIMSE's recommended pixiv name, flat per year
        folder = f"pixiv_flat/{2015 + folder_index % 10}/batch{folder_index:03d}"
        for i in range(per_folder):
            names.append(f"{200000 + folder_index}_{70000000 + first + i}_p0.png")
    elif kind == 3:  # Twitter Media Downloader
        folder = f"twitter/user{folder_index:03d}"
        for i in range(per_folder):
            tweet = 1223344556677889900 + (first + i) * 1000
            names.append(
                f"twitter_name{folder_index}(@user{folder_index})_20200131-235959_{tweet}_photo.png"
            )
    else:  # yande.re names with tags, and gallery-dl booru names
        folder = f"boorus/set{folder_index:03d}"
        for i in range(per_folder):
            n = first + i
            if i % 2:
                names.append(f"yande.re {400000 + n} long_hair smile thighhighs.png")
            else:
                md5 = hashlib.md5(str(n).encode()).hexdigest()
                names.append(f"gelbooru_{7000000 + n}_{md5}.png")
    return folder, names


def build_tree(tree: Path, files: int, folders: int) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    per_folder = -(-files // folders)
    written = 0
    started = time.perf_counter()
    for folder_index in range(folders):
        count = min(per_folder, files - written)
        if count <= 0:
            break
        folder, names = folder_and_names(folder_index, count, written)
        target = tree / folder
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            with open(target / name, "wb") as handle:
                handle.write(tiny_png(written))
            written += 1
        if folder_index % 20 == 19:
            progress(f"tree: {written}/{files} files")
    progress(f"tree: {written} files in {time.perf_counter() - started:.1f}s")


# -- the catalogue ----------------------------------------------------------------


def bare_walk(root: str) -> tuple[int, int]:
    """The baseline: os.scandir and one stat per file, nothing else."""
    files = 0
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files += 1
                    total += st.st_size
    return files, total


def fill_catalog(catalog_path: Path, root_name: str, root_path: str, batch: int) -> float:
    """Record every file of the tree as known, through the catalogue's write API."""
    from pximse.library.walk import walk_root
    from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

    for suffix in ("", "-wal", "-shm"):
        Path(str(catalog_path) + suffix).unlink(missing_ok=True)
    catalog = SqliteCatalog(catalog_path)
    started = time.perf_counter()
    try:
        root_id = catalog.ensure_root(root_name, root_path)
        walked = walk_root(root_path)
        items = sorted(walked.files.items())
        for start in range(0, len(items), batch):
            scan = ScanBatch(root_id)
            for path, (size, mtime_ns) in items[start : start + batch]:
                with open(path, "rb") as handle:
                    sha = hashlib.sha256(handle.read()).hexdigest()
                scan.new_content.append(
                    NewContent(
                        sha256=sha, filesize=size, format="png", width=1, height=1, frames=1,
                        animated=False, phash=None, thumbnail=False, mtime_ns=mtime_ns,
                    )
                )
                scan.files.append(FileRecord(path, size, mtime_ns, "ok", sha))
            catalog.apply_scan_batch(scan)
            done = min(start + batch, len(items))
            if (start // batch) % 10 == 9 or done == len(items):
                rate = done / (time.perf_counter() - started)
                progress(f"catalogue: {done}/{len(items)} files ({rate:.0f} files/s)")
        catalog.finish_root_scan(root_id)
    finally:
        catalog.close()
    return time.perf_counter() - started


def prepare(args: argparse.Namespace) -> tuple[Path, Path, dict[str, object]]:
    base = ensure_data_dir() / f"rescan_{args.files}"
    tree = base / "tree"
    catalog_path = base / "catalog.sqlite3"
    manifest_path = base / "manifest.json"
    wanted = {"version": LAYOUT_VERSION, "files": args.files, "folders": args.folders,
              "tree": str(tree.resolve())}
    manifest: dict[str, object] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    fresh = (
        not args.rebuild
        and {k: manifest.get(k) for k in wanted} == wanted
        and catalog_path.exists()
        and tree.is_dir()
    )
    if fresh:
        progress(f"reusing the tree and catalogue in {base} (--rebuild to make new ones)")
        return tree, catalog_path, manifest
    base.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    build_tree(tree, args.files, args.folders)
    fill_seconds = fill_catalog(catalog_path, "bench", str(tree.resolve()), args.batch)
    manifest = {**wanted, "fill_seconds": round(fill_seconds, 2), "fill_batch": args.batch}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return tree, catalog_path, manifest


# -- the measurement ----------------------------------------------------------------


def breakdown(catalog, root, rounds: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Where an unchanged rescan's time goes (each part timed alone, median of ``rounds``)."""
    from pximse.library.walk import walk_root

    root_path = str(root.path)
    root_id = catalog.ensure_root(root.name, root_path)
    parts: dict[str, list[float]] = {"walk_root": [], "signatures": [], "compare": [],
                                     "ensure+finish": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        walked = walk_root(root_path)
        t1 = time.perf_counter()
        stored = catalog.folder_signatures(root_id)
        offline = catalog.offline_files(root_id)
        t2 = time.perf_counter()
        changed = [f for f, scan in walked.folders.items()
                   if offline or stored.get(f) != scan.signature]
        t3 = time.perf_counter()
        catalog.ensure_root(root.name, root_path)
        catalog.finish_root_scan(root_id)
        t4 = time.perf_counter()
        assert not changed, f"{len(changed)} folders changed in an unchanged tree"
        parts["walk_root"].append(t1 - t0)
        parts["signatures"].append(t2 - t1)
        parts["compare"].append(t3 - t2)
        parts["ensure+finish"].append(t4 - t3)
    return {name: median(values) for name, values in parts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="files per apply_scan_batch")
    parser.add_argument("--rebuild", action="store_true", help="make a new tree and catalogue")
    args = parser.parse_args()

    from pximse.config import RootConfig, ScanConfig
    from pximse.library.scan import scan_roots
    from pximse.store.sqlite.catalog import SqliteCatalog

    print(f"rescan benchmark: {args.files} files in {args.folders} folders; {machine_line()}")
    tree, catalog_path, manifest = prepare(args)
    root_path = str(tree.resolve())
    if "fill_seconds" in manifest:
        print(f"catalogue filled through apply_scan_batch in {manifest['fill_seconds']} s"
              f" ({args.files / float(manifest['fill_seconds']):.0f} files/s,"
              f" batches of {manifest.get('fill_batch')})")

    root = RootConfig(name="bench", path=Path(root_path))
    scan_config = ScanConfig(workers=os.cpu_count() or 1)
    thumbnails = DATA_DIR / f"rescan_{args.files}" / "thumbnails"
    catalog = SqliteCatalog(catalog_path)

    warm_files, _ = bare_walk(root_path)  # warms the page cache (dentries, inodes)
    progress(f"warm-up walk: {warm_files} files")
    base_times: list[float] = []
    scan_times: list[float] = []
    reports = []
    try:
        for round_no in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            counted, _ = bare_walk(root_path)
            base_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = scan_roots(catalog, [root], thumbnail_dir=thumbnails, config=scan_config)
            scan_times.append(time.perf_counter() - t0)
            reports.append(report)
            print(f"round {round_no}: bare walk {fmt_ms(base_times[-1])} ({counted} files),"
                  f" scan_roots {fmt_ms(scan_times[-1])} (unchanged {report.unchanged},"
                  f" new {report.new_images}, linked {report.linked},"
                  f" changed {report.changed}, removed {report.removed},"
                  f" restored {report.restored}, errors {report.errors})", flush=True)
        parts = breakdown(catalog, root, 3)
    finally:
        catalog.close()

    base_med, scan_med = median(base_times), median(scan_times)
    ratio = scan_med / base_med
    print()
    print(f"bare scandir+stat walk: median {fmt_ms(base_med)}  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in base_times) + " ms)")
    print(f"scan_roots (unchanged): median {fmt_ms(scan_med)}  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in scan_times) + " ms)")
    print("scan_roots parts, each timed alone: "
          + ", ".join(f"{name} {fmt_ms(value)}" for name, value in parts.items()))
    print(f"ratio scan_roots / bare walk: {ratio:.2f}x (target <= {TARGET_RATIO}x)")

    nothing_changed = all(
        r.new_images == 0 and r.changed == 0 and r.removed == 0 and r.linked == 0
        and r.restored == 0 and r.errors == 0 and r.unchanged == args.files
        for r in reports
    )
    lines = [
        verdict("rescan reports nothing changed", nothing_changed,
                f"every run: unchanged == {args.files}, 0 new / 0 changed / 0 removed"
                if nothing_changed else "a run found changes; see the rounds above"),
        verdict("rescan <= 1.5x bare walk", ratio <= TARGET_RATIO,
                f"{ratio:.2f}x ({fmt_ms(scan_med)} vs {fmt_ms(base_med)})"),
    ]
    emit_result({
        "bench": "rescan",
        "files": args.files,
        "baseline_ms": base_med * 1000,
        "scan_ms": scan_med * 1000,
        "ratio": ratio,
        "target": f"<= {TARGET_RATIO}x",
        "parts_ms": {k: v * 1000 for k, v in parts.items()},
        "nothing_changed": nothing_changed,
        "pass": nothing_changed and ratio <= TARGET_RATIO,
        "verdicts": lines,
    })
    return 0 if nothing_changed and ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
