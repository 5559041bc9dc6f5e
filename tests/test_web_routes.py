"""The routes behind the search page, in-process: the page and its caching,
open-folder and who may use it, and what search results carry for the page."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.api_client import api_client
from helpers.web_fixtures import fake_opener

from pximse.api.app import create_app
from pximse.api.routes_folder import opener_command
from pximse.api.routes_page import CONTENT_SECURITY_POLICY
from pximse.library.scan import scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog


@pytest.fixture
def indexed(library: Path, make_image, make_config):
    for page in range(3):
        make_image(library / f"12345_67890123_p{page}.png", seed=page, size=(120, 90))
    make_image(library / "yande.re 777 cat_ears.png", seed=9, size=(2000, 1000))
    config = make_config({"main": library})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    return config, catalog


def local_client(indexed, host: str = "127.0.0.1") -> TestClient:
    config, catalog = indexed
    return api_client(create_app(config, catalog), client=(host, 50000))


def sha_of(client: TestClient, name: str) -> str:
    items = client.get("/api/search", params={"limit": 100}).json()["items"]
    return next(item["id"] for item in items if item["path"].endswith(name))


def test_the_page_is_served_with_versioned_assets(indexed) -> None:
    with local_client(indexed) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["referrer-policy"] == "no-referrer"
        assert client.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
        links = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
        assert {link.split("?")[0] for link in links} >= {
            "/assets/app.js", "/assets/style.css", "/assets/dom.js", "/assets/theme.js"}
        assert "{{" not in page.text and "<script>" not in page.text  # no inline script
        for link in links:
            versioned = client.get(link)
            assert versioned.status_code == 200, link
            assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert versioned.headers["x-content-type-options"] == "nosniff"
        plain = client.get("/assets/app.js")
        assert plain.headers["cache-control"] == "no-cache"
        assert plain.headers["content-type"].startswith("text/javascript")
        assert client.get("/assets/app.js?v=stale").headers["cache-control"] == "no-cache"
        assert client.get("/assets/nothing.js").status_code == 404
        assert client.get("/assets/index.html").status_code == 404
        assert client.get("/assets/..%2Fapp.py").status_code == 404


def test_the_page_opens_without_the_token_and_the_api_still_needs_it(
        indexed, make_config, library: Path) -> None:
    _, catalog = indexed
    config = make_config({"main": library}, extra='[server]\ntoken = "s3cret"\n')
    with api_client(create_app(config, catalog)) as client:
        assert client.get("/").status_code == 200
        assert client.get("/assets/app.js").status_code == 200
        assert client.get("/api/search").status_code == 401
        # a token in the URL would end up in history and logs: it does not count
        assert client.get("/api/search", params={"token": "s3cret"}).status_code == 401
        assert client.get("/api/search",
                          headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_no_static_file_puts_text_in_as_html() -> None:
    static = Path(__file__).resolve().parents[1] / "daemon" / "api" / "static"
    for script in static.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert risky not in text, (script.name, risky)


def test_search_results_carry_their_works_page_count(indexed) -> None:
    with local_client(indexed) as client:
        body = client.get("/api/search", params={"q": "pixiv:67890123 page:1"}).json()
        assert [item["work_pages"] for item in body["items"]] == [3]
        other = client.get("/api/search", params={"q": "cat_ears"}).json()["items"]
        assert [item["work_pages"] for item in other] == [1]


def test_ocr_boxes_are_measured_on_the_ocr_view(indexed) -> None:
    with local_client(indexed) as client:
        big = client.get(f"/api/images/{sha_of(client, 'cat_ears.png')}").json()
        assert big["ocr_box_space"] == {"width": 1600, "height": 800}
        small = client.get(f"/api/images/{sha_of(client, '_p0.png')}").json()
        assert small["ocr_box_space"] == {"width": 120, "height": 90}


def test_open_folder_runs_the_opener_for_a_local_request(
        indexed, library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, log = fake_opener(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with local_client(indexed) as client:
        sha = sha_of(client, "_p1.png")
        answer = client.post(f"/api/images/{sha}/open-folder")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"opened": str(library),
                                 "path": str(library / "12345_67890123_p1.png")}
        deadline = time.monotonic() + 10
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.read_text().splitlines() == [str(library)]
        # the same origin is fine; another site is not
        same = client.post(f"/api/images/{sha}/open-folder",
                           headers={"Origin": "http://127.0.0.1:8741"})
        assert same.status_code == 200
        cross = client.post(f"/api/images/{sha}/open-folder",
                            headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        fetch = client.post(f"/api/images/{sha}/open-folder",
                            headers={"Sec-Fetch-Site": "cross-site"})
        assert fetch.status_code == 403
        assert client.post(f"/api/images/{'0' * 64}/open-folder").status_code == 404
        # The client resolves the dots: /etc/open-folder, which only GET answers (the
        # original's /{folder}/{filename} file route).
        assert client.post("/api/images/../../etc/open-folder").status_code in (400, 404, 405)
        assert client.post("/api/images/nothex/open-folder").status_code == 400


def test_open_folder_is_refused_to_another_computer(indexed) -> None:
    with local_client(indexed, host="192.168.1.20") as client:
        sha = sha_of(client, "_p1.png")
        answer = client.post(f"/api/images/{sha}/open-folder")
        assert answer.status_code == 403
        assert "computer running PxIMSE" in answer.json()["detail"]


def test_open_folder_without_an_opener_says_so(
        indexed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no xdg-open here
    with local_client(indexed) as client:
        answer = client.post(f"/api/images/{sha_of(client, '_p1.png')}/open-folder")
        assert answer.status_code == 503
        assert "xdg-open" in answer.json()["detail"]


def test_opener_commands_per_platform() -> None:
    assert opener_command("/a/b.png", "darwin") == ["open", "-R", "/a/b.png"]
    assert opener_command(r"C:\a\b.png", "win32") == ["explorer", r"/select,C:\a\b.png"]


def test_every_static_file_ships_in_the_wheel() -> None:
    """The package data globs of pyproject.toml cover each file of the page."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["pximse.api"]
    static = root / "daemon" / "api" / "static"
    files = [path.relative_to(static.parent).as_posix() for path in static.rglob("*")
             if path.is_file()]
    assert "static/index.html" in files
    for name in files:
        # setuptools' globs do not cross a "/" (no "**" here)
        assert any(fnmatch.fnmatch(name, pattern) and name.count("/") == pattern.count("/")
                   for pattern in patterns), name
