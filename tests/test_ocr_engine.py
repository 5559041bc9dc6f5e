"""RapidOcrEngine on the real shipped models, reading text drawn with Noto CJK.

The expected texts were measured on RapidOCR 3.10's PP-OCRv6 small models:
clean lines drawn at 40 px come back exactly, so the assertions are exact.
One engine is loaded for the whole module, with network connections refused
while it loads and reads its first image (the models must never be fetched).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pximse.models import OcrEngine, OcrLine
from pximse.models.ocr import RapidOcrEngine, _to_bgr

pytestmark = pytest.mark.slow  # every test here takes seconds

# Faces inside the collection: 0 is Japanese, 2 Simplified Chinese.
JP, SC = 0, 2
SIZE = 40

Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def font_path(cjk_font: Path) -> Path:
    """Noto CJK, found (or the module skipped) by conftest's ``cjk_font``."""
    return cjk_font


@pytest.fixture(scope="module")
def engine() -> Iterator[RapidOcrEngine]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"OCR tried to reach the network: {args}")

    ocr = RapidOcrEngine()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        ocr.read([Image.new("RGB", (64, 64), "white")])
    yield ocr


class Page:
    """A white image with text drawn on it, remembering where each text went."""

    def __init__(self, font_path: Path, size: tuple[int, int] = (640, 480)) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font_path = font_path
        self.where: dict[str, Box] = {}

    def font(self, face: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(self.font_path), SIZE, index=face)

    def line(self, text: str, xy: tuple[int, int], face: int = JP, fill: int = 0) -> None:
        font = self.font(face)
        self.draw.text(xy, text, font=font, fill=(fill, fill, fill))
        self.where[text] = self.draw.textbbox(xy, text, font=font)

    def column(self, text: str, xy: tuple[int, int], face: int = JP) -> None:
        """Characters one under another, as in a manga speech bubble."""
        font = self.font(face)
        x, y = xy
        step = int(SIZE * 1.15)
        for i, char in enumerate(text):
            self.draw.text((x, y + i * step), char, font=font, fill="black")
        self.where[text] = (x, y, x + SIZE, y + len(text) * step)


def bounds(line: OcrLine) -> Box:
    xs = [x for x, _ in line.box]
    ys = [y for _, y in line.box]
    return min(xs), min(ys), max(xs), max(ys)


def assert_near(line: OcrLine, drawn: Box, slack: float = 20) -> None:
    found = bounds(line)
    assert len(line.box) == 4
    assert all(abs(a - b) <= slack for a, b in zip(found, drawn, strict=True)), (found, drawn)


def only_line(lines: list[OcrLine]) -> OcrLine:
    assert len(lines) == 1, lines
    assert 0.0 < lines[0].confidence <= 1.0
    return lines[0]


def test_engine_meets_the_protocol(engine: RapidOcrEngine) -> None:
    assert isinstance(engine, OcrEngine)
    name, digest = engine.model_id.split(":")
    assert name.startswith("rapidocr-3.")
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert engine.model_id == RapidOcrEngine().model_id
    assert engine.device in ("cpu", "cuda:0")


def test_construction_loads_nothing(tmp_path: Path) -> None:
    lazy = RapidOcrEngine(models_dir=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="shipped models are missing"):
        lazy.read([Image.new("RGB", (32, 32))])
    with pytest.raises(ValueError):
        RapidOcrEngine(device="tpu")


@pytest.mark.parametrize(
    ("text", "face"),
    [
        ("Hello World from PxIMSE", JP),
        ("ありがとうございます", JP),
        ("你好世界", SC),
        ("東京 Tokyo 2024 ですね", JP),
    ],
    ids=["english", "japanese", "chinese", "mixed"],
)
def test_reads_a_horizontal_line(
    engine: RapidOcrEngine, font_path: Path, text: str, face: int
) -> None:
    page = Page(font_path)
    page.line(text, (40, 200), face)
    line = only_line(engine.read([page.image])[0])
    assert line.text == text
    assert_near(line, page.where[text])


