"""Inputs for ``bench/pipeline.py``: a library of big drawings, and the three models.

Everything is generated here and cached under ``bench/data`` (git-ignored):

* ``pipeline-library-<n>/``: ``n`` illustrations of 1500–3000 px a side, about
  two in three JPEG (quality 90) and the rest PNG: a colour gradient, shapes,
  mild grain (so that files and decode costs look like real art, not flat
  fills) and three to five lines of Japanese, English and Chinese text drawn
  with Noto CJK, so that OCR has real work on every image.
* ``clip-vit-b-32-random.safetensors``: open_clip ViT-B-32 with random weights
  (shared with ``bench/clip_model.py``).
* ``wd14-vit-b16-448-random/``: a WD14-shaped tagger. The issue names the
  DeepDanbooru v3 graph at 512x512, which is not available yet; in its place
  is the architecture of SmilingWolf's ``wd-vit-tagger-v3`` (timm
  ``vit_base_patch16`` at 448x448, random weights) with a sigmoid head over
  10,861 tags, exported with ``torch.onnx`` as the real models are laid out:
  ``model.onnx`` (NHWC float32 BGR 0..255 input named ``input_1:0``) and
  ``selected_tags.csv`` (``tag_id,name,category,count``).
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_NAME = "NotoSansCJK-Regular.ttc"
JP, SC = 0, 2  # faces in the collection
JAPANESE = ["ありがとうございます", "今日はいい天気ですね", "また明日会いましょう",
            "東京駅で待っています", "猫耳の女の子"]
ENGLISH = ["Hello World", "Chapter 12: The Rainy Day", "Thank you very much",
           "See you tomorrow", "Commissions open"]
CHINESE = ["你好世界", "今天天气很好", "我们明天见", "谢谢你的帮助"]

WD14_TAGS = 10_861  # wd-vit-tagger-v3's selected_tags.csv: 4 ratings, general, characters
WD14_SIZE = 448
CLIP_ARCH = "ViT-B-32"


def find_font() -> Path:
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if folder.is_dir():
            found = sorted(folder.rglob(FONT_NAME))
            if found:
                return found[0]
    sys.exit(f"{FONT_NAME} (fonts-noto-cjk) is not installed: run `make system-deps`")


def draw_illustration(seed: int, size: tuple[int, int], font_path: Path) -> Image.Image:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    width, height = size
    # Gradient background.
    top = np.array([rng.randrange(120, 256) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randrange(60, 220) for _ in range(3)], dtype=np.float32)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = top * (1 - t) + bottom * t  # (h, 1, 3)
    pixels = np.broadcast_to(column, (height, width, 3)).copy()
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    unit = min(width, height)
    for _ in range(rng.randrange(25, 45)):  # shapes: hair, clothes, props
        x0, y0 = rng.randrange(0, width), rng.randrange(0, height)
        w, h = rng.randrange(unit // 20, unit // 3), rng.randrange(unit // 20, unit // 3)
        colour = tuple(rng.randrange(0, 256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour,
                         outline=(20, 20, 20), width=max(2, unit // 400))
        else:
            points = [(x0 + rng.randrange(-w, w), y0 + rng.randrange(-h, h)) for _ in range(5)]
            draw.polygon(points, fill=colour, outline=(20, 20, 20))
    image = image.filter(ImageFilter.GaussianBlur(1.2))  # soft edges, like painted art
    # Mild grain, so the files are not unrealistically small.
    grain = nrng.normal(0.0, 4.0, size=(height, width, 1)).astype(np.float32)
    image = Image.fromarray(np.clip(np.asarray(image, np.float32) + grain, 0, 255)
                            .astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # Text: speech-bubble-sized lines, readable after the pipeline's 1600 px decode.
    font_px = max(40, unit // 28)
    y = rng.randrange(unit // 20, unit // 8)
    for _ in range(rng.randrange(3, 6)):
        pool, face = rng.choice(((JAPANESE, JP), (ENGLISH, JP), (CHINESE, SC)))
        text = rng.choice(pool)
        font = ImageFont.truetype(str(font_path), font_px, index=face)
        x = rng.randrange(unit // 20, max(unit // 20 + 1, width // 3))
        box = draw.textbbox((x, y), text, font=font)
        pad = font_px // 3
        draw.rounded_rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad),
                               radius=pad, fill="white", outline="black", width=3)
        draw.text((x, y), text, font=font, fill="black")
        y += rng.randrange(int(font_px * 2.2), int(font_px * 4))
        if y > height - font_px * 2:
            break
    return image


def make_library(data: Path, n: int, progress=print) -> Path:  # type: ignore[no-untyped-def]
    """``n`` cached illustrations (made once); returns the folder."""
    folder = data / f"pipeline-library-{n}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    font = find_font()
    rng = random.Random(12345)
    for i in range(n):
        size = (rng.randrange(1500, 3001), rng.randrange(1500, 3001))
        image = draw_illustration(1000 + i, size, font)
        if rng.random() < 0.65:
            image.save(folder / f"{i:04d}.jpg", quality=90)
        else:
            image.save(folder / f"{i:04d}.png", compress_level=6)
        if (i + 1) % 10 == 0:
            progress(f"drew {i + 1}/{n} images")
    done.write_text("ok\n")
    return folder


def make_draft_jpeg(data: Path) -> Path:
    """One 2000x3000 JPEG for the draft-decoding figures."""
    path = data / "pipeline-draft-2000x3000.jpg"
    if not path.is_file():
        draw_illustration(7, (2000, 3000), find_font()).save(path, quality=90)
    return path


def make_clip_weights(data: Path) -> Path:
    weights = data / "clip-vit-b-32-random.safetensors"
    if not weights.is_file():
        import open_clip
        import torch
        from safetensors.torch import save_file

        torch.manual_seed(0)
        model = open_clip.create_model(CLIP_ARCH, pretrained=None)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return weights


def make_wd14_tagger(data: Path) -> Path:
    """The WD14-shaped tagger folder (``model.onnx`` + ``selected_tags.csv``)."""
    folder = data / "wd14-vit-b16-448-random-v2"
    model_path, labels_path = folder / "model.onnx", folder / "selected_tags.csv"
    if model_path.is_file() and labels_path.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    import timm
    import torch

    torch.manual_seed(0)
    vit = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=WD14_SIZE,
                            num_classes=WD14_TAGS).eval()

    class Tagger(torch.nn.Module):
        """NHWC BGR 0..255 in, sigmoid scores out: the WD14 v3 ONNX interface."""

        def __init__(self) -> None:
            super().__init__()
            self.vit = vit

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.flip(-1).permute(0, 3, 1, 2) / 127.5 - 1.0
            logits = self.vit(x)
            # Random weights score every tag near 0.5; a trained tagger scores most
            # tags near 0. Standardise and shift so that about 1.5% (some 150 tags,
            # as a real tagger keeps at the 0.05 floor) reach the floor, so the
            # catalogue writes are the real size.
            logits = (logits - logits.mean(-1, keepdim=True)) / logits.std(-1, keepdim=True)
            return torch.sigmoid(logits - 5.1)

    dummy = torch.zeros(1, WD14_SIZE, WD14_SIZE, 3)
    tmp = model_path.with_suffix(".tmp")
    with torch.inference_mode():
        torch.onnx.export(Tagger().eval(), (dummy,), str(tmp), input_names=["input_1:0"],
                          output_names=["predictions_sigmoid"], opset_version=17,
                          dynamic_axes={"input_1:0": {0: "batch"},
                                        "predictions_sigmoid": {0: "batch"}},
                          dynamo=False)
    # Keep the weights inside the one file, as the real model.onnx is.
    import onnx

    onnx.save_model(onnx.load(str(tmp)), str(model_path), save_as_external_data=False)
    tmp.unlink()
    for extra in folder.glob("*.data"):
        extra.unlink()
    with labels_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["tag_id", "name", "category", "count"])
        rows = [("general", 9), ("sensitive", 9), ("questionable", 9), ("explicit", 9)]
        characters = 2_000
        rows += [(f"tag_{i}", 0) for i in range(WD14_TAGS - 4 - characters)]
        rows += [(f"character_{i}", 4) for i in range(characters)]
        for index, (name, category) in enumerate(rows):
            writer.writerow([index, name, category, 1000])
    return folder
