"""The library the search page's browser tests search: pictures drawn with Pillow
under names the filename parsers read (a three-page Pixiv work, a tweet,
yande.re posts), a sign with text whose OCR lines are stored with their boxes,
tagger tags (a file name and a tag holding markup among them), and Pixiv's
answer for the work. ``build_library`` scans it into a catalogue before the
daemon starts."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import draw_picture
from PIL import Image, ImageDraw

from helpers.web_fixtures import XSS, write_config

TAGGER = "wd14:test-tagger"
OCR_MODEL = "rapidocr:test"

# name -> (seed, size, tagger tags)
LIBRARY: dict[str, tuple[int, tuple[int, int], dict[str, float]]] = {
    "12345_67890123_p0.png": (1, (300, 420), {"1girl": 0.97, "umbrella": 0.88, "rain": 0.61}),
    "12345_67890123_p1.png": (2, (300, 420), {"1girl": 0.95, "umbrella": 0.52}),
    "12345_67890123_p2.png": (3, (300, 420), {"1girl": 0.9, "cat": 0.8}),
    "777_55555555_p0.jpg": (4, (400, 300), {"scenery": 0.93, "sky": 0.9, "no_humans": 0.85}),
    "twitter_名前(@someone)_20210304-102030_1367447052853293058_photo.png":
        (5, (360, 240), {"1girl": 0.91, "smile": 0.77}),
    "yande.re 424242 cat_ears smile.png": (6, (240, 360), {"cat_ears": 0.96, "1girl": 0.99}),
    "yande.re 515151 scenery.png": (7, (420, 240), {"scenery": 0.97, "sky": 0.95}),
    f"{XSS}.png": (8, (200, 200), {XSS: 0.9, "1girl": 0.6}),
}
SIGN = "signboard.png"  # drawn with text; its OCR lines are stored with boxes

# More pictures for the tests that need a page taller than the screen: varied
# shapes (a tall strip, a wide banner), tags that share words.
EXTRA_TAGS = ["long_hair", "smile", "hatsune_miku", "character:hatsune_miku", "初音ミク",
              "rating:general", "school_uniform", "monochrome", "outdoors"]


def extra_pictures(count: int) -> dict[str, tuple[int, tuple[int, int], dict[str, float]]]:
    found: dict[str, tuple[int, tuple[int, int], dict[str, float]]] = {
        "tall_strip.png": (40, (200, 1400), {"monochrome": 0.9, "comic": 0.8}),
        "wide_banner.png": (41, (900, 300), {"scenery": 0.8}),
    }
    for i in range(count):
        tags = {EXTRA_TAGS[(i + k) % len(EXTRA_TAGS)]: 0.6 + 0.05 * k for k in range(3)}
        found[f"misc_{i:02d}.png"] = (100 + i, (200 + (i * 37) % 300, 200 + (i * 53) % 300), tags)
    return found


def draw_sign(path: Path) -> list[tuple[str, tuple[tuple[float, float], ...], float]]:
    image = Image.new("RGB", (320, 200), (250, 250, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 30, 300, 70), outline=(0, 0, 0), width=2)
    draw.text((30, 40), "OPEN 10-18", fill=(0, 0, 0))
    draw.rectangle((20, 120, 300, 160), outline=(0, 0, 0), width=2)
    draw.text((30, 130), "no entry", fill=(0, 0, 0))
    image.save(path)
    return [
        ("OPEN 10-18", ((20.0, 30.0), (300.0, 30.0), (300.0, 70.0), (20.0, 70.0)), 0.99),
        (XSS, ((20.0, 120.0), (300.0, 120.0), (300.0, 160.0), (20.0, 160.0)), 0.95),
    ]


@dataclass
class BuiltLibrary:
    library: Path
    config_path: Path
    ids: dict[str, str]  # file name -> SHA-256


def build_library(folder: Path, *, extra: int = 0, config_text: str = "[scan]\nworkers = 1\n",
                  tags: bool = True) -> BuiltLibrary:
    """The library above (with ``extra`` more pictures), scanned, with its tags,
    OCR lines and Pixiv work recorded as the pipeline and ``pximse pixiv fetch``
    would have."""
    from pximse.config import load_config
    from pximse.library.scan import scan_roots
    from pximse.store.records import PixivWork
    from pximse.store.sqlite.catalog import SqliteCatalog

    library = folder / "library"
    library.mkdir()
    pictures: dict[str, Any] = {**LIBRARY, **(extra_pictures(extra) if extra else {})}
    for name, (seed, size, _) in pictures.items():
        draw_picture(seed, size).save(library / name)
    lines = draw_sign(library / SIGN)
    config_path = write_config(folder, library, config_text)
    config = load_config(config_path, folder / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    rows = catalog.db.reader().execute(
        "SELECT f.path, c.id, c.sha256 FROM file f JOIN content c ON c.id = f.content_id"
    ).fetchall()
    content = {Path(path).name: (cid, sha) for path, cid, sha in rows}
    if tags:
        catalog.set_model_tags_many(
            (content[name][0], TAGGER, picture_tags)
            for name, (_, _, picture_tags) in pictures.items())
        catalog.set_ocr(content[SIGN][0], OCR_MODEL, lines)
    catalog.record_pixiv_work(PixivWork(
        illust_id="67890123", state="ok", via="ajax", fetched_at=1_700_000_000,
        title="雨の日",
        # Pixiv sends captions as HTML, with what the artist typed escaped
        caption=f"first line<br />second &amp; {html.escape(XSS)}<strong>bold</strong>",
        bookmarks=1234, views=56789, ai=False, pages=3, user_id="12345", user_name="someone"))
    catalog.close()
    return BuiltLibrary(library, config_path, {name: sha for name, (_, sha) in content.items()})
