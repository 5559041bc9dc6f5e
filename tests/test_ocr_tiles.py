"""Model inputs bounded by pixels and aspect, not only by the long side: OCR
reads webtoon strips in overlapping tiles within bounded memory (checked
under a real memory limit), every stage's view keeps a budget, and a batch
that fails is retried image by image so that only the bad image is recorded,
with a one-line reason."""

from __future__ import annotations

import math
import resource
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.processes import pximse
from PIL import Image, ImageDraw, ImageFont

from pximse.models.ocr import TILE_ASPECT, TILE_LONG, RapidOcrEngine, tiles
from pximse.pipeline import runner
from pximse.pipeline.runner import BATCH_VIEW_PIXELS, PendingImage, run_pipeline
from pximse.pipeline.stages import OcrStage
from pximse.pipeline.views import ASPECT_LIMIT, view_size
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

MEMORY_LIMIT = 1536 << 20  # 1.5 GB of data for the whole process (models included)


@pytest.fixture(scope="module")
def ocr_engine() -> RapidOcrEngine:
    return RapidOcrEngine()


def strip(font: Path, width: int, height: int, lines: dict[int, str]) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for top, text in lines.items():
        draw.text((40, top), text, font=ImageFont.truetype(str(font), 40), fill="black")
    return image


# -- tiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(720, 30000), (200, 20000), (30000, 720), (1024, 15600),
                                  (400, 1300), (1000, 1400)])
def test_tiles_are_small_and_cover_the_strip_once(size: tuple[int, int]) -> None:
    width, height = size
    found = tiles(width, height)
    vertical = height >= width
    across, along = (width, height) if vertical else (height, width)
    if along <= TILE_ASPECT * across:
        assert len(found) == 1 and found[0].box == (0, 0, width, height)  # a page: whole
        return
    assert len(found) > 1
    for tile in found:
        left, top, right, bottom = tile.box
        length = (bottom - top) if vertical else (right - left)
        assert length <= TILE_LONG and length <= TILE_ASPECT * across + 1
    # The tiles' own shares follow each other with no gap; each boundary is the
    # middle of an overlap of at least a quarter tile, so a line up to an eighth
    # of a tile long, cut at one tile's edge, is whole in the tile that keeps it.
    assert found[0].own[0] == -math.inf and found[-1].own[1] == math.inf
    for before, after in zip(found, found[1:], strict=False):
        assert before.own[1] == after.own[0]
        b_start, b_end = (before.box[1], before.box[3]) if vertical else \
            (before.box[0], before.box[2])
        a_start = after.box[1] if vertical else after.box[0]
        overlap = b_end - a_start
        assert overlap >= (b_end - b_start) // 4
        assert before.own[1] == (a_start + b_end) / 2


@pytest.mark.slow
def test_a_line_in_an_overlap_or_across_a_cut_is_read_once(
    ocr_engine: RapidOcrEngine, cjk_font: Path
) -> None:
    # Tiles of a 720-wide strip are 2000 long and overlap by 500 (1500-2000, ...).
    lines = {60: "FIRST PANEL", 1700: "IN THE OVERLAP", 1985: "ACROSS THE CUT",
             5900: "LAST PANEL"}
    image = strip(cjk_font, 720, 6000, lines)
    found = ocr_engine.read([image])[0]
    texts = [line.text for line in found]
    assert sorted(texts) == sorted(lines.values()), texts
    for line in found:
        top = min(y for _, y in line.box)
        expected = next(y for y, text in lines.items() if text == line.text)
        assert abs(top - expected) < 40  # boxes are in the whole strip's coordinates


# -- the budget of every view ------------------------------------------------------------


class _Stage:
    def __init__(self, name: str, input_size: int) -> None:
        self.name, self.input_size = name, input_size


def test_every_view_has_a_pixel_and_aspect_budget() -> None:
    for side in (224, 448):
        width, height = view_size(_Stage("clip", side), 720, 30000)
        assert min(width, height) <= side and max(width, height) <= ASPECT_LIMIT * side
        assert view_size(_Stage("clip", side), 1000, 1400)[0] == side  # pages as before
        assert view_size(_Stage("clip", side), 100, 80) == (100, 80)  # never enlarged
    ocr = OcrStage(engine=None)  # type: ignore[arg-type]
    assert ocr.view_size(3000, 4000) == (1200, 1600)  # a page: 1600 on the long side
    width, height = ocr.view_size(720, 30000)  # a webtoon: nearly as it is, read in tiles
    assert width >= 600 and abs(height / width - 30000 / 720) < 0.1
    assert width * height <= OcrStage.STRIP_PIXELS * 1.001
    width, height = ocr.view_size(2000, 60000)
    assert width <= OcrStage.STRIP_SIDE and width * height <= OcrStage.STRIP_PIXELS * 1.001


