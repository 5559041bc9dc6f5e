"""Searching by image and by description from the page, in a real browser,
against a daemon with a tiny real open_clip model (an open_clip folder the test
writes) and the vectors the real pipeline saved. The daemon has a token, so the
page is opened the way the tray opens it then: with a one-time sign-in link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

pytest.importorskip("open_clip")

from helpers.clip_daemon import start_clip_daemon  # noqa: E402
from helpers.clip_model import tiny_archs  # noqa: E402,F401 (a fixture)
from helpers.web_fixtures import (  # noqa: E402
    LAPTOP,
    Daemon,
    screenshot,
    stop_daemon,
    watch_page,
)
from helpers.web_fixtures import browser as browser  # noqa: E402,F401 (a fixture)

pytestmark = pytest.mark.slow

IMAGES = 8
TOKEN = "page-test-token"
WAIT_MS = 90_000  # the daemon loads PyTorch and the model on the first vector query


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory,
           tiny_archs: None) -> Iterator[Daemon]:  # noqa: F811
    running = start_clip_daemon(tmp_path_factory.mktemp("web_clip"), IMAGES,
                                f'token = "{TOKEN}"')
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


def first_card(page: Any) -> tuple[str, str]:
    card = page.locator("#grid .card").first
    return card.get_attribute("data-id"), card.locator(".score").inner_text()


def test_search_by_image_more_like_this_and_description(
        page: Any, daemon: Daemon) -> None:
    from pximse.tray.client import DaemonClient

    link = DaemonClient(daemon.url, TOKEN).page_url()
    assert "/?login=" in link and TOKEN not in link
    page.goto(link)
    page.wait_for_selector("#grid .card")
    assert "login" not in page.url  # traded for the page's cookie, out of the address
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#grid img')).every(i => i.complete"
        " && i.naturalWidth > 0)")
    assert page.inner_text("#count").startswith(f"{IMAGES} images")
    page.wait_for_function("PX.status.mode() !== 'starting'")
    assert page.evaluate("PX.status.mode()") == "events"  # the stream took the cookie

    # choose a file: the same picture ranks first, with score 1
    target = "pic05.png"
    page.set_input_files("#image-file", str(daemon.library / target))
    page.wait_for_function("document.querySelector('#count').textContent.includes('ranked by')")
    found, score = first_card(page)
    assert found == daemon.ids[target]
    assert score == "1.000"
    assert page.locator("#grid .card .score").count() == IMAGES
    pill = page.locator("#ranking-pill")
    assert "like pic05.png" in pill.inner_text()
    assert "image" in dict(parse_qsl(urlsplit(page.url).query))  # the upload's key
    screenshot(page, "10-search-by-image")

    # the ranking is explicit: a new query keeps it while the pill shows it ...
    page.fill("#q", "width:>100")
    page.press("#q", "Enter")
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'width:>100'"
                           " && document.querySelector('#count').textContent.includes('ranked by')")
    assert "image" in dict(parse_qsl(urlsplit(page.url).query))
    assert "like pic05.png" in pill.inner_text()
    # ... and its × removes it, from the box and the address
    pill.locator(".pill-remove").click()
    page.wait_for_function("!new URLSearchParams(location.search).has('image')")
    page.wait_for_function("!document.querySelector('#count').textContent.includes('ranked by')"
                           " && !document.querySelector('#count').textContent.startsWith('Search')")
    assert pill.is_hidden() and page.locator("#grid .card .score").count() == 0
    page.locator("#chips .chip-remove").click()  # and the query's width:>100
    page.wait_for_function(f"document.querySelectorAll('#grid .card').length === {IMAGES}")

    # "more like this" on another card
    other = daemon.ids["pic02.png"]
    card = page.locator(f"#grid .card[data-id='{other}']")
    card.hover()
    card.locator(".similar").click()
    page.wait_for_function(f"location.search.includes('similar={other}')")
    page.wait_for_function(
        f"document.querySelector('#grid .card') && "
        f"document.querySelector('#grid .card').dataset.id === '{other}'")
    assert first_card(page)[1] == "1.000"
    assert pill.inner_text().startswith("like this")

    # describe it: ranked by the text, within the query
    page.fill("#text", "a red square")
    page.fill("#q", "width:>100")
    page.press("#text", "Enter")
    page.wait_for_function("document.querySelector('#count').textContent.includes('clip text')")
    expected = sum(1 for i in range(IMAGES) if 80 + 8 * i > 100)
    assert page.inner_text("#count").startswith(f"{expected} images")
    assert "a red square" in pill.inner_text()
    assert "text=a+red+square" in page.url

    # a pasted image (one test, so that xdist never loads the model in two daemons)
    page.goto(f"{daemon.url}/")  # still signed in
    page.wait_for_selector("#grid .card")
    data = list((daemon.library / "pic01.png").read_bytes())
    page.evaluate(
        """bytes => {
          const file = new File([new Uint8Array(bytes)], "clip.png", {type: "image/png"});
          const data = new DataTransfer();
          data.items.add(file);
          document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data}));
        }""", data)
    page.wait_for_function("document.querySelector('#count').textContent.includes('ranked by')")
    assert first_card(page) == (daemon.ids["pic01.png"], "1.000")
    # and one dropped on the page
    data = list((daemon.library / "pic06.png").read_bytes())
    page.evaluate(
        """bytes => {
          const file = new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"});
          const data = new DataTransfer();
          data.items.add(file);
          document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                                              cancelable: true}));
        }""", data)
    page.wait_for_function(
        "document.querySelector('#ranking-pill').textContent.includes('dropped.png')")
    page.wait_for_function(
        f"document.querySelector('#grid .card') && "
        f"document.querySelector('#grid .card').dataset.id === '{daemon.ids['pic06.png']}'")
