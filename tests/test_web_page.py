"""The search page in a real browser (Debian's headless Chromium via Playwright)
against a real daemon process on a library the test draws with Pillow.

One daemon and one browser serve the whole module; each test opens its own
page. Screenshots of the main views go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.web_fixtures import (
    LAPTOP,
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


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("web")
    built = build_library(folder)
    running = start_daemon(folder, built.library, built.config_path)
    running.ids = built.ids
    yield running
    stop_daemon(running)


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:  # noqa: F811
    # Without the page's CSP (Playwright's waits evaluate strings), so markup put
    # into the page as HTML would run: the XSS test then proves text stays text.
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems = watch_page(opened)
    yield opened
    context.close()
    assert problems == [], problems


def card_names(page: Any) -> list[str]:
    return page.locator("#grid .card .name").all_inner_texts()


def search(page: Any, daemon: Daemon, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_function(
        "q => new URLSearchParams(location.search).get('q') === q"
        " && !document.querySelector('#count').textContent.startsWith('Searching')",
        arg=query)


def test_typing_a_query_shows_the_right_thumbnails(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    page.wait_for_selector("#grid .card")
    screenshot(page, "01-all-images")
    search(page, daemon, "scenery")
    names = sorted(card_names(page))
    assert names == ["777_55555555_p0.jpg", "yande.re 515151 scenery.png"]
    assert page.inner_text("#count").startswith("2 images")
    # thumbnails, never the originals, and the URL holds the search
    sources = page.locator("#grid .card img").evaluate_all("els => els.map(e => e.src)")
    assert sources and all(src.endswith("/thumbnail") for src in sources)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#grid img')).every(i => i.complete"
        " && i.naturalWidth > 0)")
    assert "q=scenery" in page.url
    # the query shows as chips; removing one searches again
    assert page.locator("#chips .chip-text").all_inner_texts() == ["scenery"]
    search(page, daemon, "1girl -umbrella")
    assert page.locator("#chips .chip-text").all_inner_texts() == ["1girl", "-umbrella"]
    page.click("#chips .chip:nth-child(2) .chip-remove")
    page.wait_for_function("new URLSearchParams(location.search).get('q') === '1girl'")
    page.wait_for_function("document.querySelector('#count').textContent.startsWith('6 images')")
    screenshot(page, "02-query-1girl")


def test_a_multi_page_work_is_one_card_with_its_page_count(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=umbrella")
    card = page.locator("#grid .card").filter(has=page.locator(".pages"))
    card.wait_for()
    assert page.locator("#grid .card").count() == 1
    assert card.locator(".pages").inner_text() == "3 pages · 2 match"
    card.locator(".pages").click()
    page.wait_for_function("document.querySelectorAll('#grid .card.in-work').length === 3")
    assert card_names(page) == [f"12345_67890123_p{n}.png" for n in range(3)]


def test_detail_view_tags_refine_and_exclude(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=cat_ears")
    page.locator("#grid .card-link").first.click()
    page.wait_for_selector("#detail-info h2")
    assert page.inner_text("#detail-title") == "yande.re 424242 cat_ears smile.png"
    info = page.inner_text("#detail-info")
    assert str(daemon.library / "yande.re 424242 cat_ears smile.png") in info
    assert "240 × 360" in info and "png" in info
    link = page.locator("#detail-info a.source-link")
    assert link.get_attribute("href") == "https://yande.re/post/show/424242"
    assert link.get_attribute("rel") == "noopener noreferrer"
    page.wait_for_function("document.querySelector('#detail-image').naturalWidth === 240")
    assert f"id={daemon.ids['yande.re 424242 cat_ears smile.png']}" in page.url
    screenshot(page, "03-detail")
    # tagger tags sort by name when asked
    page.click(".tags-table th:first-child button")
    names = page.locator(".tags-table td:first-child .tag").evaluate_all(
        "els => els.map(e => e.dataset.tag)")
    assert names == ["1girl", "cat_ears"]
    # click a tag: added to the query
    page.click(".tag-source[data-tag='smile']")
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'cat_ears smile'")
    assert page.locator("#detail").is_hidden()
    page.wait_for_function("document.querySelector('#count').textContent.startsWith('1 image')")
    # shift-click: excluded
    page.goto(daemon.url + "/?q=1girl")
    page.locator("#grid .card-link").filter(has_text="twitter_").click()
    page.wait_for_selector("#detail-title")
    links = page.locator("#detail-info a.source-link").evaluate_all(
        "els => els.map(e => e.href)")
    assert "https://x.com/someone/status/1367447052853293058" in links
    page.locator(".tags-table .tag[data-tag='smile']").click(modifiers=["Shift"])
    page.wait_for_function("new URLSearchParams(location.search).get('q') === '1girl -smile'")
    page.wait_for_function("document.querySelector('#count').textContent.startsWith('4 images')")
    assert "twitter_" not in " ".join(card_names(page))


def test_pixiv_fields_links_and_open_folder(page: Any, daemon: Daemon) -> None:
    sha = daemon.ids["12345_67890123_p1.png"]
    page.goto(f"{daemon.url}/?q=pixiv:67890123&id={sha}")
    page.wait_for_selector("#detail-title")
    links = page.locator("#detail-info a.source-link").evaluate_all(
        "els => els.map(e => e.href)")
    assert links == ["https://www.pixiv.net/artworks/67890123",
                     "https://www.pixiv.net/users/12345"]
    info = page.inner_text("#detail-info")
    assert "67890123" in info and "12345" in info
    # what Pixiv said, its caption as text (line breaks kept, markup never parsed)
    assert page.inner_text("#detail-title") == "雨の日"
    caption = page.inner_text("#detail-info .pixiv-caption")
    assert caption == f"first line\nsecond & {XSS}bold"
    assert page.locator("#detail-info img, #detail-info strong").count() == 0
    assert "1,234" in info and "56,789" in info
    page.click("#open-folder")
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Opened')")
    assert daemon.opened_log.read_text().splitlines()[-1] == str(daemon.library)
    # copy path puts the file's path on the clipboard
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#detail-info button:has-text('Copy path')")
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == str(
        daemon.library / "12345_67890123_p1.png")


def test_a_parse_error_is_shown_at_its_position(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    page.fill("#q", "1girl width:>abc")
    page.press("#q", "Enter")
    error = page.locator("#error")
    error.wait_for()
    assert "Column 14" in error.inner_text() and "not a number" in error.inner_text()
    assert page.inner_text("#error .error-at") == "a"
    assert page.inner_text("#error .error-query") == "1girl width:>abc"
    assert page.evaluate("document.querySelector('#q').selectionStart") == 13
    assert "invalid" in (page.get_attribute("#q", "class") or "")
    screenshot(page, "04-parse-error")
    # a good query clears it
    search(page, daemon, "sky")
    assert error.is_hidden()


def test_an_empty_result_says_so_and_suggests_what_to_relax(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=" + "scenery cat_ears")
    empty = page.locator("#empty")
    empty.wait_for()
    assert "No images match" in empty.inner_text()
    suggestion = empty.locator("li button").filter(has_text="cat_ears")
    suggestion.wait_for()
    assert "2 images" in suggestion.inner_text()
    screenshot(page, "05-empty")
    suggestion.click()
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'scenery'")
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 2")


def test_keyboard_navigation(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?sort=%2Bdate")
    page.wait_for_selector("#grid .card")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("scen")
    page.wait_for_selector("#suggestions li")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # takes the suggestion
    assert page.input_value("#q") == "scenery "
    page.keyboard.press("Enter")  # searches
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 2")
    page.keyboard.press("Escape")
    first = page.locator("#grid .card-link").first
    first.focus()
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.closest('.card').dataset.id")
    second_id = page.locator("#grid .card").nth(1).get_attribute("data-id")
    assert focused == second_id
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail-title")
    page.keyboard.press("ArrowLeft")
    first_id = page.locator("#grid .card").nth(0).get_attribute("data-id")
    page.wait_for_function(f"location.search.includes('id={first_id}')")
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    assert "id=" not in page.url
    assert page.evaluate("document.activeElement.closest('.card').dataset.id") == first_id


def test_theme_switch_and_phone_layout(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=1girl")
    page.wait_for_selector("#grid .card")
    before = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-button")
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.reload()
    page.wait_for_selector("#grid .card")
    assert page.evaluate("document.documentElement.dataset.theme") == after  # remembered
    if after != "dark":
        page.click("#theme-button")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(246, 247, 249)"
    screenshot(page, "06-dark")
    del background
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)
    # nothing wider than the screen, at least three columns of cards
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tops = page.locator("#grid .card").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert tops.count(tops[0]) >= 3
    screenshot(page, "07-phone")
    # up and down move by a row
    ids = page.locator("#grid .card").evaluate_all("els => els.map(e => e.dataset.id)")
    page.locator("#grid .card-link").first.focus()
    page.keyboard.press("ArrowDown")
    focused = "document.activeElement.closest('.card').dataset.id"
    assert page.evaluate(focused) == ids[tops.count(tops[0])]
    page.keyboard.press("ArrowUp")
    assert page.evaluate(focused) == ids[0]
    page.locator("#grid .card-link").first.click()
    page.wait_for_selector("#detail-title")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#detail .detail-inner").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    screenshot(page, "08-phone-detail")


def test_library_text_is_rendered_as_text(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=" + "has:ocr")
    page.locator("#grid .card-link").first.click()
    page.wait_for_selector("#detail .ocr-text")
    assert XSS in page.inner_text("#detail .ocr-text")
    assert page.locator("#detail-info img").count() == 0
    # the OCR boxes are drawn over the image, scaled from where they were measured
    assert page.locator("#ocr-boxes polygon").count() == 2
    assert page.get_attribute("#ocr-boxes", "viewBox") == "0 0 320 200"
    screenshot(page, "09-ocr-boxes")
    page.keyboard.press("Escape")
    # a tag and a file name holding markup
    sha = daemon.ids[f"{XSS}.png"]
    page.goto(f"{daemon.url}/?q=1girl&id={sha}")
    page.wait_for_selector("#detail-title")
    assert page.inner_text("#detail-title") == f"{XSS}.png"
    assert page.locator(f".tags-table .tag[data-tag='{XSS}']").count() == 1
    assert XSS in page.inner_text("#grid")
    assert page.locator("#grid img").count() == page.locator("#grid .card").count()
    assert page.locator("#detail-info img").count() == 0
    # autocomplete lists it as text too
    page.keyboard.press("Escape")
    page.fill("#q", "<im")
    page.wait_for_selector("#suggestions li")
    assert XSS in page.inner_text("#suggestions")
    assert page.locator("#suggestions img").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None


def test_status_is_live_from_events_or_polled_without_them(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.includes('images')")
    assert re.match(r"^9 images", page.inner_text("#status-button"))
    page.wait_for_function("PX.status.mode() !== 'starting'")
    assert page.evaluate("PX.status.mode()") == "events"
    page.click("#status-button")
    panel = page.locator("#status-panel")
    panel.wait_for()
    assert str(daemon.library) in panel.inner_text()
    screenshot(page, "11-status")
    # pausing indexing from the panel shows at once
    panel.locator("button", has_text="Pause indexing").click()
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.includes('paused')")
    panel.locator("button", has_text="Resume indexing").click()
    page.wait_for_function(
        "!document.querySelector('#status-button').textContent.includes('paused')")


def test_status_is_polled_when_the_daemon_has_no_events(page: Any, daemon: Daemon) -> None:
    page.route("**/api/events*", lambda route: route.fulfill(
        status=404, content_type="application/json", body='{"detail": "Not Found"}'))
    page.goto(daemon.url + "/")
    page.wait_for_function("PX.status.mode() === 'polling'")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url)
            if request.url.endswith("/api/status") else None)
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.startsWith('9 images')")
    page.wait_for_timeout(4500)  # one poll interval
    assert asked, "the status was not polled"


def test_send_to_hydrus_posts_the_search(page: Any, daemon: Daemon) -> None:
    sent: list[Any] = []

    def hydrus_show(route: Any) -> None:
        sent.append(json.loads(route.request.post_data))
        route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {"sent": 2, "not_in_hydrus": 1, "total": 3,
             "page": {"name": "PxIMSE: scenery", "key": "ab"}}))

    page.route("**/api/hydrus", lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"configured": true}'))
    page.route("**/api/hydrus/show", hydrus_show)
    # as where CLIP runs: the description is part of the search sent
    page.route("**/api/features", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(
            {"clip": {"available": True}, "dupes": {"available": True},
             "xmp": {"available": True}, "open_folder": {"available": True}})))
    page.goto(daemon.url + "/?q=scenery&text=blue+sky")
    button = page.locator("#hydrus-button")
    page.wait_for_function("document.querySelector('#hydrus-button')"
                           ".getAttribute('aria-disabled') === 'false'")
    button.click()
    page.wait_for_function("document.querySelector('#notice').textContent.startsWith('Sent')")
    assert page.inner_text("#notice .notice-text") == (
        "Sent 2 of 3 images to Hydrus (PxIMSE: scenery); 1 are not in Hydrus")
    assert sent == [{"q": "scenery", "text": "blue sky", "similar": None}]


@pytest.mark.parametrize("answer", [
    (404, '{"detail": "Not Found"}'), (200, '{"configured": false}')])
def test_without_hydrus_its_button_says_why_and_what_to_do(page: Any, daemon: Daemon,
                                                          answer: tuple[int, str]) -> None:
    asked: list[str] = []
    page.route("**/api/hydrus", lambda route: route.fulfill(
        status=answer[0], content_type="application/json", body=answer[1]))
    page.route("**/api/hydrus/show", lambda route: (asked.append(route.request.url),
                                                    route.abort()))
    page.goto(daemon.url + "/?q=sky")
    page.wait_for_selector("#grid .card")
    page.wait_for_function("document.querySelector('#hydrus-button')"
                           ".getAttribute('aria-disabled') === 'true'")
    assert "Hydrus" in page.get_attribute("#hydrus-button", "title")
    page.click("#hydrus-button", force=True)  # aria-disabled: it still explains itself
    popover = page.locator("#popover")
    popover.wait_for()
    assert "access_key" in popover.inner_text() and "docs/hydrus.md" in popover.inner_text()
    assert asked == []


def test_pages_load_as_the_grid_scrolls_and_back_goes_back(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?limit=2&sort=%2Bdate")
    # 9 images two at a time; the three pages of the Pixiv work end up on one card
    page.wait_for_function("document.querySelector('#grid .pages')"
                           " && document.querySelector('#grid .pages').textContent === '3 pages'")
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 7")
    assert page.locator("#more-button").is_hidden()
    search(page, daemon, "sky")
    search(page, daemon, "cat_ears")
    page.go_back()
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'sky'")
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 2")
    assert page.input_value("#q") == "sky"
    assert "limit=2" in page.url


CHIPS = [
    ("1girl -monochrome", ["1girl", "-monochrome"]),
    ('user:"some one" smile', ['user:"some one"', "smile"]),
    ("(hatsune_miku_(cosplay) or :d) -comic", ["(hatsune_miku_(cosplay) or :d)", "-comic"]),
    ("a or b c", ["a or b", "c"]),
    ("~cat_ears ~fox_ears", ["~cat_ears", "~fox_ears"]),
    ("tags.1girl,!tags1:R-18,filesize;>1000", ["tags.1girl", "!tags1:R-18", "filesize;>1000"]),
    ('m;"a, b",tags.x', ['m;"a, b"', "tags.x"]),
]
CLICKED = [
    ("1girl", {"name": "smile", "kind": "model"}, False, "1girl smile"),
    ("1girl smile", {"name": "smile", "kind": "model"}, True, "1girl -smile"),
    ("", {"name": "long hair", "kind": "source"}, False, '"long hair"'),
    ("", {"name": ":d", "kind": "model"}, True, '-":d"'),
    ("", {"name": "or", "kind": "model"}, False, '"or"'),
    ("", {"name": 'say "hi"', "kind": "model"}, False, '"say \\"hi\\""'),
    ("tags.1girl", {"name": "smile", "kind": "model"}, True, "tags.1girl,!tags.smile"),
    ("tags.1girl", {"name": "猫", "kind": "source"}, False, "tags.1girl,tags1:猫"),
]


def test_query_items_and_clicked_tags_in_the_querys_syntax(page: Any, daemon: Daemon) -> None:
    page.goto(daemon.url + "/?q=none_such_tag")
    page.wait_for_function("window.PX && PX.query")
    for query, items in CHIPS:
        assert page.evaluate("q => PX.query.items(q)", query) == items, query
    for query, tag, exclude, expected in CLICKED:
        got = page.evaluate("([q, t, x]) => PX.query.withTag(q, t, x)", [query, tag, exclude])
        assert got == expected, (query, tag)
        # and the daemon reads it back without an error
        body = daemon.get("/api/search?" + urllib.parse.urlencode({"q": got}))
        assert "total" in body, got


def test_indexing_progress_rate_and_errors_in_the_status(page: Any, daemon: Daemon) -> None:
    status = daemon.get("/api/status")
    status["indexing"] = {"paused": False, "running": True, "stages": {
        "tagger": {"done": 120, "total": 500, "rate": 4.2, "eta_s": 89.0, "state": "running"},
        "ocr": {"done": 500, "total": 500, "rate": 0.0, "eta_s": None, "state": "idle"}}}
    status["library_stages"] = {
        "tagger": {"done": 120, "failed": 0, "total": 500, "other_models": 0, "phase": "running",
                   "state": "running", "rate": 4.2, "eta_s": 89.0, "model_id": "wd14:x"},
        "ocr": {"done": 500, "failed": 2, "total": 500, "other_models": 0, "phase": "idle",
                "state": "idle", "rate": 0.0, "eta_s": None, "model_id": "rapidocr:x"}}
    status["errors"] = 1
    status["recent_errors"] = [{"path": f"/library/{XSS}.png", "reason": "truncated",
                                "time": "2026-01-01T00:00:00Z"}]
    page.route("**/api/events*", lambda route: route.fulfill(status=404, body="{}"))
    page.route("**/api/status", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(status)))
    page.goto(daemon.url + "/")
    button = page.locator("#status-button")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.includes('tagger')")
    assert "tagger 120/500" in button.inner_text()
    assert button.locator(".badge").inner_text() == "1"
    button.click()
    rows = page.locator("#status-panel table.stages tbody tr").all_inner_texts()
    cells = [re.split(r"\s*\t\s*", row.strip()) for row in rows]
    assert cells[0][:2] == ["Tagger", "running"]
    assert cells[0][2].startswith("120 of 500") and cells[0][3:] == ["380", "4.2/s", "1 min"]
    assert cells[1][:2] == ["Text (OCR)", "ready"]
    assert "500 of 500" in cells[1][2] and "2 failed" in cells[1][2]
    errors = page.inner_text("#status-panel .errors")
    assert f"/library/{XSS}.png" in errors and "truncated" in errors
    assert page.locator("#status-panel img").count() == 0
    screenshot(page, "12-indexing-status")


def test_the_page_works_under_its_own_content_security_policy(
        browser: Any, daemon: Daemon) -> None:  # noqa: F811
    """The other tests lift the CSP (Playwright's waits evaluate strings); this one
    keeps it and checks that nothing the page does is refused."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    problems = watch_page(page)
    page.goto(daemon.url + "/?q=has:ocr")
    page.locator("#grid .card").first.wait_for()
    page.fill("#q", "sky")
    page.press("#q", "Enter")
    page.locator("#chips .chip-text", has_text="sky").wait_for()
    page.locator("#grid .card-link").first.click()
    page.locator("#detail-title").wait_for()
    page.click("#detail-close")
    page.click("#theme-button")
    page.goto(daemon.url + "/?q=has:ocr")
    page.locator("#grid .card-link").first.click()
    page.locator("#ocr-boxes polygon").first.wait_for(state="attached")
    page.keyboard.press("Escape")
    page.click("#status-button")
    page.locator("#status-panel .roots").wait_for()
    context.close()
    assert refused == [] and problems == [], (refused, problems)
