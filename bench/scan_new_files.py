"""Scanning new illustrations: one read per file against the bare minimum.

    .venv/bin/python bench/scan_new_files.py              # 1,000 files, 3 rounds
    .venv/bin/python bench/scan_new_files.py --files 200 --rounds 2

Target: ``scan_roots`` over 1,000 new files (JPEG, PNG and WebP, 1000-3000 px,
0.5-3 MB; ``_scan_data.py``) takes at most 1.3x the baseline, measured in the
same run on both cores (a pool of 2 processes each): every file read once,
hashed (SHA-256) and decoded once at the thumbnail size (JPEGs by a draft
straight to it; PNG and WebP have no draft and decode whole). What the scan
does beyond that: the pHash, the thumbnail (resized and written as WebP), the
catalogue's rows.

The two are interleaved and repeated (``--rounds``), each scan into a fresh
data folder, the files in the OS cache for both (read once before); the ratio
is the median of the rounds, with its spread. Beside the wall time, each side's
CPU seconds (this process and its pool's processes, reaped when the pool
shuts down) give a second ratio: on a machine shared with other jobs the wall
time of a round swings with their load, the CPU time far less. Also printed: the same scan
through the catalogue's older two-read path (hash every file, then read and
decode the new ones), and how far the pHash moved from the ways it was taken
before (``phash_version`` 1: from a preview twice the thumbnail's size; 2: from
the thumbnail-sized decode with a reducing gap of 3.0), the measurement behind
``PHASH_DRIFT``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from _common import emit_result, ensure_data_dir, machine_line, median, progress, verdict
from _scan_data import describe, make_scan_library
from PIL import Image

TARGET = 1.3
THUMBNAIL = 256


def baseline_one(path: str) -> int:
    """Read, SHA-256, one decode at the thumbnail size (a JPEG draft when it can)."""
    with open(path, "rb") as handle:
        data = handle.read()
    hashlib.sha256(data).hexdigest()
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    scale = min(1.0, THUMBNAIL / max(width, height))
    if image.format == "JPEG":
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    image.load()
    return image.size[0]


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline(paths: list[str], workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of the baseline over ``paths``."""
    started, cpu = time.perf_counter(), cpu_seconds()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(baseline_one, paths, chunksize=8))
    return time.perf_counter() - started, cpu_seconds() - cpu


def pool_start(workers: int) -> float:
    """What starting the pool costs (both sides pay it once per run)."""
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(abs, range(workers)))
    return time.perf_counter() - started


def scan(library: Path, workdir: Path, workers: int, one_read: bool
         ) -> tuple[float, float, object]:
    """Wall and CPU seconds of ``scan_roots`` over ``library``, and its report."""
    from pximse.config import RootConfig, ScanConfig
    from pximse.library import scan as scan_module
    from pximse.store.sqlite.catalog import SqliteCatalog

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    catalog = SqliteCatalog(workdir / "catalog.sqlite3")
    if not one_read:  # the older path: every file hashed, then the new ones decoded
        catalog.content_lookup = None  # type: ignore[assignment,method-assign]
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        report = scan_module.scan_roots(catalog, [RootConfig(name="lib", path=library)],
                                        thumbnail_dir=workdir / "thumbs",
                                        config=ScanConfig(workers=workers))
        return time.perf_counter() - started, cpu_seconds() - cpu, report
    finally:
        catalog.close()


