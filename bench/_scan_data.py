"""Inputs for ``bench/scan_new_files.py``: a folder of new illustrations as a
collector's downloads look: JPEG, PNG and WebP of 1000–3000 px a side, 0.5–3 MB.

Drawn with ``_pipeline_data.draw_illustration`` (gradient, shapes, CJK text)
at a third of the size and scaled up (drawing a 3000 px picture takes seconds; the decode
costs depend on the pixels and the bytes, not on how they were drawn), with
grain for JPEG and WebP (painted art) and without for PNG (flat art, which
compresses far better), seeded, and cached under
``bench/data/scan-library-<n>/``. Each file is encoded with the settings that
bring it into 0.5–3 MB where the format allows.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from _pipeline_data import draw_illustration, find_font
from PIL import Image, ImageChops

MIN_BYTES, MAX_BYTES = 500_000, 3_000_000
FORMATS = (("jpg", 0.5), ("png", 0.3), ("webp", 0.2))


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "jpg":
        image.save(out, "JPEG", quality=quality)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=quality, method=2)
    else:
        image.save(out, "PNG", compress_level=4)
    return out.getvalue()


def _fitting(image: Image.Image, fmt: str) -> bytes:
    """The file bytes, brought into MIN_BYTES..MAX_BYTES where the format allows."""
    if fmt == "png":
        data = _encode(image, fmt, 0)
        while len(data) > MAX_BYTES and min(image.size) > 1000:
            image = image.resize((image.width * 4 // 5, image.height * 4 // 5))
            data = _encode(image, fmt, 0)
        return data
    for quality in (92, 85, 75, 60, 45):
        data = _encode(image, fmt, quality)
        if len(data) <= MAX_BYTES:
            return data
    return data


def make_scan_library(data: Path, n: int, progress=print) -> Path:  # type: ignore[no-untyped-def]
    """``n`` cached illustrations (made once); returns the folder."""
    folder = data / f"scan-library-{n}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    font = find_font()
    rng = random.Random(2024)
    names, weights = zip(*FORMATS, strict=True)
    for i in range(n):
        fmt = rng.choices(names, weights)[0]
        size = (rng.randrange(1000, 3001), rng.randrange(1000, 3001))
        path = folder / f"{i:04d}.{fmt}"
        if not path.exists():
            half = draw_illustration(5000 + i, (size[0] // 3, size[1] // 3), font)
            image = half.resize(size, Image.Resampling.BICUBIC)
            if fmt != "png":
                noise = Image.effect_noise(size, 4).convert("RGB")  # centred on 128
                image = ImageChops.add(image, noise, 1.0, -128)
            path.write_bytes(_fitting(image, fmt))
        if (i + 1) % 50 == 0:
            progress(f"drew {i + 1}/{n} images")
    done.write_text("ok\n")
    return folder


def describe(folder: Path) -> str:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    sizes = np.array([p.stat().st_size for p in files])
    kinds = {ext: sum(p.suffix == f".{ext}" for p in files) for ext, _ in FORMATS}
    return (f"{len(files)} files ({', '.join(f'{v} {k.upper()}' for k, v in kinds.items())}), "
            f"{sizes.sum() / 1e6:,.0f} MB, {sizes.min() / 1e6:.2f}-{sizes.max() / 1e6:.2f} MB "
            f"each (median {np.median(sizes) / 1e6:.2f})")
