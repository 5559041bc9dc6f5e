"""CLIP throughput on this machine: images/s at batch 32, text ms per query.

    .venv/bin/python bench/clip_model.py              # ViT-B-32, 3 batches of 32
    .venv/bin/python bench/clip_model.py --batches 1  # quicker
    .venv/bin/python bench/clip_model.py --device cuda:0

The model is the real ViT-B-32 architecture (the default, 512-d) with random
weights (``pretrained=None``: nothing is downloaded); speed does not depend on
the weights' values. The weights are saved once as ``.safetensors`` in
``bench/data`` and loaded through :class:`pximse.models.clip.ClipModel`, so the
whole adapter is timed: decode-free PIL images in, normalised numpy out.

Baseline, measured in the same run: open_clip's model called directly (its own
transform, ``encode_image``/``encode_text``, no adapter), so the ratio is the
adapter's overhead. Images are 800x600 drawings, the size of a typical
illustration thumbnail-to-full range after the pipeline's decode.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import emit_result, ensure_data_dir, machine_line, median, progress, verdict
from PIL import Image, ImageDraw

ARCH = "ViT-B-32"
BATCH = 32
QUERIES = [
    "a girl under an umbrella in the rain",
    "1girl, long hair, school uniform, cherry blossoms",
    "猫耳の女の子",
    "sunset over the sea, watercolor",
    "a knight in silver armour holding a sword",
    "chibi character eating ramen",
] * 5


def pictures(n: int, size: tuple[int, int] = (800, 600)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(20):
            x0, y0 = (int(v) for v in rng.integers(0, 700, 2))
            draw.ellipse(
                (x0, y0, x0 + 120, y0 + 90), fill=tuple(int(c) for c in rng.integers(0, 256, 3))
            )
        out.append(image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="timed batches of 32 images")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0")
    args = parser.parse_args()

    import open_clip
    import torch
    from safetensors.torch import save_file

    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel

    print(machine_line(), f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    data = ensure_data_dir()
    weights = data / "clip-vit-b-32-random.safetensors"
    if not weights.is_file():
        progress(f"saving random {ARCH} weights to {weights}")
        torch.manual_seed(0)
        model = open_clip.create_model(ARCH, pretrained=None)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
        del model

    clip = ClipModel(
        WeightsSource(data_dir=data, local_path=weights), ARCH, None, device=args.device
    )
    started = time.perf_counter()
    clip.load()
    load_s = time.perf_counter() - started
    progress(f"loaded {clip.model_id} on {clip.device} in {load_s:.1f}s")
    images = pictures(BATCH)

    # Baseline: open_clip directly, same model object, same precision.
    raw, preprocess = clip.torch_model, clip._preprocess
    tokenizer = open_clip.get_tokenizer(ARCH)
    dtype = next(raw.parameters()).dtype

    def raw_images() -> None:
        with torch.inference_mode():
            pixels = torch.stack([preprocess(im) for im in images])
            raw.encode_image(pixels.to(clip.device, dtype)).float().cpu().numpy()

    def raw_text(q: str) -> None:
        with torch.inference_mode():
            raw.encode_text(tokenizer([q]).to(clip.device)).float().cpu().numpy()

    clip.embed_images(images[:4])  # warm-up
    raw_images()
    ours_s, base_s = [], []
    for _ in range(args.batches):
        t = time.perf_counter()
        out = clip.embed_images(images)
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw_images()
        base_s.append(time.perf_counter() - t)
    assert out.shape == (BATCH, 512)
    ours_ips, base_ips = BATCH / median(ours_s), BATCH / median(base_s)

    clip.embed_texts(QUERIES[:2])
    text_ours, text_base = [], []
    for q in QUERIES:
        t = time.perf_counter()
        clip.embed_texts([q])
        text_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw_text(q)
        text_base.append(time.perf_counter() - t)
    text_ms, base_ms = median(text_ours) * 1000, median(text_base) * 1000

    print(
        f"images: {ours_ips:.1f} images/s at batch {BATCH} "
        f"(open_clip direct: {base_ips:.1f}/s, ratio {ours_ips / base_ips:.2f})"
    )
    print(
        f"text: {text_ms:.1f} ms per query (open_clip direct: {base_ms:.1f} ms, "
        f"ratio {text_ms / base_ms:.2f})"
    )
    verdict("clip adapter overhead", ours_ips >= 0.9 * base_ips, f"{ours_ips / base_ips:.2f}x")
    emit_result(
        {
            "bench": "clip_model",
            "arch": ARCH,
            "device": clip.device,
            "images_per_s": round(ours_ips, 2),
            "baseline_images_per_s": round(base_ips, 2),
            "text_ms_per_query": round(text_ms, 2),
            "baseline_text_ms": round(base_ms, 2),
            "load_s": round(load_s, 2),
        }
    )


if __name__ == "__main__":
    main()
