"""OCR throughput of ``RapidOcrEngine`` alone: images per second on rendered pages.

The pipeline benchmark needs each model's own rate; this is OCR's. Pages are
1000x1400 (a manga page or a tall illustration), white with a few grey shapes,
carrying three to five lines each: horizontal Japanese, English and Chinese
lines and a vertical Japanese column, drawn with Noto CJK (``make
system-deps``). Every page differs. The engine is loaded and warmed on one page
first; then each thread setting reads all pages ``--rounds`` times, one page
per ``read`` call (as the pipeline calls it), and the best round counts.

It also prints how many drawn lines came back exactly, so that a faster but
wrong configuration shows.

    .venv/bin/python bench/ocr_engine.py [--pages 12] [--rounds 2] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from _common import emit_result, machine_line, progress
from PIL import Image, ImageDraw, ImageFont

from pximse.models.ocr import RapidOcrEngine, default_intra_op_threads

FONT_NAME = "NotoSansCJK-Regular.ttc"
JP, SC = 0, 2  # faces in the collection

JAPANESE = [
    "ありがとうございます",
    "今日はいい天気ですね",
    "また明日会いましょう",
    "東京駅で待っています",
]
ENGLISH = ["Hello World", "Chapter 12: The Rainy Day", "Thank you very much", "See you tomorrow"]
CHINESE = ["你好世界", "今天天气很好", "我们明天见", "谢谢你的帮助"]
COLUMNS = ["今日は晴れ", "ありがとう", "まってて", "すごいね"]


def find_font() -> Path:
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if folder.is_dir():
            found = sorted(folder.rglob(FONT_NAME))
            if found:
                return found[0]
    sys.exit(f"{FONT_NAME} (fonts-noto-cjk) is not installed: run `make system-deps`")


def render_page(seed: int, font_path: Path) -> tuple[Image.Image, list[str]]:
    rng = random.Random(seed)
    page = Image.new("RGB", (1000, 1400), "white")
    draw = ImageDraw.Draw(page)
    for _ in range(4):  # panels and shading, so that not everything is text
        x0, y0 = rng.randrange(0, 800), rng.randrange(0, 1200)
        shade = rng.randrange(150, 230)
        draw.rectangle(
            (x0, y0, x0 + rng.randrange(80, 200), y0 + rng.randrange(80, 200)),
            outline=(shade,) * 3,
            width=3,
        )
    texts = []
    size = rng.choice((32, 36, 40))
    y = 80
    for pool, face in ((JAPANESE, JP), (ENGLISH, JP), (CHINESE, SC)):
        if rng.random() < 0.85:
            text = rng.choice(pool)
            draw.text(
                (rng.randrange(40, 200), y),
                text,
                font=ImageFont.truetype(str(font_path), size, index=face),
                fill="black",
            )
            texts.append(text)
        y += rng.randrange(200, 300)
    column = rng.choice(COLUMNS)
    font = ImageFont.truetype(str(font_path), size, index=JP)
    x, top = rng.randrange(750, 900), rng.randrange(850, 1000)
    for i, char in enumerate(column):
        draw.text((x, top + i * int(size * 1.15)), char, font=font, fill="black")
    texts.append(column)
    return page, texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="intra-op threads to compare (default: the engine's default)",
    )
    args = parser.parse_args()

    print(machine_line(), flush=True)
    font_path = find_font()
    pages = [render_page(seed, font_path) for seed in range(args.pages)]
    drawn = sum(len(texts) for _, texts in pages)
    default_threads = default_intra_op_threads()
    settings = args.threads or [default_threads]
    rates: dict[str, float] = {}
    for threads in settings:
        engine = RapidOcrEngine(intra_op_threads=threads)
        started = time.perf_counter()
        engine.read([pages[0][0]])
        progress(f"{threads} thread(s): loaded and warmed in {time.perf_counter() - started:.2f} s")
        best = float("inf")
        exact = 0
        for _ in range(args.rounds):
            started = time.perf_counter()
            found = [engine.read([page])[0] for page, _ in pages]
            best = min(best, time.perf_counter() - started)
            exact = sum(
                len(set(texts) & {line.text for line in lines})
                for (_, texts), lines in zip(pages, found, strict=True)
            )
        rate = args.pages / best
        rates[str(threads)] = rate
        print(
            f"ocr {engine.model_id} on {engine.device}, {threads} intra-op thread(s): "
            f"{rate:.2f} images/s ({best / args.pages * 1000:.0f} ms per 1000x1400 page), "
            f"{exact}/{drawn} drawn lines read exactly",
            flush=True,
        )
    emit_result(
        {
            "bench": "ocr_engine",
            "pages": args.pages,
            "page_size": [1000, 1400],
            "images_per_s": rates[str(default_threads)]
            if str(default_threads) in rates
            else rates[str(settings[0])],
            "images_per_s_by_threads": rates,
            "default_threads": default_threads,
        }
    )


if __name__ == "__main__":
    main()
