"""How long a search takes in the search page, against the API call it makes;
how soon the first card is on screen when the page is opened on a search, and
how many bytes that costs.

A synthetic catalogue (``make_catalog.py``, 100k images by default) is served
by a real ``pximse serve``; Debian's headless Chromium (driven by Playwright)
opens the page. For each query, in the same page and the same run:

- baseline: ``fetch('/api/search?q=…&limit=60')`` and ``.json()`` from the page
  (the request the page makes, over the same connection);
- page: submit the query in the search box until the count and the 60 cards
  are on screen (``#count`` no longer says "Searching").

The page's overhead is what it adds to the API: building the chips and the
cards, the URL, the status. Thumbnails are not waited for (the synthetic
catalogue has no files: they are 404s), and each measurement starts once the
previous one's requests are over. Pass: the median page search is at most 1.5x the
median API call plus 100 ms, and under a second.

Then, for each query, the page is opened on ``/?q=…&limit=50`` in a new
browser context (nothing cached: the HTML, the scripts and the styles are
downloaded again) against the warm daemon:

- first card: from the start of the navigation until the first card is in the
  viewport and a frame has been painted with it; baseline: the API call
  alone (``fetch`` of the same search, limit 50, from a warm page);
- bytes: everything the page downloaded until its results and their tag list
  are shown (the HTML, scripts, styles, status, features, search, tag counts,
  the events stream so far), thumbnails aside; baseline: the search's JSON
  alone. Pass: the first card within 1 s and under 300 KiB, every query.

    .venv/bin/python bench/page_search.py [--images 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _common import emit_result, fmt_ms, machine_line, median, progress, verdict
from make_catalog import ensure_catalog

CHROMIUM = os.environ.get("PXIMSE_TEST_CHROMIUM", "/usr/bin/chromium")
QUERIES = ["", "1girl", "1girl -monochrome", "long_hair smile order:-filesize",
           "source:pixiv width:>=1000", "~cat_ears ~fox_ears solo"]

SEARCH_IN_PAGE = """async (query) => {
  const count = document.querySelector('#count');
  const done = new Promise(resolve => {
    const watch = new MutationObserver(() => {
      if (count.textContent && !count.textContent.startsWith('Searching')) {
        watch.disconnect(); resolve();
      }
    });
    watch.observe(count, {childList: true, characterData: true, subtree: true});
  });
  const started = performance.now();
  document.querySelector('#q').value = query;
  document.querySelector('#search-form').requestSubmit();
  await done;
  return [performance.now() - started, document.querySelectorAll('#grid .card').length];
}"""

THUMBNAILS_SETTLED = """() => Array.from(document.querySelectorAll('#grid img'))
  .filter(img => img.getBoundingClientRect().top < innerHeight + 600)
  .every(img => img.complete)"""

FETCH_IN_PAGE = """async ([query, limit]) => {
  const started = performance.now();
  const response = await fetch('/api/search?' + new URLSearchParams({q: query, limit: limit}));
  const body = await response.json();
  return [performance.now() - started, body.items.length];
}"""


FIRST_CARD_WATCH = """(() => {
  window.__firstCard = null;
  const watch = new MutationObserver(() => {
    const card = document.querySelector('#grid .card');
    if (!card) return;
    const box = card.getBoundingClientRect();
    if (box.bottom <= 0 || box.top >= innerHeight) return;
    watch.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.__firstCard = performance.now();
    }));
  });
  watch.observe(document, {childList: true, subtree: true});
})();"""

OPEN_LIMIT = 50
BYTES_BUDGET = 300 * 1024
FIRST_CARD_BUDGET = 1.0


class Transfer:
    """Bytes a page received, per request, from Chromium's own network events
    (the encoded length: headers and body as they came over the socket)."""

    def __init__(self, page: Any) -> None:
        self.urls: dict[str, str] = {}
        self.finished: dict[str, int] = {}
        self.streamed: dict[str, int] = {}
        session = page.context.new_cdp_session(page)
        self.session = session
        session.send("Network.enable")
        session.send("Performance.enable")
        session.on("Network.responseReceived", self._response)
        session.on("Network.dataReceived", self._data)
        session.on("Network.loadingFinished", self._finished)

    def _response(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["response"]["url"]

    def _data(self, event: dict[str, Any]) -> None:
        key = event["requestId"]
        self.streamed[key] = self.streamed.get(key, 0) + int(event.get("dataLength", 0))

    def _finished(self, event: dict[str, Any]) -> None:
        self.finished[event["requestId"]] = int(event["encodedDataLength"])

    def total(self, skip: str) -> tuple[int, int]:
        """Bytes received (finished requests as sent, a stream still open as far as it
        got) and the number of requests, leaving out URLs that contain ``skip``."""
        size = count = 0
        for key, url in self.urls.items():
            if skip in url:
                continue
            size += self.finished.get(key, self.streamed.get(key, 0))
            count += 1
        return size, count

    def of(self, part: str) -> int:
        return sum(self.finished.get(key, 0) for key, url in self.urls.items() if part in url)


def main_thread_seconds(session: Any) -> float:
    """How long the page's main thread has been busy (Chromium's ``TaskDuration``:
    script, style, layout, paint), which a loaded machine stretches far less
    than the wall clock."""
    metrics = session.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def open_on_search(browser: Any, url: str, query: str) -> tuple[float, float, int, int, int]:
    """The page opened on a search in a fresh context: seconds until the first
    card is painted, the main thread's busy seconds by then, bytes received
    (thumbnails aside), requests, the search's bytes."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        context.add_init_script(FIRST_CARD_WATCH)
        page = context.new_page()
        transfer = Transfer(page)
        address = url + "/?" + urllib.parse.urlencode({"q": query, "limit": str(OPEN_LIMIT)})
        page.goto(address)
        page.wait_for_function("() => window.__firstCard !== null", timeout=60_000)
        took = float(page.evaluate("() => window.__firstCard")) / 1000
        busy = main_thread_seconds(transfer.session)
        page.wait_for_selector("#tagbar .tagbar-group", timeout=60_000)
        page.wait_for_timeout(500)  # the status and its stream's first event
        size, requests = transfer.total("/thumbnail")
        return took, busy, size, requests, transfer.of("/api/search?")
    finally:
        context.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_daemon(folder: Path, catalog: Path) -> tuple[subprocess.Popen[bytes], str]:
    data = folder / "data"
    data.mkdir()
    progress(f"copying {catalog.name} ({catalog.stat().st_size >> 20} MiB)")
    shutil.copy(catalog, data / "catalog.sqlite3")
    config = folder / "config.toml"
    config.write_text("", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--no-scan", "--no-models", "--port", str(port),
         "--config", str(config), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=open(folder / "daemon.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit((folder / "daemon.log").read_text(errors="replace"))
        try:
            with urllib.request.urlopen(url + "/api/search?q=1girl&limit=1", timeout=60):
                return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the daemon did not answer in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(machine_line(), f"load average {os.getloadavg()[0]:.1f}")
    catalog, _ = ensure_catalog(args.images, args.tags, 1, args.rebuild)
    with tempfile.TemporaryDirectory(prefix="pximse-page-bench-") as tmp:
        process, url = start_daemon(Path(tmp), catalog)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(url + "/")
                page.wait_for_selector("#grid .card", timeout=120_000)
                session = page.context.new_cdp_session(page)
                session.send("Performance.enable")
                rows = []
                for query in QUERIES:
                    page.evaluate(SEARCH_IN_PAGE, query)  # warm: caches, the query index
                    api, shown, busy = [], [], []
                    for _ in range(args.runs):
                        # Each measured alone: the grid's thumbnail requests (404
                        # here) must not queue ahead of the next request.
                        page.wait_for_function(THUMBNAILS_SETTLED)
                        page.wait_for_timeout(200)
                        took, items = page.evaluate(FETCH_IN_PAGE, [query, "60"])
                        api.append(took / 1000)
                        page.wait_for_timeout(200)
                        before = main_thread_seconds(session)
                        took, cards = page.evaluate(SEARCH_IN_PAGE, query)
                        busy.append(main_thread_seconds(session) - before)
                        shown.append(took / 1000)
                    rows.append((query, median(api), median(shown), items, cards, median(busy)))
                    print(f"{query or '(everything)':36} api {fmt_ms(median(api)):>10}"
                          f"   page {fmt_ms(median(shown)):>10}   {cards} cards"
                          f"   (main thread busy {fmt_ms(median(busy))})")
                opened = []
                for query in QUERIES:
                    api50 = []
                    for _ in range(args.runs):
                        page.wait_for_timeout(100)
                        api50.append(page.evaluate(FETCH_IN_PAGE,
                                                   [query, str(OPEN_LIMIT)])[0] / 1000)
                    firsts, busies, sizes = [], [], []
                    for _ in range(args.runs):
                        took, busy_s, size, requests, search_bytes = open_on_search(
                            browser, url, query)
                        firsts.append(took)
                        busies.append(busy_s)
                        sizes.append(size)
                    opened.append((query, median(api50), median(firsts), max(firsts),
                                   max(sizes), requests, search_bytes, median(busies)))
                    print(f"{query or '(everything)':36} opened: first card "
                          f"{fmt_ms(median(firsts)):>10} (worst {fmt_ms(max(firsts))}; main "
                          f"thread busy {fmt_ms(median(busies))}; API alone "
                          f"{fmt_ms(median(api50))})   {max(sizes) / 1024:.0f} KiB in "
                          f"{requests} requests (the search's JSON {search_bytes / 1024:.0f} KiB)")
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    api_all = median([row[1] for row in rows])
    page_all = median([row[2] for row in rows])
    worst = max(rows, key=lambda row: row[2] - row[1])
    ratio = page_all / api_all if api_all else float("inf")
    busy_all = median([row[5] for row in rows])
    ok = page_all <= 1.5 * api_all + 0.1 and max(row[2] for row in rows) < 1.0
    verdict("page search", ok,
            f"median over queries: page {fmt_ms(page_all)}, API {fmt_ms(api_all)} "
            f"({ratio:.2f}x); most overhead: {worst[0]!r} +{fmt_ms(worst[2] - worst[1])}; "
            f"the page's main thread busy {fmt_ms(busy_all)} a search")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    first_all = median([row[2] for row in opened])
    first_busy = median([row[7] for row in opened])
    worst_first = max(row[3] for row in opened)
    most_bytes = max(opened, key=lambda row: row[4])
    opened_ok = worst_first < FIRST_CARD_BUDGET and most_bytes[4] < BYTES_BUDGET
    verdict("page opened on a search", opened_ok,
            f"first card median {fmt_ms(first_all)}, worst {fmt_ms(worst_first)}, main thread "
            f"busy {fmt_ms(first_busy)} by then "
            f"(the API call alone: {fmt_ms(median([row[1] for row in opened]))}); "
            f"at most {most_bytes[4] / 1024:.0f} KiB ({most_bytes[0]!r}; its search's JSON "
            f"{most_bytes[6] / 1024:.0f} KiB), thumbnails aside")
    ok = ok and opened_ok
    emit_result({"bench": "page", "images": args.images, "api_ms": api_all * 1000,
                 "page_ms": page_all * 1000, "ratio": ratio, "pass": ok,
                 "busy_ms": busy_all * 1000, "first_card_ms": first_all * 1000,
                 "first_card_worst_ms": worst_first * 1000, "first_card_busy_ms": first_busy * 1000,
                 "bytes_max": most_bytes[4],
                 "queries": {row[0]: {"api_ms": row[1] * 1000, "page_ms": row[2] * 1000}
                             for row in rows},
                 "opened": {row[0]: {"api_ms": row[1] * 1000, "first_card_ms": row[2] * 1000,
                                     "bytes": row[4], "search_bytes": row[6]}
                            for row in opened}})
    print(json.dumps({"images": args.images, "runs": args.runs}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