def test_reads_a_vertical_japanese_column(engine: RapidOcrEngine, font_path: Path) -> None:
    page = Page(font_path, (400, 640))
    page.column("ありがとうございます", (180, 60))
    line = only_line(engine.read([page.image])[0])
    assert line.text == "ありがとうございます"
    left, top, right, bottom = bounds(line)
    assert bottom - top > 5 * (right - left)
    assert_near(line, page.where["ありがとうございます"], slack=30)


def test_reads_every_line_of_a_mixed_page(engine: RapidOcrEngine, font_path: Path) -> None:
    page = Page(font_path, (800, 900))
    page.line("Good morning", (60, 80))
    page.line("ありがとうございます", (60, 240))
    page.line("你好世界", (60, 400), SC)
    page.column("今日は晴れ", (680, 300))
    lines = engine.read([page.image])[0]
    found = {line.text: line for line in lines}
    assert set(found) == set(page.where)
    for text, drawn in page.where.items():
        assert_near(found[text], drawn, slack=30)


def test_blank_images_have_no_lines(engine: RapidOcrEngine) -> None:
    blank = [
        Image.new("RGB", (640, 480), "white"),
        Image.new("L", (300, 200), 40),
        Image.new("RGBA", (1, 1)),
    ]
    assert engine.read(blank) == [[], [], []]
    assert engine.read([]) == []


def test_other_modes_and_transparency(engine: RapidOcrEngine, font_path: Path) -> None:
    page = Page(font_path)
    page.line("ありがとうございます", (40, 200))
    grey = page.image.convert("L")
    # Black text on a transparent background whose hidden colour is black too:
    # read as is, the page would be all black.
    transparent = Image.new("RGBA", page.image.size, (0, 0, 0, 0))
    ImageDraw.Draw(transparent).text(
        (40, 200), "ありがとうございます", font=page.font(JP), fill=(0, 0, 0, 255)
    )
    for lines in engine.read([grey, transparent, np.asarray(page.image)]):
        assert only_line(lines).text == "ありがとうございます"


def test_arrays_are_handed_over_in_bgr_order() -> None:
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    assert _to_bgr(red)[0, 0].tolist() == [0, 0, 255]
    assert _to_bgr(np.asarray(red))[0, 0].tolist() == [0, 0, 255]
    assert _to_bgr(Image.new("RGBA", (2, 2), (255, 0, 0, 0)))[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(TypeError):
        _to_bgr("page.png")


def test_threshold_drops_unsure_lines(engine: RapidOcrEngine, font_path: Path) -> None:
    page = Page(font_path)
    page.line("ありがとうございます", (40, 60))
    page.line("ありがとうございます ", (40, 300))
    # Keep only the top 16 px of the lower line's glyphs: RapidOCR still finds
    # it but reads garbage, unsure of it (measured: "±nよレニざ+", 0.61).
    top = page.where["ありがとうございます "][1]
    page.draw.rectangle((0, top + 16, 640, 480), fill="white")
    everything = engine.read([page.image], min_confidence=0.0)[0]
    assert len(everything) == 2, everything
    sure, unsure = sorted(everything, key=lambda line: -line.confidence)
    assert sure.text == "ありがとうございます" and sure.confidence > 0.99
    assert unsure.text != sure.text and unsure.confidence < 0.7
    assert engine.read([page.image]) == [[sure]]  # 0.7 by default
    between = (sure.confidence + unsure.confidence) / 2
    assert engine.read([page.image], min_confidence=between) == [[sure]]
    assert engine.read([page.image], min_confidence=unsure.confidence) == [everything]
    with pytest.raises(ValueError):
        engine.read([page.image], min_confidence=1.5)


def test_batch_equals_one_by_one_and_threads_agree(engine: RapidOcrEngine, font_path: Path) -> None:
    pages = []
    for text, face in (("Hello World", JP), ("你好世界", SC)):
        page = Page(font_path, (480, 360))
        page.line(text, (40, 150), face)
        pages.append(page.image)
    batch = engine.read(pages)
    assert batch == [engine.read([image])[0] for image in pages]

    results: dict[int, list[list[OcrLine]]] = {}

    def work(i: int) -> None:
        results[i] = engine.read([pages[i]])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i][0] for i in range(len(pages))] == batch
