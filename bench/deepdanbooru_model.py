"""DeepDanbooru v3 throughput on this machine: images/s at batch 8, through the worker.

    .venv/bin/python bench/deepdanbooru_model.py              # 3 timed batches of 8
    .venv/bin/python bench/deepdanbooru_model.py --batches 1  # quicker

The model is the real ``resnet_custom_v3`` graph at 512x512 with 9,176 outputs
(the release's tag count) and random weights: speed does not depend on their
values. A subprocess builds it and saves it as ``.h5`` in ``bench/data`` once
(about 0.6 GB; the benchmark's own process never imports TensorFlow), with a
made-up ``tags.txt`` and ``project.json``; it is then loaded through
:class:`pximse.models.deepdanbooru.DeepDanbooruTagger`, so the whole path is
timed: PIL images in, resize in this process, pipe, pad + Keras in the worker,
tags out. The issue measured 1.9 images/s on this machine (tensorflow-cpu).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import emit_result, ensure_data_dir, machine_line, median, progress, verdict
from PIL import Image, ImageDraw

BATCH = 8
N_TAGS = 9176
ISSUE_IMAGES_PER_S = 1.9

BUILD = """
import sys
from pximse.models.deepdanbooru import build_resnet_custom_v3
model = build_resnet_custom_v3(512, int(sys.argv[2]))
model.save(sys.argv[1])
"""


def pictures(n: int, size: tuple[int, int] = (800, 600)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    images = []
    for i in range(n):
        image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(20):
            x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
            r = int(rng.integers(10, 120))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        draw.text((10, 10 + i), f"image {i}", fill=(0, 0, 0))
        images.append(image)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()

    from pximse.models.base import WeightsSource
    from pximse.models.deepdanbooru import MODEL_FILE, DeepDanbooruTagger

    folder = ensure_data_dir() / "deepdanbooru-v3"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tags.txt").write_text(
        "".join(f"tag_{i}\n" for i in range(N_TAGS - 3))
        + "rating:safe\nrating:questionable\nrating:explicit\n",
        encoding="utf-8",
    )
    (folder / "project.json").write_text(
        json.dumps({"image_width": 512, "image_height": 512, "model": "resnet_custom_v3"}),
        encoding="utf-8",
    )
    if not (folder / MODEL_FILE).is_file():
        progress(f"building resnet_custom_v3 with random weights into {folder}")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        tmp = folder / f".{MODEL_FILE}.part.h5"
        subprocess.run([sys.executable, "-c", BUILD, str(tmp), str(N_TAGS)], check=True, env=env)
        tmp.replace(folder / MODEL_FILE)

    print(machine_line())
    tagger = DeepDanbooruTagger(WeightsSource(data_dir=folder, local_path=folder))
    started = time.perf_counter()
    tagger.load()
    load_s = time.perf_counter() - started
    progress(f"loaded {tagger.model_id} in {load_s:.1f}s")
    images = pictures(BATCH)
    tagger.tag(images)  # warm-up: first call traces the graph
    timings = []
    for i in range(args.batches):
        t = time.perf_counter()
        tagger.tag(images)
        timings.append(time.perf_counter() - t)
        progress(f"batch {i + 1}/{args.batches}: {timings[-1]:.2f}s")
    tagger.close()
    ips = BATCH / median(timings)
    print(f"images: {ips:.2f} images/s at batch {BATCH} (load {load_s:.1f}s; "
          f"the issue measured {ISSUE_IMAGES_PER_S})")
    verdict(
        "deepdanbooru v3 throughput",
        ips >= 0.8 * ISSUE_IMAGES_PER_S,
        f"{ips:.2f} images/s (issue: {ISSUE_IMAGES_PER_S})",
    )
    emit_result(
        {
            "bench": "deepdanbooru_model",
            "device": "cpu",
            "batch": BATCH,
            "images_per_s": round(ips, 2),
            "issue_images_per_s": ISSUE_IMAGES_PER_S,
            "load_s": round(load_s, 2),
        }
    )


if __name__ == "__main__":
    main()
