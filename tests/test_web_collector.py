"""What a collector does on the search page besides searching, in real Chromium
against a real daemon: the tags of the results, justified rows at a chosen
density, picking several results and acting on them (copy their paths, open
their folders, a Hydrus page, XMP sidecars now), the viewer (zoom, fit width,
swipe, the artist's other works, dates in local time), the phone's header,
saved searches; and screenshots of the main views at 1440x900 and 390x844.

The daemon has a Hydrus client configured (the fake Client API of
tests/hydrus_fake.py, over HTTP) and writes XMP sidecars with the real
exiftool.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers.hydrus_fake import FakeHydrus
from helpers.web_fixtures import (
    PHONE,
    XSS,
    Daemon,
    screenshot,
    start_daemon,
    stop_daemon,
    watch_page,
)
from helpers.web_fixtures import browser as browser  # noqa: F401 (a fixture)
from helpers.web_library import build_library

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
DESKTOP = {"width": 1440, "height": 900}
HYDRUS_KEY = "cd" * 32


@pytest.fixture(scope="module")
def hydrus() -> Iterator[FakeHydrus]:
    fake = FakeHydrus().start()
    fake.add_key(HYDRUS_KEY)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hydrus: FakeHydrus) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("web_collector")
    xmp = "[xmp]\nwrite = true\n\n" if shutil.which("exiftool") else ""
    built = build_library(folder, extra=24, config_text=(
        f"[scan]\nworkers = 1\n\n{xmp}"
        f'[hydrus]\nurl = "{hydrus.url}"\naccess_key = "{HYDRUS_KEY}"\n'))
    for name in ("12345_67890123_p0.png", "yande.re 424242 cat_ears smile.png"):
        hydrus.add_file((built.library / name).read_bytes())
    running = start_daemon(folder, built.library, built.config_path)
    running.ids = built.ids
    yield running
    stop_daemon(running)


def open_page(browser: Any, daemon: Daemon, viewport: dict[str, int] = DESKTOP,  # noqa: F811
              **options: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=viewport, bypass_csp=True, **options)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return context, page, watch_page(page)


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:  # noqa: F811
    context, opened, problems = open_page(browser, daemon)
    yield opened
    context.close()
    assert problems == [], problems


def settled(page: Any) -> None:
    page.wait_for_function(
        "document.querySelector('#count').textContent"
        " && !document.querySelector('#count').textContent.startsWith('Searching')")


def query(page: Any) -> str:
    return str(page.evaluate("new URLSearchParams(location.search).get('q') || ''"))


def wait_query(page: Any, expected: str) -> None:
    page.wait_for_function("q => new URLSearchParams(location.search).get('q') === q",
                           arg=expected)
    settled(page)


# -- the tags of the results ------------------------------------------------------------------


def test_the_results_tags_by_category_with_counts_include_and_exclude(
        page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    bar = page.locator("#tagbar")
    bar.locator(".tagbar-group").first.wait_for()
    groups = bar.locator(".tagbar-group").evaluate_all("els => els.map(e => e.dataset.category)")
    order = ["artist", "character", "general", "source", "rating"]
    assert groups == [group for group in order if group in groups]
    assert {"artist", "character", "general", "rating"} <= set(groups)
    assert bar.locator("[data-category='character'] [data-tag='character:hatsune_miku']").count()
    assert "no humans" in bar.inner_text()  # shown with spaces
    assert bar.locator("img").count() == 0
    assert XSS in bar.locator(".tagbar-tag").evaluate_all("els => els.map(e => e.dataset.tag)")
    page.goto(daemon.url + "/?q=1girl")
    settled(page)
    one_girl = bar.locator(".tagbar-tag[data-tag='1girl'] .tag-count")
    one_girl.wait_for()
    assert one_girl.inner_text() == "6"  # every result, the work's three pages counted
    assert bar.locator(".tagbar-tag[data-tag='umbrella'] .tag-count").inner_text() == "2"
    bar.locator(".tagbar-tag[data-tag='umbrella'] .tag-add").click()
    wait_query(page, "1girl umbrella")
    assert page.inner_text("#count").startswith("2 images")
    bar.locator(".tagbar-title", has_text="these 2 results").wait_for()
    assert bar.locator(".tagbar-tag[data-tag='rain'] .tag-count").inner_text() == "1"
    bar.locator(".tagbar-tag[data-tag='rain'] .tag-exclude").click(force=True)
    wait_query(page, "1girl umbrella -rain")
    assert page.inner_text("#count").startswith("1 image")
    # an artist: their works by id at the source
    page.goto(daemon.url + "/?q=1girl")
    bar.locator("[data-category='artist'] .tagbar-tag[data-tag='someone'] .tag-add").click()
    wait_query(page, "1girl userid:12345")
    assert page.inner_text("#count").startswith("3 images")
    assert page.evaluate("window.__pwned") is None


# -- justified rows -----------------------------------------------------------------------------


ROWS = """() => {
  const grid = document.querySelector('#grid').getBoundingClientRect();
  return Array.from(document.querySelectorAll('#grid .card')).map(card => {
    const box = card.querySelector('.thumb').getBoundingClientRect();
    const img = card.querySelector('img');
    return {top: Math.round(box.top), left: box.left, right: box.right, width: box.width,
            height: box.height, ratio: img.width / img.height, gridRight: grid.right,
            name: getComputedStyle(card.querySelector('.name')).opacity};
  });
}"""


def rows_of(page: Any) -> list[list[dict[str, Any]]]:
    tiles = page.evaluate(ROWS)
    rows: dict[int, list[dict[str, Any]]] = {}
    for tile in tiles:
        rows.setdefault(tile["top"], []).append(tile)
    return [rows[top] for top in sorted(rows)]


def test_justified_rows_keep_each_pictures_shape_at_the_chosen_density(
        page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?limit=200")
    settled(page)
    rows = rows_of(page)
    assert len(rows) >= 3
    for row in rows[:-1]:  # every full row ends at the grid's right edge
        assert abs(row[-1]["right"] - row[-1]["gridRight"]) <= 1.5
        heights = {round(tile["height"]) for tile in row}
        assert max(heights) - min(heights) <= 1  # one height per row
    for row in rows:
        for tile in row:
            if 0.4 <= tile["ratio"] <= 3.5:  # the picture's own shape, uncropped
                assert tile["width"] / tile["height"] == pytest.approx(tile["ratio"], rel=0.03)
            assert tile["name"] == "0"  # no file name under the tiles
    medium = rows[0][0]["height"]
    page.click(".density button[data-density='l']")
    large = rows_of(page)[0][0]["height"]
    page.click(".density button[data-density='s']")
    small = rows_of(page)[0][0]["height"]
    assert small < medium < large
    page.reload()
    settled(page)
    assert page.get_attribute(".density button[data-density='s']", "aria-pressed") == "true"
    assert rows_of(page)[0][0]["height"] == pytest.approx(small, abs=1)


# -- picking several ----------------------------------------------------------------------------


def picked(page: Any) -> list[str]:
    return list(page.evaluate("PX.selection.ids()"))


def test_pick_several_and_act_on_them(page: Any, daemon: Daemon, hydrus: FakeHydrus) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(daemon.url + "/?q=1girl")
    settled(page)
    cards = page.locator("#grid .card")
    ids = cards.evaluate_all("els => els.map(e => e.dataset.id)")
    cards.nth(0).hover()
    cards.nth(0).locator(".pick").click()
    assert page.locator("#selection-bar").is_visible()
    cards.nth(2).locator(".pick").click(modifiers=["Shift"])  # the range
    assert [card in picked(page) for card in ids[:3]] == [True, True, True]
    assert page.locator("#grid .card.picked").count() == 3
    count = len(picked(page))
    assert page.inner_text("#selection-count") == f"{count} images selected"
    # a click picks while something is picked, rather than opening
    cards.nth(3).locator(".card-link").click()
    assert page.locator("#detail").is_hidden() and len(picked(page)) > count
    cards.nth(3).locator(".card-link").click()
    assert len(picked(page)) == count
    chosen = picked(page)
    paths = {sha: name for name, sha in daemon.ids.items()}

    page.click("#sel-copy")
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()").split("\n")
    assert copied == [str(daemon.library / paths[sha]) for sha in chosen]

    page.click("#sel-folders")
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Opened')")
    assert daemon.opened_log.read_text().splitlines()[-1] == str(daemon.library)

    page.click("#sel-hydrus")
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Sent')")
    sent = [p for p in hydrus.pages if p.name == f"PxIMSE: {count} selected"]
    assert len(sent) == 1 and sent[0].hashes == [sha for sha in chosen if sha in hydrus.files]
    assert sent[0].hashes  # Hydrus has some of them, and says how many it lacks
    assert f"{count - len(sent[0].hashes)} are not in Hydrus" in page.inner_text("#notice")

    if shutil.which("exiftool"):
        page.click("#sel-xmp")
        page.wait_for_function(
            "document.querySelector('#notice').textContent.startsWith('XMP sidecars')")
        for sha in chosen:
            sidecar = daemon.library / (paths[sha] + ".xmp")
            assert sidecar.is_file() and b"PxIMSE" in sidecar.read_bytes(), sidecar
        assert "failed" not in page.inner_text("#notice")

    page.keyboard.press("Escape")
    assert picked(page) == [] and page.locator("#selection-bar").is_hidden()
    page.locator("#grid .card-link").first.focus()
    page.keyboard.press("Control+a")
    assert len(picked(page)) == int(page.inner_text("#count").split()[0])
    screenshot(page, "desktop-04-selection")


# -- the viewer ---------------------------------------------------------------------------------


def test_the_viewer_zooms_fits_tall_strips_and_links_the_artist(
        browser: Any, daemon: Daemon) -> None:  # noqa: F811
    context, page, problems = open_page(browser, daemon, timezone_id="Asia/Tokyo",
                                        locale="en-US")
    strip = daemon.ids["tall_strip.png"]
    page.goto(f"{daemon.url}/?q=monochrome&id={strip}")
    page.wait_for_selector("#detail-title")
    page.wait_for_function("document.querySelector('#detail-image').naturalWidth === 200")
    # a strip opens fitting the width, to scroll down
    assert page.get_attribute("#fit-width", "aria-pressed") == "true"
    viewer = page.locator("#viewer")
    size = viewer.evaluate("v => [v.clientWidth, v.scrollHeight, v.clientHeight]")
    image = page.locator("#detail-image").bounding_box()
    assert image is not None and image["width"] >= size[0] - 10 and size[1] > 2 * size[2]
    screenshot(page, "desktop-05-tall-strip")
    page.click("#fit-screen")
    image = page.locator("#detail-image").bounding_box()
    assert image is not None and image["height"] <= size[2]
    level = page.inner_text("#zoom-level")
    page.click("#zoom-in")
    page.click("#zoom-in")
    zoomed = page.inner_text("#zoom-level")
    assert int(zoomed.rstrip("%")) > int(level.rstrip("%"))
    page.keyboard.press("-")
    assert int(page.inner_text("#zoom-level").rstrip("%")) < int(zoomed.rstrip("%"))
    page.keyboard.press("0")
    assert page.get_attribute("#fit-screen", "aria-pressed") == "true"
    # dates in the browser's time zone
    stamp = page.locator("#detail-info time").first
    utc = datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
    tokyo = utc.astimezone(timezone(timedelta(hours=9)))
    shown = stamp.inner_text()
    hour, minute, half = re.search(r"(\d{1,2}):(\d{2})\s*(AM|PM)", shown).groups()
    assert (int(hour) % 12 + (12 if half == "PM" else 0), int(minute)) == (tokyo.hour,
                                                                           tokyo.minute)
    assert str(tokyo.day) in shown
    # the artist: a search for their other works
    page.keyboard.press("Escape")
    page.goto(f"{daemon.url}/?id={daemon.ids['12345_67890123_p0.png']}")
    page.locator("#detail-info a.artist-link").click()
    wait_query(page, "userid:12345 source:pixiv")
    assert page.locator("#detail").is_hidden()
    assert page.inner_text("#count").startswith("3 images")
    context.close()
    assert problems == [], problems


SWIPE = """([from, to]) => {
  const viewer = document.querySelector('#viewer');
  const at = (type, x) => viewer.dispatchEvent(new PointerEvent(type, {
    pointerType: 'touch', clientX: x, clientY: 300, button: 0, isPrimary: true, bubbles: true}));
  at('pointerdown', from); at('pointermove', (from + to) / 2); at('pointerup', to);
}"""


def test_a_phone_swipes_between_images_and_its_header_is_one_short_row(
        browser: Any, daemon: Daemon) -> None:  # noqa: F811
    context, page, problems = open_page(browser, daemon, PHONE, has_touch=True, is_mobile=True)
    page.goto(daemon.url + "/?q=1girl")
    settled(page)
    header = page.locator("#bar").bounding_box()
    assert header is not None and header["height"] <= 0.07 * PHONE["height"]  # was 24%
    query_box = page.locator("#q").bounding_box()
    assert query_box is not None and query_box["width"] >= 180
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "phone-01-results")
    page.click("#more-tools")
    assert page.locator("#text").is_visible() and page.locator("#sort").is_visible()
    screenshot(page, "phone-02-search-tools")
    page.click("#more-tools")
    page.click("#tags-toggle")
    page.locator("#tagbar .tagbar-group").first.wait_for()
    screenshot(page, "phone-03-tags")
    page.click("#tags-toggle")
    ids = page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")
    page.locator("#grid .card-link").nth(1).click()
    page.wait_for_function(f"location.search.includes('id={ids[1]}')")
    page.wait_for_selector("#detail-title")
    screenshot(page, "phone-04-detail")
    page.evaluate(SWIPE, [300, 80])  # right to left: the next
    page.wait_for_function(f"location.search.includes('id={ids[2]}')")
    page.evaluate(SWIPE, [80, 300])  # left to right: back
    page.wait_for_function(f"location.search.includes('id={ids[1]}')")
    context.close()
    assert problems == [], problems


# -- saved searches -----------------------------------------------------------------------------


def test_saved_searches(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=sky&sort=%2Bdate")
    settled(page)
    page.click("#save-search")
    name = page.locator("#save-name")
    name.wait_for()
    assert name.input_value() == "sky"
    name.fill("blue skies")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#save-search').textContent === '★'")
    page.goto(daemon.url + "/")
    settled(page)
    assert page.inner_text("#save-search") == "☆"
    page.click("#saved-button")
    entry = page.locator("#saved-menu .saved-run", has_text="blue skies")
    entry.click()
    wait_query(page, "sky")
    assert "sort=%2Bdate" in page.url
    assert page.inner_text("#save-search") == "★"
    page.click("#saved-button")
    page.locator("#saved-menu .saved-forget").click()
    assert page.locator("#saved-menu .saved-run").count() == 0
    assert page.inner_text("#save-search") == "☆"


# -- opening the page ---------------------------------------------------------------------------


def test_the_first_search_is_asked_before_the_status_and_the_features(
        page: Any, daemon: Daemon) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url.replace(daemon.url, "")))
    page.goto(daemon.url + "/?q=1girl")
    settled(page)
    page.wait_for_function(
        "document.querySelector('#status-button .status-text').textContent.includes('images')")
    page.wait_for_function(
        "document.querySelector('#grid .card .similar').getAttribute('aria-label')"
        " === 'Near-duplicates'")  # the features came, and the tiles follow them
    api = [url.split("?")[0] for url in asked if url.startswith("/api/")]
    assert api[0] == "/api/search", api
    assert {"/api/status", "/api/features"} <= set(api[1:])


# -- screenshots --------------------------------------------------------------------------------


def test_screenshots_of_the_main_views(browser: Any, daemon: Daemon) -> None:  # noqa: F811
    context, page, problems = open_page(browser, daemon)
    page.goto(daemon.url + "/")
    settled(page)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#grid img')).slice(0, 20)"
        ".every(i => i.complete)")
    page.locator("#tagbar .tagbar-group").first.wait_for()
    screenshot(page, "desktop-01-results")
    page.goto(f"{daemon.url}/?q=1girl&id={daemon.ids['12345_67890123_p1.png']}")
    page.wait_for_function("document.querySelector('#page-of').textContent === '2 / 3'")
    page.wait_for_function("document.querySelector('#detail-image').naturalWidth > 0")
    page.locator("#work-strip .strip-page").nth(2).wait_for()
    # fitted to the view that is left once the work's page strip is shown
    page.wait_for_function("""() => {
      const v = document.querySelector('#viewer').getBoundingClientRect();
      const i = document.querySelector('#detail-image').getBoundingClientRect();
      return i.height > 100 && i.top >= v.top - 1 && i.bottom <= v.bottom + 1;
    }""", timeout=5_000)
    screenshot(page, "desktop-02-detail-work")
    page.keyboard.press("Escape")
    page.click("#status-button")
    page.locator("#status-panel table.stages").wait_for()
    screenshot(page, "desktop-03-status")
    page.goto(daemon.url + "/?q=1girl+scenery")
    page.locator("#empty .relax li").first.wait_for()
    screenshot(page, "desktop-06-no-match")
    context.close()
    assert problems == [], problems
    assert all(Path(__file__).parent.joinpath("artifacts", f"{name}.png").is_file()
               for name in ("desktop-01-results", "desktop-02-detail-work", "desktop-03-status"))
