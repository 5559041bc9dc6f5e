"""An attacker's web pages against a real daemon (``pximse serve``, default
configuration: 127.0.0.1, no token) in a real Chromium: a page served from
another origin, and one reached by DNS rebinding (Chromium's
``--host-resolver-rules`` points ``evil.example`` at 127.0.0.1, as a rebinding
DNS server would). Neither can read a search, pause indexing with a form post
or open a folder. Then what a local client can send: a file swapped for a link
is a 404, a chunked body past the limit is cut off, and six 100-megapixel
query images at once grow the daemon by less than 300 MB (read from /proc)."""

from __future__ import annotations

import http.server
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import SYSTEM_HINT

pytest.importorskip("open_clip")

from helpers.clip_daemon import start_clip_daemon  # noqa: E402
from helpers.clip_model import tiny_archs  # noqa: E402,F401 (a fixture)
from helpers.web_fixtures import CHROMIUM, Daemon, free_port, stop_daemon  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

pytestmark = pytest.mark.slow

EVIL = "evil.example"
MEMORY_BOUND = 300 << 20


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory,
           tiny_archs: None) -> Iterator[Daemon]:  # noqa: F811
    running = start_clip_daemon(tmp_path_factory.mktemp("web_security"), 4)
    yield running
    stop_daemon(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"the browser tests drive Debian's Chromium at {CHROMIUM}, which is not "
                    f"installed ({SYSTEM_HINT.format(package='chromium')})")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"])
        yield launched
        launched.close()


ATTACK = """async ([base, sha, mode]) => {
  const report = {};
  try {
    const r = await fetch(base + "/api/search?limit=100");
    report.search = {status: r.status, body: await r.text()};
  } catch (e) { report.search = {error: String(e)}; }
  try {
    const r = await fetch(base + "/api/images/" + sha + "/open-folder",
                          {method: "POST", mode: mode});
    report.open = {status: r.status, type: r.type};
  } catch (e) { report.open = {error: String(e)}; }
  try {
    const r = await fetch(base + "/api/indexing/pause", {method: "POST", mode: mode});
    report.pause = {status: r.status, type: r.type};
  } catch (e) { report.pause = {error: String(e)}; }
  // a plain form post, as any site can send one
  const sink = document.createElement("iframe");
  sink.name = "sink";
  document.body.appendChild(sink);
  const form = document.createElement("form");
  form.method = "POST";
  form.enctype = "text/plain";
  form.target = "sink";
  form.action = base + "/api/indexing/pause";
  const field = document.createElement("input");
  field.name = "x";
  field.value = "1";
  form.appendChild(field);
  document.body.appendChild(form);
  form.submit();
  await new Promise(done => setTimeout(done, 1500));
  return report;
}"""


