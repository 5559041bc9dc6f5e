"""The page follows the library live: a file dropped into a watched root shows
up in the status and as a notice, without reloading the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import draw_picture
from web_fixtures import LAPTOP, Daemon, start_daemon, stop_daemon, watch_page, write_config
from web_fixtures import browser as browser  # noqa: F401 (a fixture)

from pximse.config import load_config
from pximse.library.scan import scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("web_live")
    library = folder / "library"
    library.mkdir()
    for i in range(3):
        draw_picture(300 + i).save(library / f"old{i}.png")
    config_path = write_config(folder, library, "[scan]\nworkers = 1\n")
    config = load_config(config_path, folder / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    catalog.close()
    running = start_daemon(folder, library, config_path)
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
    page.wait_for_function(
        "document.querySelector('#notice').textContent.startsWith('The library changed')")
    assert "1 added" in page.inner_text("#notice")
    page.wait_for_function(
        "document.querySelector('#status-button').textContent.startsWith('4 images')")
    context.close()
    assert problems == [], problems
