"""A front end served from another origin, in real Chromium, doing what the original
PxIMSE page does: ``$fetch(apiUrl, {method: "POST", body: formData})`` with its
form (``text`` "null" after clearing, comma-joined chips, ``image`` a file or a
card's ``${serverUrl}/${folder}/${filename}``), then an ``<img>`` per document at
that address. The page here is a few lines written for the test; the original's
own build was checked the same way by hand (see docs/coming-from-pximse.md).

The daemon lists the page's origin in ``server.cors_origins``; a page on an
origin it does not list can neither read an answer nor show a picture."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("open_clip")

from conftest import http_server  # noqa: E402
from helpers.clip_daemon import start_clip_daemon  # noqa: E402
from helpers.clip_model import tiny_archs  # noqa: E402,F401 (a fixture)
from helpers.web_fixtures import Daemon, stop_daemon, watch_page  # noqa: E402
from helpers.web_fixtures import browser as browser  # noqa: E402,F401 (a fixture)

pytestmark = pytest.mark.slow

IMAGES = 6
WAIT_MS = 90_000  # the daemon loads PyTorch and the model on the first vector query

PAGE = b"""<!doctype html><meta charset="utf-8"><title>front end</title><body>
<input type="file" id="file">
<script>
// What the original page's submitData does: FormData.append turns null into
// "null" and an array into its comma-joined String().
async function submit(serverUrl, text, query, sort, image) {
  const form = new FormData();
  form.append("text", text);
  form.append("query", query);
  form.append("sort", sort);
  if (image === "file") form.append("image", document.getElementById("file").files[0]);
  else if (image) form.append("image", image);
  const answer = await fetch(serverUrl + "/api/query/", {method: "POST", body: form});
  return {status: answer.status, body: await answer.json()};
}
// A card's picture, as <v-img :src="`${serverUrl}/${item.folder}/${item.filename}`">.
function show(serverUrl, doc) {
  return new Promise(done => {
    const img = new Image();
    img.onload = () => done(img.naturalWidth);
    img.onerror = () => done(0);
    img.src = `${serverUrl}/${doc.folder}/${doc.filename}`;
    document.body.append(img);
  });
}
</script>"""


class FrontEnd(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the handler's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front_end() -> Iterator[str]:
    with http_server(FrontEnd) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, front_end: str,
           tiny_archs: None) -> Iterator[Daemon]:  # noqa: F811
    running = start_clip_daemon(tmp_path_factory.mktemp("original_browser"), IMAGES,
                                f'cors_origins = ["{front_end}"]')
    yield running
    stop_daemon(running)


@pytest.fixture
def page(browser: Any, front_end: str) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems = watch_page(opened)
    opened.goto(front_end + "/")
    yield opened
    context.close()
    assert problems == [], problems


def submit(page: Any, daemon: Daemon, text: Any = "", query: Any = (), sort: Any = (),
           image: str | None = None) -> dict[str, Any]:
    return page.evaluate("([url, text, query, sort, image]) => submit(url, text, query, sort, "
                         "image)", [daemon.url, text, None if query is None else list(query),
                                    None if sort is None else list(sort), image])


def shown(page: Any, daemon: Daemon, docs: list[dict[str, Any]]) -> list[int]:
    return [page.evaluate("([url, doc]) => show(url, doc)", [daemon.url, doc]) for doc in docs]


def test_the_original_pages_requests_from_another_origin(page: Any, daemon: Daemon) -> None:
    everything = submit(page, daemon, text=None, query=None, sort=None)  # cleared boxes
    assert everything["status"] == 200
    docs = everything["body"]
    assert len(docs) == IMAGES and {doc["folder"] for doc in docs} == {"main"}
    assert all(width > 0 for width in shown(page, daemon, docs))  # every picture shows
    narrow = submit(page, daemon, query=["width;>=96", "!tags.monochrome"],
                    sort=["width;1", "filename"])
    assert [doc["width"] for doc in narrow["body"]] == [96, 104, 112, 120]
    # a card's magnify button: image is the card's own address
    card = narrow["body"][0]
    ranked = submit(page, daemon, image=f"{daemon.url}/{card['folder']}/{card['filename']}")
    assert ranked["status"] == 200
    assert ranked["body"][0]["_id"] == card["_id"]
    assert ranked["body"][0]["image_distance"] == pytest.approx(1.0, abs=1e-3)
    # a file from the file box, and a text
    page.set_input_files("#file", str(Path(daemon.library) / card["filename"]))
    uploaded = submit(page, daemon, image="file")
    assert uploaded["body"][0]["_id"] == card["_id"]
    described = submit(page, daemon, text="a small picture")
    assert len(described["body"]) == IMAGES
    assert all("text_distance" in doc for doc in described["body"])
    # an address that is not the daemon's own is refused, saying why
    foreign = submit(page, daemon, image="https://example.org/picture.png")
    assert foreign["status"] == 400 and "never fetches" in foreign["body"]["detail"]


def test_a_page_on_an_origin_not_listed_gets_nothing(browser: Any, daemon: Daemon,
                                                    page: Any) -> None:  # noqa: F811
    docs = submit(page, daemon)["body"]
    with http_server(FrontEnd) as other:
        context = browser.new_context()
        stranger = context.new_page()
        stranger.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        read = stranger.evaluate("(url) => submit(url, '', [], [], null).then(() => 'read', "
                                 "error => 'refused')", daemon.url)
        assert read == "refused"
        assert shown(stranger, daemon, docs[:2]) == [0, 0]
        context.close()
