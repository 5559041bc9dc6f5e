"""Memory taken by six 100-megapixel query images decoded at once.

Three PNGs and three JPEGs of 10000 × 10000 pixels (a few MB each: the kind of
file a web page can send). Each way runs in a fresh process, its memory read
from /proc (the peak is reset before the decodes start), in the same run:

- baseline: the decode query images had before (the scanner's: Pillow decodes
  a PNG whole, a JPEG scaled in the decoder), six threads at once;
- bounded: ``decode_query_image`` as the API runs it: at most one decode per
  CPU at once, PNG in bands, every decode within the shared budget.

Pass: the bounded way grows the process by less than 300 MB. (A real daemon
answering six such uploads at once is measured by
tests/test_web_security.py, which holds it to the same bound.)

    .venv/bin/python bench/upload_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import DATA_DIR, emit_result, machine_line, progress, verdict

BOUND = 300 << 20
SIDE = 10_000


def make_images(folder: Path) -> list[Path]:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    png, jpeg = folder / "upload-100mp.png", folder / "upload-100mp.jpg"
    if not png.exists():
        progress("drawing a 100 MP PNG")
        image = Image.new("RGB", (SIDE, SIDE), (40, 90, 160))
        draw = ImageDraw.Draw(image)
        for i in range(0, SIDE, 500):
            draw.rectangle((i, i // 2, i + 300, i // 2 + 4000), fill=(i % 255, 200, 30))
        image.save(png, "PNG", compress_level=1)
    if not jpeg.exists():
        progress("drawing a 100 MP JPEG")
        image = Image.new("RGB", (SIDE, SIDE), (200, 60, 60))
        ImageDraw.Draw(image).ellipse((1000, 1000, 9000, 9000), fill=(20, 160, 90))
        image.save(jpeg, "JPEG", quality=70)
    return [png, jpeg, png, jpeg, png, jpeg]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) << 10
    raise RuntimeError(field)


def child(way: str, paths: list[str]) -> None:
    from pximse.library.probe import decode_image
    from pximse.library.query_image import decode_query_image

    slots = threading.Semaphore(os.cpu_count() or 1)

    def baseline(path: str) -> tuple[int, int]:
        return decode_image(path, preview_size=448, max_pixels=100_000_000).preview.size

    def bounded(path: str) -> tuple[int, int]:
        with slots:
            return decode_query_image(path, name=path, max_pixels=100_000_000).size

    decode = baseline if way == "baseline" else bounded
    decode(paths[1])  # imports and Pillow's first-use costs are not the uploads'
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    with ThreadPoolExecutor(len(paths)) as pool:
        sizes = list(pool.map(decode, paths))
    took = time.perf_counter() - started
    print(json.dumps({"grown": _status("VmHWM") - before, "seconds": took, "sizes": sizes}))


def run(way: str, paths: list[Path]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", way, *map(str, paths)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return 0
    print(machine_line())
    paths = make_images(DATA_DIR / "uploads")
    results = {}
    for way in ("baseline", "bounded"):
        progress(f"{way}: six decodes at once")
        results[way] = run(way, paths)
        print(f"{way:9} grew {results[way]['grown'] / 2**20:7.0f} MB in "
              f"{results[way]['seconds']:5.1f} s")
    ratio = results["baseline"]["grown"] / max(1, results["bounded"]["grown"])
    ok = results["bounded"]["grown"] < BOUND
    verdict("upload_memory", ok, f"six 100 MP query images grew the process by "
            f"{results['bounded']['grown'] / 2**20:.0f} MB (bound {BOUND >> 20} MB; the "
            f"decode before took {results['baseline']['grown'] / 2**20:.0f} MB, "
            f"{ratio:.1f}x)")
    emit_result({"bench": "upload_memory", "pass": ok, **{
        f"{way}_{key}": value for way, r in results.items() for key, value in r.items()
        if key != "sizes"}})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
