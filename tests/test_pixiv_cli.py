"""``pximse pixiv fetch|status|update`` end to end: real image files indexed, then
fetched from a fake Pixiv over real HTTP (tests/helpers/pixiv_fake.py), then searched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers.api_client import api_client
from helpers.pixiv_fake import FakePixiv, FakeWork

from pximse.cli import main

TOKEN = "cli-refresh-token-0123456789"


@pytest.fixture
def fake() -> Iterator[FakePixiv]:
    server = FakePixiv(TOKEN).start()
    server.add(FakeWork(80000001, title="Rainy Street", bookmarks=2500, views=40000, likes=300,
                        user_id=1001, user_name="Alice",
                        tags=[("オリジナル", {"en": "original"}), ("雨", {"en": "rain"})]))
    server.add(FakeWork(80000002, title="Quiet", bookmarks=3, views=90, user_id=2002,
                        user_name="Bob"))
    server.add(FakeWork(80000003, state="deleted"))
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path: Path, fake: FakePixiv, make_image) -> list[str]:  # type: ignore[no-untyped-def]
    library = tmp_path / "library"
    make_image(library / "pixiv" / "1001_80000001_p0.png", seed=1)
    make_image(library / "pixiv" / "1001_80000001_p1.png", seed=2)
    make_image(library / "pixiv" / "80000002_p0.png", seed=3)
    make_image(library / "pixiv" / "80000003_p0.jpg", seed=4)
    make_image(library / "holiday.png", seed=5)
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{(tmp_path / "data").as_posix()}"\n'
        "[[library.roots]]\n"
        f'name = "lib"\npath = "{library.as_posix()}"\n'
        "[pixiv]\n"
        f'app_api_url = "{fake.url}"\najax_url = "{fake.url}"\n'
        "request_interval_s = 0.0\njitter_s = 0.0\nmax_retries = 1\n",
        encoding="utf-8")
    common = ["--config", str(config)]
    indexed = invoke("index", "--no-models", *common)
    assert indexed.exit_code == 0, indexed.output
    return common


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def search(common: list[str], query: str) -> set[str]:
    found = invoke("search", *common, "--json", "--limit", "100", query)
    assert found.exit_code == 0, found.output
    return {Path(item["path"]).name for item in json.loads(found.output)}


def test_fetch_then_search(setup: list[str], fake: FakePixiv) -> None:
    env = {"PXIMSE_PIXIV_REFRESH_TOKEN": TOKEN}
    result = invoke("pixiv", "fetch", *setup, env=env)
    assert result.exit_code == 0, result.output
    assert "Pixiv (app API): 3 of 3 works fetched: 2 ok, 1 deleted, 0 private, 0 failed" \
        in result.output
    assert "pixiv: 3/3 works" in result.output  # progress lines when not on a terminal
    assert TOKEN not in result.output
    assert len(fake.detail_requests()) == 3

    assert search(setup, "bookmarks:>1000") == {"1001_80000001_p0.png", "1001_80000001_p1.png"}
    assert search(setup, "src:rain title:rainy") == {"1001_80000001_p0.png",
                                                     "1001_80000001_p1.png"}
    assert search(setup, "pixiv:deleted") == {"80000003_p0.jpg"}
    assert search(setup, "user:Bob views:<100") == {"80000002_p0.png"}
    assert search(setup, "bookmarkCount;>=3,!tags1:rain") == {"80000002_p0.png"}

    # Within the max age nothing is asked again; the summary says why.
    again = invoke("pixiv", "fetch", *setup, env=env)
    assert again.exit_code == 0 and "0 of 0 works" in again.output
    assert "2 works were fetched within the last 30 days" in again.output
    assert "1 works Pixiv said were deleted or private" in again.output
    assert len(fake.detail_requests()) == 3

    fake.works["80000003"].state = "ok"
    fake.works["80000003"].title = "Back Again"
    # Deleted works are asked again only on request, and (as every work) only
    # once they are older than the max age: resuming such a run asks nothing twice.
    back = invoke("pixiv", "fetch", *setup, "--refetch-deleted", "--json", env=env)
    assert json.loads(back.output)["selected"] == 0
    back = invoke("pixiv", "fetch", *setup, "--refetch-deleted", "--max-age", "0", "--json",
                  env=env)
    report = json.loads(back.output)
    assert (report["selected"], report["ok"], report["via"]) == (3, 3, "app")
    assert search(setup, "title:back pixiv:ok") == {"80000003_p0.jpg"}

    forced = json.loads(invoke("pixiv", "fetch", *setup, "--max-age", "0", "--limit", "2",
                               "--json", "user:Bob", env=env).output)
    assert (forced["selected"], forced["done"]) == (1, 1)

    status = json.loads(invoke("pixiv", "status", *setup, "--json", env=env).output)
    assert (status["works"], status["ok"], status["deleted"], status["unfetched"]) == (
        3, 3, 0, 0)
    assert status["refresh_token"] == "set" and TOKEN not in json.dumps(status)


def test_fetch_without_a_token_uses_the_web_endpoint(setup: list[str],
                                                     fake: FakePixiv) -> None:
    result = invoke("pixiv", "fetch", *setup, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["via"], report["ok"], report["deleted"]) == ("ajax", 2, 1)
    assert fake.auth_requests() == []
    assert search(setup, "likes:300") == {"1001_80000001_p0.png", "1001_80000001_p1.png"}
    text = invoke("pixiv", "status", *setup).output
    assert "not set: the public web endpoint is used" in text


def test_a_refused_token_is_a_clear_error(setup: list[str], fake: FakePixiv) -> None:
    result = invoke("pixiv", "fetch", *setup, env={"PXIMSE_PIXIV_REFRESH_TOKEN": "nope-nope"})
    assert result.exit_code == 1
    assert "refused the refresh token" in result.output and "nope-nope" not in result.output
    assert fake.detail_requests() == []


@pytest.mark.slow
def test_failures_are_reported_and_kept_for_the_next_run(setup: list[str],
                                                         fake: FakePixiv) -> None:
    fake.script(80000002, 500, 500)
    result = invoke("pixiv", "fetch", *setup)
    assert result.exit_code == 0, result.output
    assert "1 failed for a passing reason" in result.output
    status = invoke("pixiv", "status", *setup)
    assert "80000002: HTTP 500" in status.output
    assert "last attempt failed (tried again next run): 1" in status.output
    assert search(setup, "pixiv:deleted") == {"80000003_p0.jpg"}
    again = json.loads(invoke("pixiv", "fetch", *setup, "--json").output)
    assert (again["selected"], again["ok"]) == (1, 1)


def test_update_fills_names(setup: list[str]) -> None:
    result = invoke("pixiv", "update", *setup)
    assert result.exit_code == 0 and "0 images got a user name" in result.output


def test_a_bad_query_is_a_clear_error(setup: list[str]) -> None:
    result = CliRunner().invoke(main, ["pixiv", "fetch", *setup, "width:>abc"], env={})
    assert result.exit_code == 1 and "column" in result.output


def test_the_api_searches_the_fields_and_shows_the_work(setup: list[str],
                                                        fake: FakePixiv) -> None:

    from pximse.api.app import create_app
    from pximse.config import load_config
    from pximse.store.sqlite.catalog import SqliteCatalog

    assert invoke("pixiv", "fetch", *setup, "-q").exit_code == 0
    config = load_config(Path(setup[1]), None, env={})
    catalog = SqliteCatalog(config.catalog_path)
    try:
        with api_client(create_app(config, catalog)) as client:
            found = client.get("/api/search", params={"q": "bookmarks:>1000 src:original",
                                                      "sort": "-views"})
            assert found.status_code == 200
            items = found.json()["items"]
            assert {Path(item["path"]).name for item in items} == {
                "1001_80000001_p0.png", "1001_80000001_p1.png"}
            detail = client.get(f"/api/images/{items[0]['id']}").json()
            pixiv = detail["pixiv"]
            assert (pixiv["state"], pixiv["title"], pixiv["bookmarks"], pixiv["views"]) == (
                "ok", "Rainy Street", 2500, 40000)
            assert {"name": "雨", "translation": "rain"} in pixiv["tags"]
            assert (pixiv["user_id"], pixiv["user_name"], pixiv["ai"], pixiv["r18"]) == (
                "1001", "Alice", False, False)
            bad = client.get("/api/search", params={"q": "pixiv:gone"})
            assert bad.status_code == 400 and "deleted" in bad.text
    finally:
        catalog.close()


def test_a_second_fetch_at_once_is_refused(setup: list[str], fake: FakePixiv) -> None:
    from pximse.sources.fetch_lock import FetchLock

    with FetchLock(Path(setup[1]).parent / "data"):
        result = invoke("pixiv", "fetch", *setup)
    assert result.exit_code == 1 and "already running" in result.output
    assert fake.detail_requests() == []