def test_a_batch_of_strips_is_cut_to_the_pixel_budget(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3", memory_index=False)
    root = catalog.ensure_root("lib", "/lib")
    content = [NewContent(f"{i:064x}", 1, "png", 720, 30000, 1, False, None, False, 1)
               for i in range(16)]
    catalog.apply_scan_batch(ScanBatch(root, new_content=content, files=[
        FileRecord(f"/lib/{i}.png", 1, 1, "ok", c.sha256) for i, c in enumerate(content)]))
    stage = OcrStage(engine=None)  # type: ignore[arg-type]
    batch = [PendingImage(cid, sha, [stage])
             for cid, sha in catalog.pending_for_stage("ocr", "x", 16)]
    parts = list(runner._within_budget(catalog, iter([batch])))
    view = math.prod(stage.view_size(720, 30000))  # 16 MP
    assert sum(len(p) for p in parts) == 16 and len(parts) == math.ceil(16 / len(parts[0]))
    assert all(len(p) * view <= BATCH_VIEW_PIXELS for p in parts)
    assert (len(parts[0]) + 1) * view > BATCH_VIEW_PIXELS
    catalog.close()


# -- a failure is the failing image's alone ------------------------------------------------


def test_a_failed_batch_is_retried_image_by_image(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    from pximse.config import RootConfig, ScanConfig
    from pximse.library.scan import scan_roots
    from pximse.models.worker import WorkerError

    for i, size in enumerate([(60, 40), (61, 40), (666, 40), (62, 40)]):
        Image.new("RGB", size, (i * 50, 0, 0)).save(library / f"{i}.png")
    scan_roots(catalog, [RootConfig(name="lib", path=library)],
               thumbnail_dir=tmp_path / "t", config=ScanConfig(workers=1))

    class PoisonedTagger:
        """Like a model process killed by one image: the whole batch call fails."""

        name, input_size, model_id = "tagger", 448, "poisoned:1"
        calls: list[int] = []

        def run(self, images: list[Any]) -> list[Any]:
            self.calls.append(len(images))
            if any(image.width == 666 for image in images):
                raise WorkerError("tagger failed:\nTraceback (most recent call last):\n"
                                  '  File "model.py", line 9, in run\n'
                                  "MemoryError: Unable to allocate 6.2 GiB for an array")
            return [{"red": 1.0} for _ in images]

        def store(self, catalog: Any, results: Any) -> None:
            catalog.set_model_tags_many((cid, self.model_id, tags) for cid, tags in results)

        def finish(self, catalog: Any) -> None:
            return None

    stage = PoisonedTagger()
    report = run_pipeline(catalog, [stage], batch_size=4)  # type: ignore[list-item]
    assert stage.calls == [4, 1, 1, 1, 1]
    assert (report.stages["tagger"].done, report.stages["tagger"].errors) == (3, 1)
    errors = catalog.db.reader().execute(
        "SELECT error FROM stage WHERE status = 'error'").fetchall()
    assert errors == [("tagger failed: MemoryError: Unable to allocate 6.2 GiB for an array",)]


# -- a webtoon under a memory limit ---------------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.slow
def test_a_720x30000_webtoon_is_read_whole_under_a_memory_limit(
    tmp_path: Path, cjk_font: Path
) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    lines = {100: "FIRST PANEL HELLO", 15000: "MIDDLE WORDS HERE", 29850: "LAST LINE GOODBYE"}
    webtoon = strip(cjk_font, 720, 30000, lines)
    ImageDraw.Draw(webtoon).rectangle((100, 8000, 600, 9000), fill=(200, 120, 40))  # a panel
    webtoon.save(library / "episode 1.png")
    strip(cjk_font, 1000, 1400, {600: "A NORMAL PAGE"}).save(library / "page.png")
    config = tmp_path / "config.toml"
    config.write_text('[models]\ntagger = ""\nclip = ""\nocr = "rapidocr"\n')
    data = tmp_path / "data"
    done = subprocess.run(
        pximse("index", "--json", "--config", str(config), "--data-dir", str(data),
               str(library)),
        capture_output=True, text=True, timeout=600, preexec_fn=_limit_memory)
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(data / "catalog.sqlite3") as conn:
        rows = dict(conn.execute(
            "SELECT f.name, o.lines FROM ocr_result o JOIN file f"
            " ON f.content_id = o.content_id"))
        failed = conn.execute("SELECT error FROM stage WHERE status = 'error'").fetchall()
    assert failed == []
    import json

    read = json.loads(rows["episode 1.png"])
    texts = [text for text, _, _ in read]  # the panel may read as a stroke or two
    assert [text for text in texts if text in lines.values()] == list(lines.values()), texts
    # Boxes in the stored box space: the strip shrunk to 1600 on its long side.
    assert all(0 <= x <= 720 * 1600 / 30000 + 1 and 0 <= y <= 1601
               for _, box, _ in read for x, y in box)
    assert [text for text, _, _ in json.loads(rows["page.png"])] == ["A NORMAL PAGE"]
