"""OCR of a webtoon strip: peak memory and time, against a page read the same way.

    .venv/bin/python bench/ocr_strip.py                 # a 720x30000 strip, a 1000x1400 page

Each image is read as the indexing worker reads it (the OCR stage's view of
it, the engine's tiles) in a process of its own; the parent takes that
process's peak RSS from the kernel (``wait4``) and its time. The page, read
the same way in the same run, is the baseline. Targets: the strip's peak RSS
under 1.5 GB (the worker's budget), every line of text read once. The strip
is drawn panel after panel with a caption in each, so no tile is blank (the
engine skips flat gutters; this measures the worst case). Also printed: the
detector input one read of the whole strip would have had (RapidOCR cuts the
long side to 2000 px, then raises the short side to 736 px) against the
largest tile's. Times depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_result, machine_line, progress, verdict
from PIL import Image, ImageDraw, ImageFont

READ = """
import json, sys, time
from PIL import Image
from pximse.models.ocr import RapidOcrEngine, tiles
from pximse.pipeline.stages import OcrStage
image = Image.open(sys.argv[1]).convert("RGB")
stage = OcrStage(RapidOcrEngine())
view = image.resize(stage.view_size(*image.size))
started = time.perf_counter()
[lines] = stage.run([view])
print(json.dumps({"seconds": time.perf_counter() - started, "view": view.size,
                  "tiles": [t.box for t in tiles(*view.size)],
                  "lines": [line.text for line in lines]}))
"""
NAMES = ("ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA",
         "JULIET", "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO",
         "SIERRA", "TANGO", "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU")
"""Captions in words (digits and letters such as 0 and O are told apart by the
recogniser no better than by a person)."""
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for candidate in FONT_CANDIDATES:
        if os.path.exists(candidate):
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default()


def draw_strip(path: Path, width: int, height: int) -> list[str]:
    """Panels of shapes with a caption each: every tile has something in it."""
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    captions = []
    for number, top in enumerate(range(0, height - 600, 1500)):
        pen.rectangle((20, top + 20, width - 20, top + 1400), outline="black", width=4,
                      fill=(235 - number % 5 * 10, 225, 210))
        pen.ellipse((80, top + 300, width - 80, top + 1100), fill=(120, 150 + number % 7 * 10, 200))
        caption = f"{NAMES[number % len(NAMES)]} SAYS HELLO"
        pen.text((60, top + 100), caption, font=font(44), fill="black")
        captions.append(caption)
    image.save(path)
    return captions


def measure(path: Path) -> dict[str, object]:
    """Read ``path`` in a child process: its result, peak RSS (MB) and wall time."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", READ, str(path)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"reading {path.name} failed (exit {child.returncode})")
    result = json.loads(out)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["wall_s"] = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--height", type=int, default=30000)
    args = parser.parse_args()
    print(machine_line(), f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        strip_path = Path(folder) / "strip.png"
        captions = draw_strip(strip_path, args.width, args.height)
        page_path = Path(folder) / "page.png"
        page = Image.new("RGB", (1000, 1400), (240, 235, 225))
        ImageDraw.Draw(page).text((60, 600), "A NORMAL PAGE", font=font(44), fill="black")
        page.save(page_path)
        progress("reading the page (baseline)")
        base = measure(page_path)
        progress(f"reading the {args.width}x{args.height} strip")
        strip = measure(strip_path)
    read = [text for text in strip["lines"] if text in captions]  # type: ignore[union-attr]
    scale = min(1.0, 2000 / max(args.width, args.height))
    short = min(args.width, args.height) * scale
    whole = (736, round(max(args.width, args.height) * scale * 736 / short)) if short < 736 \
        else (round(short), 2000)
    largest_tile = max((b[2] - b[0]) * (b[3] - b[1]) for b in strip["tiles"])  # type: ignore[union-attr]
    print(f"page: {base['peak_rss_mb']:.0f} MB peak RSS, {base['seconds']:.1f} s")
    print(f"strip: view {strip['view']}, {len(strip['tiles'])} tiles "  # type: ignore[arg-type]
          f"(largest {largest_tile / 1e6:.1f} MP), {strip['peak_rss_mb']:.0f} MB peak RSS, "
          f"{strip['seconds']:.1f} s; {len(read)}/{len(captions)} captions read")
    print(f"one read of the whole strip: detector input {whole[0]}x{whole[1]} "
          f"({whole[0] * whole[1] / 1e6:.1f} MP) instead of at most "
          f"{largest_tile / 1e6:.1f} MP per tile")
    ratio = float(strip["peak_rss_mb"]) / float(base["peak_rss_mb"])  # type: ignore[arg-type]
    ok = float(strip["peak_rss_mb"]) < 1536 and read == captions  # type: ignore[arg-type]
    verdict("OCR of a long strip", ok,
            f"peak RSS {strip['peak_rss_mb']:.0f} MB ({ratio:.2f}x the page's "
            f"{base['peak_rss_mb']:.0f} MB; target < 1536 MB), {len(read)}/{len(captions)} "
            f"captions read once, {strip['seconds']:.0f} s vs {base['seconds']:.1f} s a page")
    emit_result({"name": "ocr_strip", "pass": ok, "strip": strip, "page": base,
                 "rss_ratio": round(ratio, 2)})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