def phash_drift(paths: list[str]) -> dict[int, np.ndarray]:
    """Bits between the pHash as the scanner takes it now and as each older
    ``phash_version`` took it: 1, from a preview at most 512 px (JPEGs drafted to
    at least 512 x 512); 2, from the thumbnail-sized decode shrunk with a reducing
    gap of 3.0."""
    from pximse.library import probe

    drift: dict[int, list[int]] = {1: [], 2: []}
    for path in paths:
        new = probe.probe_image(path, None, thumbnail_size=THUMBNAIL)
        assert isinstance(new, probe.ImageFacts), new
        for version, box, draft_box in ((1, 2 * THUMBNAIL, (2 * THUMBNAIL, 2 * THUMBNAIL)),
                                        (2, THUMBNAIL, None)):
            image = Image.open(path)
            width, height = image.size
            if image.format == "JPEG":
                image.draft("RGB", draft_box or probe._fit(width, height, THUMBNAIL))
            image.load()
            frame = image.convert("RGB")
            width, height = frame.size
            scale = box / max(width, height)
            if scale < 1:
                frame = frame.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                     Image.Resampling.LANCZOS, reducing_gap=3.0)
            old = probe._phash(frame)
            drift[version].append(bin((old ^ new.phash) & (2**64 - 1)).count("1"))
    return {version: np.array(bits) for version, bits in drift.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--drift-files", type=int, default=200,
                        help="files the pHash drift is measured on (one process)")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    data = ensure_data_dir().resolve()
    library = make_scan_library(data, args.files, progress)
    paths = sorted(str(p) for p in library.iterdir() if not p.name.startswith("."))
    print(f"library: {describe(library)}", flush=True)
    for path in paths:  # into the OS cache for both sides
        with open(path, "rb") as handle:
            handle.read()
    work = Path(tempfile.mkdtemp(prefix="scan-bench-", dir=data))
    rounds = []
    try:
        progress("warming: one untimed round of each")
        baseline(paths[:50], args.workers)
        scan(library, work / "warm", args.workers, True)
        for number in range(args.rounds):
            load = os.getloadavg()[0]
            order = ("baseline", "scan") if number % 2 == 0 else ("scan", "baseline")
            times: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for phase in order:
                if phase == "baseline":
                    times[phase], cpu[phase] = baseline(paths, args.workers)
                else:
                    times[phase], cpu[phase], report = scan(
                        library, work / f"round-{number}", args.workers, True)
                    assert report.new_images == len(paths), report.to_json()  # type: ignore[attr-defined]
            ratio = times["scan"] / times["baseline"]
            cpu_ratio = cpu["scan"] / cpu["baseline"]
            rounds.append({"baseline_s": times["baseline"], "scan_s": times["scan"],
                           "ratio": ratio, "baseline_cpu_s": cpu["baseline"],
                           "scan_cpu_s": cpu["scan"], "cpu_ratio": cpu_ratio, "load": load})
            progress(f"round {number + 1}: baseline {times['baseline']:.1f} s "
                     f"({cpu['baseline']:.1f} s CPU), scan {times['scan']:.1f} s "
                     f"({cpu['scan']:.1f} s CPU): {ratio:.2f}x, CPU {cpu_ratio:.2f}x "
                     f"(load {load:.1f})")
        two_reads, two_reads_cpu, _ = scan(library, work / "two-reads", args.workers, False)
        start_cost = pool_start(args.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress("pHash drift between the two ways of taking it")
    drift = phash_drift(paths[:args.drift_files])

    ratios = [r["ratio"] for r in rounds]
    cpu_ratios = [r["cpu_ratio"] for r in rounds]
    base = median([r["baseline_s"] for r in rounds])
    base_cpu = median([r["baseline_cpu_s"] for r in rounds])
    ours = median([r["scan_s"] for r in rounds])
    print(f"\n{len(paths)} new files, {args.workers} processes "
          f"(starting the pool: {start_cost:.2f} s, paid by both)")
    for i, r in enumerate(rounds, 1):
        print(f"  round {i}: baseline {r['baseline_s']:.2f} s "
              f"({r['baseline_s'] / len(paths) * 1000:.1f} ms a file), scan {r['scan_s']:.2f} s "
              f"({r['scan_s'] / len(paths) * 1000:.1f} ms a file): {r['ratio']:.2f}x; CPU "
              f"{r['baseline_cpu_s']:.2f} s and {r['scan_cpu_s']:.2f} s: "
              f"{r['cpu_ratio']:.2f}x; load average {r['load']:.1f}")
    print(f"CPU time: median {median(cpu_ratios):.2f}x (spread {min(cpu_ratios):.2f}-"
          f"{max(cpu_ratios):.2f})")
    print(f"the older two-read path (hash all, then read and decode the new): "
          f"{two_reads:.2f} s, {two_reads_cpu:.2f} s CPU ({two_reads / base:.2f}x and "
          f"{two_reads_cpu / base_cpu:.2f}x the baseline's medians)")
    histograms = {version: np.bincount(bits) for version, bits in drift.items()}
    for version, bits in drift.items():
        print(f"pHash drift from version {version} on {len(bits)} of these files: mean "
              f"{bits.mean():.2f} bits, max {bits.max()}; " + ", ".join(
                  f"{n} bits: {count}" for n, count in enumerate(histograms[version]) if count))
    line = verdict("scan of new files / read + SHA-256 + one draft decode",
                   median(ratios) <= TARGET,
                   f"median {median(ratios):.2f}x over {len(ratios)} rounds (spread "
                   f"{min(ratios):.2f}-{max(ratios):.2f}; {ours:.1f} s vs {base:.1f} s); "
                   f"CPU time {median(cpu_ratios):.2f}x; target <= {TARGET}x")
    emit_result({"bench": "scan_new_files", "files": len(paths), "rounds": rounds,
                 "ratio": median(ratios), "cpu_ratio": median(cpu_ratios),
                 "two_reads_s": two_reads, "two_reads_cpu_s": two_reads_cpu,
                 "phash_drift": {version: {"mean": float(bits.mean()), "max": int(bits.max()),
                                           "histogram": histograms[version].tolist()}
                                 for version, bits in drift.items()},
                 "pass": line.startswith("PASS")})
    return 0 if line.startswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
