"""The page follows the library live: a file dropped into a watched root shows
up in the status and as a notice, without reloading the page; the notice
stays until it is dismissed or clicked, and a click shows the new file (it
used to vanish after 6 seconds, and could not be clicked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import draw_picture
from helpers.web_fixtures import LAPTOP, Daemon, start_scanned_daemon, stop_daemon, watch_page
from helpers.web_fixtures import browser as browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = start_scanned_daemon(
        tmp_path_factory.mktemp("web_live"),
        {f"old{i}.png": draw_picture(300 + i) for i in range(3)}, "[scan]\nworkers = 1\n")
    yield running
    stop_daemon(running)


def test_a_new_file_shows_in_the_status_and_a_notice(browser: Any, daemon: Daemon  # noqa: F811
                                                     ) -> None:
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = watch_page(page)
    page.goto(daemon.url + "/")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.startsWith('3 images')")
    page.wait_for_function("PX.status.mode() === 'events'")
    draw_picture(400).save(daemon.library / "new.png")
    page.wait_for_selector("#grid .card")
    assert page.locator("#grid .card").count() == 3
    page.wait_for_function(
        "document.querySelector('#notice').textContent.startsWith('The library changed')")
    assert "1 added" in page.inner_text("#notice")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.startsWith('4 images')")
    page.wait_for_timeout(7000)
    assert "1 added" in page.inner_text("#notice")  # still there
    page.click("#notice .notice-refresh")
    page.wait_for_function("document.querySelectorAll('#grid .card').length === 4")
    assert page.inner_text("#notice") == ""
    context.close()
    assert problems == [], problems
