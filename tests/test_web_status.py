"""Each model stage over the whole library, in the page, from a daemon that
really indexes: `pximse serve` with its models on and downloads off, so the
tagger and CLIP wait for weights that are not there (and say what to do) while
OCR (RapidOCR's own models) reads the library for real.

Before, the status showed the tagger and CLIP as "idle 0 0", showed OCR only
once this run had done OCR work, counted this run's images only, and a tag
search that found nothing gave no hint that no tagger had run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import draw_picture
from helpers.web_fixtures import LAPTOP, Daemon, screenshot, stop_daemon, watch_page
from helpers.web_fixtures import browser as browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

IMAGES = 3


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    import os
    import subprocess
    import sys

    from helpers.web_fixtures import Daemon as Running
    from helpers.web_fixtures import fake_opener, free_port, write_config

    folder = tmp_path_factory.mktemp("web_status")
    library = folder / "library"
    library.mkdir()
    for i in range(IMAGES):
        draw_picture(600 + i, (160, 120)).save(library / f"pic{i}.png")
    config = write_config(folder, library, "[models]\nallow_download = false\n\n"
                                          "[scan]\nworkers = 1\n")
    bin_dir, opened = fake_opener(folder)
    port = free_port()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PXIMSE_CONFIG", None)
    env.pop("PXIMSE_DATA_DIR", None)
    log = open(folder / "daemon.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--port", str(port), "--config", str(config),
         "--data-dir", str(folder / "data")], stdout=log, stderr=subprocess.STDOUT, env=env)
    running = Running(url=f"http://127.0.0.1:{port}", folder=folder, library=library,
                      opened_log=opened, process=process)
    deadline = time.monotonic() + 120
    while True:  # until the scan has found the pictures
        assert process.poll() is None, (folder / "daemon.log").read_text(errors="replace")
        try:
            if running.get("/api/status").get("images") == IMAGES:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the daemon did not scan the library in time"
        time.sleep(0.2)
    yield running
    stop_daemon(running)


def test_every_stage_is_shown_over_the_whole_library_with_why_it_waits(
        browser: Any, daemon: Daemon) -> None:  # noqa: F811
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(120_000)  # OCR reads the pictures meanwhile, on a shared CPU
    problems = watch_page(page)
    page.goto(daemon.url + "/")
    page.wait_for_selector("#grid .card")
    page.click("#status-button")
    rows = page.locator("#status-panel table.stages tbody tr")
    rows.first.wait_for()
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.stage)") == ["tagger", "ocr", "clip"]
    for stage in ("tagger", "clip"):
        row = page.locator(f"#status-panel tr[data-stage='{stage}']")
        assert row.locator(".phase").inner_text() == "waiting for weights"
        why = row.locator(".stage-why").inner_text()
        assert "allow_download" in why and "pximse models download" in why
        assert f"0 of {IMAGES}" in row.locator(".done-of").inner_text()
    # OCR reads the library for real; its row counts the library's images
    page.wait_for_function(
        f"document.querySelector(\"#status-panel tr[data-stage='ocr'] .done-of\")"
        f".textContent === '{IMAGES} of {IMAGES}'")
    assert page.locator("#status-panel tr[data-stage='ocr'] .phase").inner_text() in (
        "ready", "running")
    screenshot(page, "13-status-waiting-for-weights")
    # a tag search finds nothing, and the page says why
    page.fill("#q", "tags.long_hair")
    page.press("#q", "Enter")
    hint = page.locator("#empty .stage-hint")
    hint.wait_for()
    assert "No tagger has run on this library yet" in hint.inner_text()
    assert "allow_download" in hint.inner_text()
    context.close()
    assert problems == [], problems
