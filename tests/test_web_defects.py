"""The search page's defects a collector met, one test each (in the order they
were reported), in real Chromium against a real daemon on a library of about
fifty drawn pictures. Each test failed on the page before its fix.

1. a vector search stayed applied to every later search, unseen;
2. CLIP features offered where CLIP cannot run, a wait then an error, no fallback;
3. (tests/test_web_status.py: each stage over the whole library, with a real indexer)
4. progress that stopped counting between runs;
5. a multi-page work could not be paged in the viewer, nor folded back;
6. Back went to the top of the results instead of where you were;
7. an empty library said "Try relaxing it:" over an empty list;
8. autocomplete: Tab, words inside tags, artists after user:;
9. order: against the sort menu, random, the header's width, Tab in the dialog
   (the "library changed" notice: tests/test_web_live.py).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.web_fixtures import LAPTOP, Daemon, start_daemon, stop_daemon, watch_page, write_config
from helpers.web_fixtures import browser as browser  # noqa: F401 (a fixture)
from helpers.web_library import build_library

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
EXTRA = 40  # pictures beside the usual library: more than a screen of them


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("web_defects")
    built = build_library(folder, extra=EXTRA)
    running = start_daemon(folder, built.library, built.config_path)
    running.ids = built.ids
    yield running
    stop_daemon(running)


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems = watch_page(opened)
    yield opened
    context.close()
    assert problems == [], problems


def settled(page: Any) -> None:
    page.wait_for_function(
        "document.querySelector('#count').textContent"
        " && !document.querySelector('#count').textContent.startsWith('Searching')")


def search(page: Any, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_function("q => new URLSearchParams(location.search).get('q') === q", arg=query)
    settled(page)


def url_params(page: Any) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))


def card_ids(page: Any) -> list[str]:
    return page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")


# -- 1 ------------------------------------------------------------------------------------


def test_1_a_ranking_is_in_the_query_box_and_the_address_and_never_carried_unseen(
        page: Any, daemon: Daemon) -> None:
    # "More like this" where CLIP cannot run: the near-duplicates, as a query
    page.goto(daemon.url + "/?q=scenery")
    card = page.locator("#grid .card").first
    image = card.get_attribute("data-id")
    card.hover()
    card.locator(".similar").click()
    page.wait_for_function("new URLSearchParams(location.search).get('q').startsWith('dupes:')")
    settled(page)
    assert url_params(page)["q"] == "dupes:" + image[:16]
    assert card_ids(page)[0] == image
    # the next typed search is that search, and it works
    search(page, "sky")
    assert page.inner_text("#count").startswith("2 images")
    assert page.locator("#error").is_hidden()
    assert "similar" not in url_params(page)
    # a description in the address: a pill in the query box, kept while it is
    # there to see, said to be unused where CLIP cannot run, removed by its ×
    page.goto(daemon.url + "/?q=scenery&text=blue+sky")
    settled(page)
    pill = page.locator("#ranking-pill")
    assert pill.is_visible() and "blue sky" in pill.inner_text()
    assert "inactive" in pill.get_attribute("class")
    assert "CLIP search is unavailable" in page.inner_text("#feature-note")
    assert page.inner_text("#count").startswith("3 images")  # the query's, unranked
    search(page, "sky")
    assert url_params(page).get("text") == "blue sky" and pill.is_visible()
    pill.locator(".pill-remove").click()
    page.wait_for_function("!new URLSearchParams(location.search).has('text')")
    settled(page)
    assert pill.is_hidden() and url_params(page)["q"] == "sky"


# -- 2 ------------------------------------------------------------------------------------


def test_2_clip_features_are_disabled_with_why_and_similar_falls_back(
        page: Any, daemon: Daemon) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(urllib.parse.unquote(request.url)))
    page.goto(daemon.url + "/?q=1girl")
    page.wait_for_function(
        "document.querySelector('#pick-image').getAttribute('aria-disabled') === 'true'")
    assert "unavailable" in page.get_attribute("#text", "class")
    assert "CLIP unavailable" in page.get_attribute("#text", "placeholder")
    page.click("#pick-image", force=True)
    popover = page.locator("#popover")
    popover.wait_for()
    text = popover.inner_text()
    assert "weights" in text and "What to do" in text
    page.click("#popover .popover-close")
    # the tiles offer near-duplicates instead, and say so
    card = page.locator("#grid .card").nth(2)
    image = card.get_attribute("data-id")
    assert card.locator(".similar").get_attribute("aria-label") == "Near-duplicates"
    card.hover()
    card.locator(".similar").click()
    page.wait_for_function("new URLSearchParams(location.search).get('q').startsWith('dupes:')")
    settled(page)
    assert "perceptual hash" in page.inner_text("#feature-note")
    assert card_ids(page)[0] == image
    assert not [url for url in asked if "similar:" in url or "/api/search/image" in url]


def test_2_an_error_keeps_the_results_and_its_addresses_are_links(
        page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=sky")
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 2")
    message = ("the CLIP model cannot be loaded: could not download config.json from "
               "https://huggingface.co/immich-app/ViT-B-32__openai/resolve/main/config.json: "
               "timed out")
    page.route("**/api/search?q=scenery*", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body=json.dumps({"error": "vector_search_unavailable", "message": message})))
    page.fill("#q", "scenery")
    page.press("#q", "Enter")
    link = page.locator("#error a")
    link.wait_for()
    assert link.get_attribute("href") == (
        "https://huggingface.co/immich-app/ViT-B-32__openai/resolve/main/config.json")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert page.locator("#grid .card").count() == 2  # the previous results stay
    assert "previous results" in page.inner_text("#count")


# -- 4 ------------------------------------------------------------------------------------


def test_4_progress_counts_the_whole_library_between_runs(page: Any, daemon: Daemon) -> None:
    status = daemon.get("/api/status")
    status["images"] = 585
    # a new worker run has just started: its own counters are back at zero
    status["indexing"] = {"paused": False, "running": True, "stages": {
        "tagger": {"done": 0, "total": 0, "rate": 0.0, "eta_s": None, "state": "running"}}}
    status["library_stages"] = {"tagger": {
        "done": 489, "failed": 0, "total": 585, "other_models": 0, "model_id": "wd14:x",
        "phase": "running", "state": "running", "rate": 0.0, "eta_s": None}}
    page.route("**/api/events*", lambda route: route.fulfill(status=404, body="{}"))
    page.route("**/api/status", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(status)))
    page.goto(daemon.url + "/")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.includes('489')")
    assert "tagger 489/585" in page.inner_text("#status-button")
    page.click("#status-button")
    row = page.locator("#status-panel tr[data-stage='tagger']")
    assert "489 of 585" in row.inner_text()
    assert row.locator(".stage-togo").inner_text() == "96"
    assert page.locator("#status-button .status-bar").evaluate(
        "e => e.firstChild.style.width") == "84%"


def test_a_full_data_folder_shows_beside_the_progress(page: Any, daemon: Daemon) -> None:
    status = daemon.get("/api/status")
    status["images"] = 585
    status["indexing"] = {"paused": False, "running": True, "stages": {}}
    status["library_stages"] = {"ocr": {
        "done": 300, "failed": 2, "total": 585, "other_models": 0, "model_id": "rapidocr:x",
        "phase": "running", "state": "running", "rate": 1.5, "eta_s": 190}}
    message = ("The data folder /data is full (12 MB free): indexing waits and goes on by "
               "itself once there is room. Free some space on that disk.")
    status["data_folder"] = {"kind": "full", "message": message, "data_dir": "/data",
                             "free_bytes": 12_000_000, "needed_bytes": 64_000_000}
    page.route("**/api/events*", lambda route: route.fulfill(status=404, body="{}"))
    page.route("**/api/status", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(status)))
    page.goto(daemon.url + "/")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.includes('disk full')")
    # the problem first: the button's fixed width cuts off what comes last
    assert page.inner_text("#status-button .status-text") == (
        "disk full: work waits · 585 images · text (ocr) 300/585")
    assert "problem" in page.get_attribute("#status-button", "class")
    page.click("#status-button")
    problem = page.locator("#status-panel .status-problem")
    assert problem.get_attribute("role") == "alert" and problem.inner_text() == message
    row = page.locator("#status-panel tr[data-stage='ocr']")
    assert "300 of 585" in row.inner_text() and "2 failed" in row.inner_text()
    assert row.locator(".stage-togo").inner_text() == "283"


# -- 5 ------------------------------------------------------------------------------------


def test_5_the_viewer_pages_through_a_work_and_an_expanded_work_folds_back(
        page: Any, daemon: Daemon) -> None:
    pages = [daemon.ids[f"12345_67890123_p{n}.png"] for n in range(3)]
    page.goto(daemon.url + "/?q=1girl")
    settled(page)
    ids = card_ids(page)
    work = next(i for i, sha in enumerate(ids) if sha in pages)
    assert len(ids) > 1
    page.locator("#grid .card-link").nth(work).click()
    page.wait_for_function("document.querySelector('#page-of').textContent === '1 / 3'")
    assert page.locator("#work-strip .strip-page").count() == 3
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#page-of').textContent === '2 / 3'")
    assert url_params(page)["id"] == pages[1]
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#page-of').textContent === '3 / 3'")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#page-of').textContent === '2 / 3'")
    page.locator("#work-strip .strip-page").nth(2).click()
    page.wait_for_function(f"location.search.includes('id={pages[2]}')")
    if work + 1 < len(ids):
        page.keyboard.press("ArrowRight")  # past the last page: the next result
        page.wait_for_function(f"location.search.includes('id={ids[work + 1]}')")
        page.wait_for_function("document.querySelector('#work-pager').hidden")
    else:
        page.locator("#work-strip .strip-page").nth(0).click()
        page.wait_for_function("document.querySelector('#page-of').textContent === '1 / 3'")
        page.keyboard.press("ArrowLeft")  # before the first page: the previous result
        page.wait_for_function(f"location.search.includes('id={ids[work - 1]}')")
    page.keyboard.press("Escape")
    # expanded, then folded back into one tile
    page.goto(daemon.url + "/?q=umbrella")
    page.locator("#grid .card .pages").click()
    page.wait_for_function("document.querySelectorAll('#grid .card.in-work').length === 3")
    page.locator("#grid .card.in-work .collapse").nth(1).click()
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 1")
    assert page.inner_text("#grid .card .pages") == "3 pages · 2 match"


# -- 6 ------------------------------------------------------------------------------------


def test_6_back_returns_to_where_you_were(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?limit=10&sort=%2Bdate")
    settled(page)
    total = int(page.inner_text("#count").split()[0])
    for _ in range(20):
        if page.locator("#grid .card").count() >= total - 2:  # the work's pages share a tile
            break
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(300)
    cards = page.locator("#grid .card").count()
    assert cards > 30
    page.evaluate("window.scrollTo(0, 1200)")
    page.wait_for_timeout(400)
    where = page.evaluate("window.scrollY")
    assert where == 1200
    search(page, "sky")
    page.go_back()
    page.wait_for_function("!new URLSearchParams(location.search).has('q')")
    page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {cards}")
    page.wait_for_function("Math.abs(window.scrollY - 1200) <= 2")


# -- 7 ------------------------------------------------------------------------------------


def test_7_an_empty_library_says_so_and_suggests_nothing(
        browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: F811
    folder = tmp_path_factory.mktemp("web_empty")
    library = folder / "library"
    library.mkdir()
    empty = start_daemon(folder, library, write_config(folder, library))
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    try:
        # the daemon scans its (empty) root, as at any start
        urllib.request.urlopen(urllib.request.Request(empty.url + "/api/scan", method="POST"),
                               timeout=30).close()
        for _ in range(100):
            if empty.get("/api/status")["roots"]:
                break
            time.sleep(0.1)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        problems = watch_page(page)
        page.goto(empty.url + "/?q=1girl+smile")
        page.locator("#empty").wait_for()
        page.wait_for_function(
            "document.querySelector('#empty').textContent.includes('no images yet')")
        text = page.inner_text("#empty")
        assert str(library) in text
        page.wait_for_timeout(500)  # any suggestion would have come by now
        assert "Try relaxing" not in page.inner_text("#empty")
        assert page.locator("#empty li").count() == 0
        assert problems == []
    finally:
        context.close()
        stop_daemon(empty)


# -- 8 ------------------------------------------------------------------------------------


def suggestions(page: Any, typed: str) -> list[str]:
    page.fill("#q", "")
    page.focus("#q")
    page.keyboard.type(typed)
    page.wait_for_selector("#suggestions li")
    return page.locator("#suggestions li span:first-child").all_inner_texts()


def test_8_autocomplete_tab_infix_and_artists(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=sky")
    settled(page)
    assert "monochrome" in suggestions(page, "-mono")
    page.keyboard.press("Tab")  # nothing highlighted: the first suggestion
    assert page.input_value("#q") == "-monochrome "
    assert page.evaluate("document.activeElement.id") == "q"
    found = suggestions(page, "miku")
    assert "hatsune_miku" in found and "character:hatsune_miku" in found
    assert "初音ミク" in suggestions(page, "ミク")
    assert suggestions(page, "user:some") == ["someone"]
    page.keyboard.press("Tab")
    assert page.input_value("#q") == "user:someone "
    page.keyboard.press("Enter")
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'user:someone'")
    settled(page)
    assert page.inner_text("#count").startswith("3 images")  # the work's three pages
    assert page.locator("#grid .card").count() == 1  # on one tile


# -- 9 ------------------------------------------------------------------------------------


def test_9_the_querys_order_and_the_sort_menu_say_which_wins(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=scenery+order:filesize")
    settled(page)
    assert page.input_value("#sort") == "order:"
    assert "order:filesize (in the query)" in page.inner_text("#sort option:checked")
    page.select_option("#sort", "+date")
    page.wait_for_function("new URLSearchParams(location.search).get('sort') === '+date'")
    settled(page)
    assert url_params(page)["q"] == "scenery"
    assert page.input_value("#sort") == "+date"


def test_9_random_shuffles_anew(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?limit=100")
    settled(page)
    page.select_option("#sort", "random")
    page.wait_for_function("new URLSearchParams(location.search).has('seed')")
    settled(page)
    first, seed = card_ids(page), url_params(page)["seed"]
    page.click("#shuffle")
    page.wait_for_function(
        f"new URLSearchParams(location.search).get('seed') !== '{seed}'")
    settled(page)
    assert card_ids(page) != first and sorted(card_ids(page)) == sorted(first)


def test_9_the_header_keeps_its_width_whatever_the_status_says(
        page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    settled(page)
    before = page.locator("#search-form").bounding_box()
    page.evaluate("document.querySelector('#status-button .status-text').textContent ="
                  " '585 images · scanning 12,345/67,890 · downloading CLIP, Tagger weights'")
    after = page.locator("#search-form").bounding_box()
    assert after == before


def test_9_tab_stays_in_the_detail_dialog(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=pixiv:67890123")
    page.locator("#grid .card-link").first.click()
    page.wait_for_selector("#detail-title")
    page.wait_for_function("document.querySelector('#page-of').textContent === '1 / 3'")
    for step in range(40):
        page.keyboard.press("Shift+Tab" if step % 7 == 6 else "Tab")
        assert page.evaluate("document.querySelector('#detail').contains(document.activeElement)")