class _Pages(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[tuple[str, type[_Pages]]]:
    """A web server of the attacker's on another port (another origin)."""
    pages = type("Pages", (_Pages,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


def _status(daemon: Daemon) -> dict[str, Any]:
    return daemon.get("/api/status")  # type: ignore[no-any-return]


def _run_attack(browser: Any, url: str, base: str, sha: str, mode: str) -> dict[str, Any]:
    """Open ``url`` and run the attacker's script in it against ``base``."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        return page.evaluate(ATTACK, [base, sha, mode])  # type: ignore[no-any-return]
    finally:
        context.close()


def _nothing_happened(daemon: Daemon) -> None:
    time.sleep(0.5)
    assert _status(daemon)["indexing"]["paused"] is False
    assert not (daemon.opened_log.exists() and daemon.opened_log.read_text())


def test_a_page_of_another_origin_cannot_read_pause_or_open_a_folder(
        browser: Any, daemon: Daemon, other_origin: tuple[str, type[_Pages]]) -> None:
    origin, pages = other_origin
    pages.body = b"<!doctype html><title>a page on the web</title><body>"
    report = _run_attack(browser, f"{origin}/", daemon.url, daemon.ids["pic01.png"], "no-cors")
    assert "error" in report["search"]  # CORS: the page cannot read the answer
    assert "pic0" not in json.dumps(report)
    # no-cors: an opaque answer at most (the daemon's Cross-Origin-Resource-Policy
    # makes Chromium drop even that); what counts is that nothing happened
    for attempt in (report["open"], report["pause"]):
        assert attempt.get("status", 0) == 0, report
    _nothing_happened(daemon)


def test_a_rebound_name_gets_nothing_from_the_daemon(browser: Any, daemon: Daemon) -> None:
    port = daemon.url.rsplit(":", 1)[1]
    # The attacker's page was loaded under their name; the name now leads to
    # 127.0.0.1, so the page's own origin is the daemon's address. Its script runs
    # in that origin (here: on the refusal the daemon sends for the page itself).
    report = _run_attack(browser, f"http://{EVIL}:{port}/", "", daemon.ids["pic01.png"],
                         "same-origin")
    # Same-origin in the browser's eyes, so the page reads the answers: refusals.
    assert report["search"].get("status") == 421, report
    assert "pic0" not in report["search"]["body"]
    assert "allowed_hosts" in json.loads(report["search"]["body"])["message"]
    assert report["open"]["status"] == 421 and report["pause"]["status"] == 421
    _nothing_happened(daemon)


def test_the_daemons_own_page_still_pauses_and_reads(browser: Any, daemon: Daemon) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(daemon.url + "/")
        page.wait_for_selector("#grid .card")
        answer = page.evaluate("""async () => {
            const r = await fetch("/api/indexing/pause", {method: "POST"});
            const s = await fetch("/api/search");
            return [r.status, (await s.json()).total];
        }""")
        assert answer == [200, 4]
        assert _status(daemon)["indexing"]["paused"] is True
        page.evaluate("fetch('/api/indexing/resume', {method: 'POST'})")
    finally:
        context.close()
    deadline = time.monotonic() + 10
    while _status(daemon)["indexing"]["paused"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _status(daemon)["indexing"]["paused"] is False


def test_a_file_swapped_for_a_link_is_a_404(daemon: Daemon, tmp_path: Path) -> None:
    sha = daemon.ids["pic03.png"]
    url = f"{daemon.url}/api/images/{sha}/file"
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    target = daemon.library / "pic03.png"
    target.rename(tmp_path / "pic03.png")
    target.symlink_to(secret)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 404
        assert b"root:" not in refused.value.read()
    finally:
        target.unlink()
        (tmp_path / "pic03.png").rename(target)


def test_a_chunked_body_past_the_limit_is_cut_off(daemon: Daemon) -> None:
    port = int(daemon.url.rsplit(":", 1)[1])
    boundary = "xyz"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    sent = 0
    answered = threading.Event()

    def send_forever(conn: socket.socket) -> None:
        nonlocal sent
        chunk = b"\x89PNG" + b"\0" * ((1 << 20) - 4)
        try:
            while sent < 400 << 20 and not answered.is_set():
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the daemon closed the connection after its answer

    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall((f"POST /api/search/image HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n").encode())
        conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        sender = threading.Thread(target=send_forever, args=(conn,), daemon=True)
        sender.start()
        try:
            while b"\r\n\r\n" not in answer:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
        answered.set()
        sender.join(timeout=60)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 120 << 20  # refused soon after 50 MB (plus what socket buffers held)


def _big_png(path: Path) -> Path:
    image = Image.new("RGB", (10_000, 10_000), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(0, 10_000, 500):
        draw.rectangle((i, i // 2, i + 300, i // 2 + 4000), fill=(i % 255, 200, 30))
    image.save(path, "PNG", compress_level=1)
    return path


def _big_jpeg(path: Path) -> Path:
    image = Image.new("RGB", (10_000, 10_000), (200, 60, 60))
    ImageDraw.Draw(image).ellipse((1000, 1000, 9000, 9000), fill=(20, 160, 90))
    image.save(path, "JPEG", quality=70)
    return path


def _upload(url: str, path: Path) -> tuple[int, str]:
    boundary = "pximse-upload-test"
    body = io.BytesIO()
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
               f"filename=\"{path.name}\"\r\nContent-Type: image/png\r\n\r\n".encode())
    body.write(path.read_bytes())
    body.write(f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url + "/api/search/image", data=body.getvalue(), method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) << 10
    raise AssertionError(field)


def test_six_100_megapixel_query_images_at_once_stay_within_the_bound(
        daemon: Daemon, tmp_path: Path) -> None:
    pid = daemon.process.pid
    images = [_big_png(tmp_path / "big0.png"), _big_jpeg(tmp_path / "big1.jpg")]
    images = [images[i % 2] for i in range(6)]
    # The first vector search loads PyTorch and the model: not the uploads' cost.
    assert _upload(daemon.url, daemon.library / "pic00.png")[0] == 200
    before = _rss(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from here
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda path: _upload(daemon.url, path), images))
    peak = _rss(pid, "VmHWM")
    assert [status for status, _ in answers] == [200] * 6, answers
    assert all(json.loads(body)["total"] == 4 for _, body in answers)
    grown = peak - before
    print(f"six 100 MP uploads: daemon RSS {before >> 20} MB, peak {peak >> 20} MB, "
          f"grown {grown >> 20} MB (bound {MEMORY_BOUND >> 20} MB)")
    assert grown < MEMORY_BOUND


def test_the_daemon_on_another_port_is_not_this_one(daemon: Daemon) -> None:
    """A request that names the daemon with another port is not the daemon's own."""
    port = free_port()
    request = urllib.request.Request(daemon.url + "/api/status",
                                     headers={"Host": f"127.0.0.1:{port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 421


def test_the_api_docs_work_offline_under_their_policy(browser: Any, daemon: Daemon) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        requested: list[str] = []
        complaints: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: complaints.append(message.text)
                if message.type in ("error", "warning") else None)
        page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                             "console.error('CSP ' + e.violatedDirective + ' ' + e.blockedURI))")
        answer = page.goto(daemon.url + "/docs")
        assert answer is not None and "default-src 'self'" in answer.headers[
            "content-security-policy"]
        page.wait_for_selector(".opblock-summary-path", timeout=60_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/search" in paths and "/api/search/image" in paths
        page.locator(".opblock-summary-path", has_text="/api/search/image").first.click()
        page.wait_for_selector(".opblock-body option[value='multipart/form-data']",
                               state="attached")
    finally:
        context.close()
    others = [url for url in requested if not url.startswith(daemon.url)]
    assert others == []
    assert [c for c in complaints if "CSP" in c or "Content Security" in c] == []


TOKEN = "sign-in-test-token"


@pytest.fixture(scope="module")
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    from conftest import draw_picture
    from helpers.web_fixtures import start_scanned_daemon

    running = start_scanned_daemon(
        tmp_path_factory.mktemp("web_sign_in"),
        {f"pic{i}.png": draw_picture(300 + i, (90, 70)) for i in range(3)},
        f'[server]\ntoken = "{TOKEN}"\n')
    yield running
    stop_daemon(running)


def test_the_page_signs_in_once_and_never_puts_the_token_in_an_address(
        browser: Any, token_daemon: Daemon) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        # an old link with the token in it: not used, and out of the address bar
        page.goto(f"{token_daemon.url}/?token={TOKEN}&sort=random")
        page.wait_for_selector("#signin:not([hidden])")
        assert "token" not in page.url and "sort=random" in page.url
        page.fill("#signin-token", "wrong")
        page.click("#signin button")
        page.wait_for_selector("#signin-error:not([hidden])")
        page.fill("#signin-token", TOKEN)
        page.click("#signin button")
        page.wait_for_selector("#grid .card")
        assert page.is_hidden("#signin")
        page.wait_for_function("PX.status.mode() === 'events'")  # the stream took the cookie
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
        assert page.evaluate("JSON.stringify(localStorage)").find(TOKEN) < 0
        page.locator("#grid .card").first.click()
        original = page.locator("#detail a", has_text="Original").first
        original.wait_for()
        href = original.get_attribute("href") or ""
        assert href.startswith("/api/images/") and "token" not in href
        cookie = next(c for c in context.cookies() if c["name"].startswith("pximse_session"))
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert TOKEN not in cookie["value"]
    finally:
        context.close()
    assert [url for url in requested if TOKEN in url and "token=" in url] == [
        f"{token_daemon.url}/?token={TOKEN}&sort=random"]  # only the old link itself
