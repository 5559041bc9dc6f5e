"""What a web page, a swapped file or a stray client can and cannot make the daemon do,
rule by rule, in-process (the browser tests in test_web_security.py try the same
from a real Chromium)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient
from helpers.api_client import api_client
from helpers.web_fixtures import fake_opener

from pximse.api.app import create_app
from pximse.api.guards import HostGuard
from pximse.config import ConfigError, ServerConfig
from pximse.library.changes import apply_changes
from pximse.library.scan import ScanPool, scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog

CROSS = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
         "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty"}


@pytest.fixture
def indexed(library: Path, make_image, make_config):
    make_image(library / "a.png", seed=1, size=(80, 60))
    make_image(library / "sub" / "b.png", seed=2, size=(80, 60))
    config = make_config({"main": library})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    yield config, catalog
    catalog.close()


def client_for(indexed, make_config, library: Path, extra: str = "") -> TestClient:
    _, catalog = indexed
    config = make_config({"main": library}, extra=extra) if extra else indexed[0]
    return api_client(create_app(config, catalog), client=("127.0.0.1", 50000))


def sha_of(client: TestClient, name: str) -> str:
    items = client.get("/api/search", params={"limit": 100}).json()["items"]
    return next(item["id"] for item in items if item["path"].endswith(name))


# -- Host ------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_before_any_route(indexed) -> None:
    with client_for(indexed, None, None) as client:
        for host in ("127.0.0.1:8741", "localhost:8741", "[::1]:8741", "127.1.2.3:8741",
                     "LOCALHOST:8741"):
            assert client.get("/api/status", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example:8741", "evil.example", "127.0.0.1:9999", "localhost",
                     "127.0.0.1.evil.example:8741", "", "a b", "192.168.1.5:8741"):
            answer = client.get("/api/search", headers={"Host": host})
            assert answer.status_code == 421, host
            assert answer.json()["error"] == "host"
            assert answer.headers["x-content-type-options"] == "nosniff"
        # a state change with a foreign name is refused as well
        answer = client.post("/api/indexing/pause", headers={"Host": "evil.example:8741"})
        assert answer.status_code == 421
        assert client.get("/api/status").json()["indexing"]["paused"] is False


def test_allowed_hosts_and_the_configured_host_are_answered() -> None:
    guard = HostGuard(lambda *a: None, ServerConfig(
        host="127.0.0.1", port=8741, allowed_hosts=("pximse.lan", "photos.example.org:443")))
    assert guard.allows("pximse.lan", "http", 8741)  # through a proxy on port 80
    assert guard.allows("pximse.lan:8080", "http", 8741)
    assert guard.allows("photos.example.org", "https", 8741)
    assert not guard.allows("photos.example.org:8443", "https", 8741)
    assert not guard.allows("other.lan:8741", "http", 8741)
    named = HostGuard(lambda *a: None, ServerConfig(host="nas.local", port=8741, token="t"))
    assert named.allows("nas.local:8741", "http", 8741)
    assert not named.allows("192.168.1.5:8741", "http", 8741)
    everywhere = HostGuard(lambda *a: None, ServerConfig(host="0.0.0.0", port=8741, token="t"))
    assert everywhere.allows("192.168.1.5:8741", "http", 8741)  # an address is not rebindable
    assert everywhere.allows("[fe80::1]:8741", "http", 8741)
    assert not everywhere.allows("evil.example:8741", "http", 8741)
    assert not everywhere.allows("192.168.1.5:8742", "http", 8741)


def test_host_keys_are_checked_when_the_file_is_loaded(make_config) -> None:
    config = make_config(extra='[server]\nallowed_hosts = ["PxIMSE.lan.", "[::1]:80"]\n'
                               'cors_origins = ["http://LOCALHOST:3000/", "https://x.org:443"]\n')
    assert config.server.allowed_hosts == ("pximse.lan", "[::1]:80")
    assert config.server.cors_origins == ("http://localhost:3000", "https://x.org")
    for bad in ('allowed_hosts = ["http://x.org"]', 'allowed_hosts = ["x.org/path"]',
                'allowed_hosts = "x.org"', 'cors_origins = ["x.org"]',
                'cors_origins = ["null"]', 'cors_origins = ["http://x.org/app"]',
                'cors_origins = ["*"]'):
        with pytest.raises(ConfigError) as error:
            make_config(extra=f"[server]\n{bad}\n")
        assert "server." in str(error.value), bad
    assert make_config(extra='[server]\ntoken = "t"\ncors_origins = ["*"]\n') \
        .server.cors_origins == ("*",)


# -- Origin and Sec-Fetch-Site -------------------------------------------------------------


def test_state_changes_come_only_from_the_daemons_own_page_or_a_script(indexed) -> None:
    with client_for(indexed, None, None) as client:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},  # a sandboxed frame, a file:// page
            {"Origin": "http://localhost:8741"},  # another name for the daemon: another origin
            {"Origin": "http://127.0.0.1:3000"},  # another local server
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},  # another port of the same host
            CROSS,
        ):
            for path in ("/api/indexing/pause", "/api/scan", "/api/pixiv/fetch"):
                answer = client.post(path, headers=headers, content=b"x=1",)
                assert answer.status_code == 403, (path, headers)
                assert answer.json()["error"] == "origin"
        assert client.get("/api/status").json()["indexing"]["paused"] is False
        own = {"Origin": "http://127.0.0.1:8741", "Sec-Fetch-Site": "same-origin"}
        assert client.post("/api/indexing/pause", headers=own).json() == {"paused": True}
        # no browser headers at all: curl, the tray, a script
        assert client.post("/api/indexing/resume").json() == {"paused": False}


def test_other_sites_pages_cannot_read_or_embed_anything(indexed) -> None:
    with client_for(indexed, None, None) as client:
        sha = sha_of(client, "a.png")
        for path in ("/api/search", f"/api/images/{sha}/file", f"/api/images/{sha}/thumbnail",
                     "/api/events", "/api/status", "/openapi.json"):
            answer = client.get(path, headers=CROSS)
            assert answer.status_code == 403, path
            assert "access-control-allow-origin" not in answer.headers
        # a preflight from a site that is not listed: refused, not a 405
        preflight = client.options("/api/search", headers={
            **CROSS, "Sec-Fetch-Mode": "cors", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 403
        # following a link from another site to the daemon is fine (the page can read
        # nothing of what opens)
        link = client.get("/", headers={"Sec-Fetch-Site": "cross-site",
                                        "Sec-Fetch-Mode": "navigate",
                                        "Sec-Fetch-Dest": "document"})
        assert link.status_code == 200
        framed = client.get("/", headers={"Sec-Fetch-Site": "cross-site",
                                          "Sec-Fetch-Mode": "navigate",
                                          "Sec-Fetch-Dest": "iframe"})
        assert framed.status_code == 403
        own = client.get("/api/search", headers={"Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200


def test_a_configured_cors_origin_may_read_and_change(indexed, make_config, library) -> None:
    extra = '[server]\ncors_origins = ["http://localhost:3000"]\n'
    front = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site",
             "Sec-Fetch-Mode": "cors"}
    with client_for(indexed, make_config, library, extra) as client:
        preflight = client.options("/api/query/", headers={
            **front, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        answer = client.get("/api/search", headers=front)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "origin" in answer.headers["vary"].lower()
        assert client.post("/api/query/", data={"query": ""}, headers=front).status_code == 200
        assert client.post("/api/indexing/pause", headers=front).json() == {"paused": True}
        other = {**front, "Origin": "http://localhost:4000"}
        assert client.get("/api/search", headers=other).status_code == 403
        assert client.post("/api/indexing/resume", headers=other).status_code == 403


def test_a_wildcard_cors_origin_never_goes_with_credentials(indexed, make_config,
                                                            library) -> None:
    extra = '[server]\ntoken = "s3cret"\ncors_origins = ["*"]\n'
    with client_for(indexed, make_config, library, extra) as client:
        front = {"Origin": "https://anywhere.example", "Sec-Fetch-Site": "cross-site",
                 "Authorization": "Bearer s3cret"}
        answer = client.get("/api/search", headers=front)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers
        preflight = client.options("/api/search", headers={
            "Origin": "https://anywhere.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert "access-control-allow-credentials" not in preflight.headers
        # the token is still needed
        assert client.get("/api/search", headers={**front, "Authorization": ""}
                          ).status_code == 401


# -- the token and the page's session --------------------------------------------------------


def test_the_page_signs_in_with_a_cookie_and_the_token_never_goes_in_a_url(
        indexed, make_config, library) -> None:
    extra = '[server]\ntoken = "s3cret-token"\n'
    with client_for(indexed, make_config, library, extra) as client:
        assert client.get("/api/session").json() == {"token_required": True,
                                                     "signed_in": False}
        assert client.get("/api/search", params={"token": "s3cret-token"}).status_code == 401
        wrong = client.post("/api/session", json={"token": "guess"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        signed = client.post("/api/session", json={"token": "s3cret-token"})
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("pximse_session_8741=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), attribute
        assert "s3cret-token" not in cookie
        assert client.get("/api/search").status_code == 200
        assert client.get("/api/session").json()["signed_in"] is True
        client.delete("/api/session")
        assert client.get("/api/search").status_code == 401
        # another site's page cannot sign a browser in (or out)
        assert client.post("/api/session", json={"token": "s3cret-token"},
                           headers=CROSS).status_code == 403


def test_a_one_time_link_signs_the_page_in_once(indexed, make_config, library) -> None:
    extra = '[server]\ntoken = "s3cret-token"\n'
    with client_for(indexed, make_config, library, extra) as client:
        assert client.post("/api/session/link").status_code == 401  # needs the token
        link = client.post("/api/session/link",
                           headers={"Authorization": "Bearer s3cret-token"}).json()
        assert link["url"].startswith("/?login=") and link["expires_s"] == 120
        code = link["url"].removeprefix("/?login=")
        assert "s3cret" not in code
        assert client.post("/api/session", json={"code": code}).status_code == 200
        assert client.get("/api/status").status_code == 200
        client.cookies.clear()
        assert client.post("/api/session", json={"code": code}).status_code == 401  # used


# -- headers and bodies ----------------------------------------------------------------------


def test_every_answer_says_nosniff(indexed) -> None:
    with client_for(indexed, None, None) as client:
        for answer in (client.get("/"), client.get("/api/search"), client.get("/api/nothing"),
                       client.get("/api/search", params={"q": "width:>abc"}),
                       client.get("/api/images/xyz"), client.get("/docs"),
                       client.post("/api/scan", headers=CROSS),
                       client.get("/", headers={"Host": "evil.example"}),
                       client.post("/api/search/image", content=b"x" * 100,
                                   headers={"Content-Length": str(10 << 30)})):
            assert answer.headers["x-content-type-options"] == "nosniff", answer.url
            assert answer.headers["referrer-policy"] == "no-referrer"


def test_a_body_that_says_it_is_too_long_is_refused_unread(indexed) -> None:
    """(A chunked body is counted as it arrives: test_web_security.py sends one to a
    real daemon, as the in-process client reads a body whole before sending it.)"""
    with client_for(indexed, None, None) as client:
        said = client.post("/api/search/image", content=b"x",
                           headers={"Content-Length": str(200 << 20)})
        assert said.status_code == 413 and "MB" in said.json()["message"]
        small = client.post("/api/indexing/pause", content=b"\0" * (2 << 20))
        assert small.status_code == 413
        assert client.get("/api/status").json()["indexing"]["paused"] is False


def test_no_id_gives_a_500(indexed) -> None:
    with client_for(indexed, None, None) as client:
        sha = sha_of(client, "a.png")
        for bad in (sha + "%0A", sha + "%0D%0A", sha[:-1] + "g", sha + "0", "%00" * 64,
                    sha.upper() + "%20"):
            for suffix in ("", "/file", "/thumbnail"):
                answer = client.get(f"/api/images/{bad}{suffix}")
                assert answer.status_code in (400, 404), (bad, suffix, answer.status_code)
            assert client.post(f"/api/images/{bad}/open-folder").status_code in (400, 404)
        assert client.get(f"/api/images/{sha.upper()}/thumbnail").status_code == 200


def test_the_docs_page_names_nothing_outside_the_daemon(indexed) -> None:
    import re

    with client_for(indexed, None, None) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe" not in page.headers["content-security-policy"]
        assert "http" not in page.text and "<script>" not in page.text
        links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(links) == 4
        for link in links:
            assert link.startswith("/"), link
            answer = client.get(link)
            assert answer.status_code == 200 and len(answer.content) > 100, link
        assert client.get("/docs/assets/index.html").status_code == 404
        assert client.get("/redoc").status_code == 404


# -- files served as recorded --------------------------------------------------------------


def test_a_file_swapped_for_a_link_is_not_served(indexed, tmp_path: Path,
                                                 library: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with client_for(indexed, None, None) as client:
        a, b = sha_of(client, "a.png"), sha_of(client, "b.png")
        assert client.get(f"/api/images/{a}/file").status_code == 200
        (library / "a.png").unlink()
        (library / "a.png").symlink_to(secret)
        answer = client.get(f"/api/images/{a}/file")
        assert answer.status_code == 404 and b"root:" not in answer.content
        # a folder on the way swapped for a link to a copy of the same file
        elsewhere = tmp_path / "elsewhere"
        (library / "sub").rename(elsewhere)
        (library / "sub").symlink_to(elsewhere)
        assert client.get(f"/api/images/{b}/file").status_code == 404
        assert client.post(f"/api/images/{b}/open-folder").status_code == 404


def test_a_changed_or_odd_file_is_not_served(indexed, library: Path, make_config) -> None:
    with client_for(indexed, None, None) as client:
        a, b = sha_of(client, "a.png"), sha_of(client, "b.png")
        with open(library / "a.png", "ab") as handle:
            handle.write(b"more")  # edited since the scan: size and time differ
        assert client.get(f"/api/images/{a}/file").status_code == 404
        (library / "sub" / "b.png").unlink()
        os.mkfifo(library / "sub" / "b.png")  # would hang a plain open()
        started = time.monotonic()
        assert client.get(f"/api/images/{b}/file").status_code == 404
        assert time.monotonic() - started < 5


def test_with_links_followed_a_swap_still_needs_the_recorded_size_and_time(
        indexed, library: Path, make_config, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    extra = "[scan]\nfollow_symlinks = true\n"
    with client_for(indexed, make_config, library, extra) as client:
        a = sha_of(client, "a.png")
        kept = tmp_path / "kept.png"
        os.rename(library / "a.png", kept)
        (library / "a.png").symlink_to(kept)  # the same file through a link: fine
        assert client.get(f"/api/images/{a}/file").status_code == 200
        (library / "a.png").unlink()
        (library / "a.png").symlink_to(secret)
        assert client.get(f"/api/images/{a}/file").status_code == 404


def test_the_watcher_and_a_scan_take_a_file_replaced_by_a_link_for_gone(
        indexed, library: Path, tmp_path: Path) -> None:
    config, catalog = indexed
    a, b = _sha_in(catalog, "a.png"), _sha_in(catalog, "b.png")
    (tmp_path / "secret.txt").write_text("secret\n")
    (library / "a.png").unlink()
    (library / "a.png").symlink_to(tmp_path / "secret.txt")
    with ScanPool(1) as pool:
        report = apply_changes(catalog, {config.roots[0]: {str(library / "a.png")}},
                               pool=pool, thumbnail_dir=config.thumbnail_dir,
                               config=config.scan)
    assert report.removed == 1
    assert catalog.recorded_files(a) == []
    (library / "sub" / "b.png").rename(tmp_path / "b.png")
    (library / "sub" / "b.png").symlink_to(tmp_path / "b.png")
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    assert catalog.recorded_files(b) == []


def _sha_in(catalog: SqliteCatalog, name: str) -> str:
    return next(sha for (sha,) in catalog.db.reader().execute(
        "SELECT c.sha256 FROM content c JOIN file f ON f.content_id = c.id"
        " WHERE f.name = ?", (name,)))


def test_open_folder_leaves_no_zombie(indexed, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, log = fake_opener(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with client_for(indexed, None, None) as client:
        sha = sha_of(client, "a.png")
        before = {child.pid for child in psutil.Process().children()}
        assert client.post(f"/api/images/{sha}/open-folder").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            zombies = [c for c in psutil.Process().children()
                       if c.pid not in before and c.status() == psutil.STATUS_ZOMBIE]
            if not zombies and log.exists() and log.read_text():
                break
            time.sleep(0.05)
        assert not zombies


# -- other local users ---------------------------------------------------------------------


def test_the_data_folder_and_catalogue_are_this_users_only(tmp_path: Path) -> None:
    from pximse.service.lock import DaemonLock

    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        catalog = SqliteCatalog(data / "catalog.sqlite3")
        with catalog.db.write() as conn:  # the WAL and shared-memory files appear
            conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        lock = DaemonLock(data)
        lock.acquire()
        assert data.stat().st_mode & 0o777 == 0o700
        for name in ("catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm",
                     "daemon.lock"):
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
        lock.release()
        catalog.close()
        # a folder an older version left open to everyone is closed on the next start
        os.chmod(data, 0o755)
        os.chmod(data / "catalog.sqlite3", 0o644)
        SqliteCatalog(data / "catalog.sqlite3").close()
        assert data.stat().st_mode & 0o777 == 0o700
        assert (data / "catalog.sqlite3").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


# -- event streams -------------------------------------------------------------------------


def test_two_event_buses_in_one_process_never_share_a_message() -> None:
    """Each bus counts its ids from 1; an app made again (or the tests' many apps)
    must not be sent another bus's event with the same id."""
    from pximse.api.routes_daemon import _message
    from pximse.events import EventBus

    old, new = EventBus(), EventBus()
    assert b'"images":0' in _message(old.record("status", images=0))
    assert b'"images":2' in _message(new.record("status", images=2))


def test_a_new_event_stream_gets_its_own_snapshot_without_costing_the_others(indexed) -> None:
    from helpers.events_stream import sse_messages

    with client_for(indexed, None, None) as client:
        app = client.app
        listening = app.state.events.subscribe()  # a client already connected
        app.state.daemon.begin_stop()  # each stream ends after its snapshot
        firsts = []
        for _ in range(3):
            with client.stream("GET", "/api/events") as answer:
                firsts.append(next(sse_messages(answer.iter_lines())))
        assert [m["event"] for m in firsts] == ["status"] * 3
        assert firsts[0]["data"]["data"]["images"] == 2
        # the client that was there got none of the newcomers' snapshots
        assert [e.kind for e in listening.drain()] == []
        # three connections within a second cost one snapshot
        assert len({m["id"] for m in firsts}) == 1
