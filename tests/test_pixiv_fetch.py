"""Fetching Pixiv metadata against a fake Pixiv over real HTTP (tests/helpers/pixiv_fake.py):
the app API through pixivpy3 with a refresh token, the web endpoint without
one; what is stored and how queries see it in both engines; deletions versus
passing failures; backoff, spacing, resuming, the age rule, token refresh; the
token kept out of logs, errors and the catalogue. Nothing here reaches the
internet: every address is the fake's."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.pixiv_fake import FakePixiv, FakeWork

from pximse.config.settings import PixivConfig
from pximse.query.parse import parse_query
from pximse.sources.pixiv import FetchOptions, FetchReport, Pacer, fetch_library, make_client
from pximse.sources.pixiv_answers import retry_after_seconds
from pximse.store.records import PixivWork
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

TOKEN = "good-refresh-token-0123456789"
SECOND = 1_000_000_000


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def add_files(catalog: SqliteCatalog, names: dict[str, int]) -> None:
    """Files by path (under /lib) with their modification time in seconds."""
    root = catalog.ensure_root("lib", "/lib")
    contents = [NewContent(sha(path), 1000, "png", 100, 100, 1, False, None, False,
                           mtime * SECOND) for path, mtime in names.items()]
    catalog.apply_scan_batch(ScanBatch(root, new_content=contents, files=[
        FileRecord(f"/lib/{path}", 1000, mtime * SECOND, "ok", sha(path))
        for path, mtime in names.items()]))


def ids(catalog: SqliteCatalog, query: str) -> set[str]:
    """Paths (under /lib) of what a query finds, asserting both engines agree."""
    sql = SqliteCatalog(catalog.db.path, memory_index=False)
    try:
        parsed = parse_query(query)
        memory_page = catalog.search(parsed, limit=1000)
        sql_page = sql.search(parsed, limit=1000)
    finally:
        sql.close()
    assert [i.id for i in memory_page.items] == [i.id for i in sql_page.items], query
    return {item.path.removeprefix("/lib/") for item in memory_page.items if item.path}


@pytest.fixture
def fake() -> Iterator[FakePixiv]:
    server = FakePixiv(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqliteCatalog]:
    opened = SqliteCatalog(tmp_path / "catalog.sqlite3")
    yield opened
    opened.close()


def config_for(fake: FakePixiv, *, token: str = TOKEN, **changes: object) -> PixivConfig:
    config = PixivConfig(refresh_token=token, app_api_url=fake.url, ajax_url=fake.url,
                         request_interval_s=0.0, jitter_s=0.0, timeout_s=10.0)
    return replace(config, **changes)  # type: ignore[arg-type]


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds
        return True


def run(catalog: SqliteCatalog, config: PixivConfig, **kwargs: object) -> FetchReport:
    options = kwargs.pop("options", None) or FetchOptions.from_config(
        config, backoff_start_s=0.01)
    return fetch_library(catalog, config, options=options, env={}, **kwargs)  # type: ignore[arg-type]


WORKS = [
    FakeWork(70000001, title="Summer Day", views=5000, bookmarks=900, likes=120, comments=7,
             user_id=1001, user_name="Alice Renamed", ai_type=2, x_restrict=0, pages=3,
             created="2020-06-01T12:00:00+09:00",
             tags=[("オリジナル", {"en": "original", "zh": "原创"}), ("夏", {"en": "summer"}),
                   ("風景", {})]),
    FakeWork(70000002, title="夜", views=10, bookmarks=1, ai_type=0, x_restrict=1,
             user_id=2002, user_name="Bob"),
    FakeWork(70000003, state="deleted"),
    FakeWork(70000004, state="private"),
    FakeWork(70000005, state="private", invisible=True, user_id=3003, user_name="Carol"),
]
FILES = {
    "pixiv/Alice_1001/1001_70000001_p0.png": 1_500_000_000,
    "pixiv/Alice_1001/1001_70000001_p1.png": 1_500_000_000,
    "70000001_p2.png": 1_500_000_000,
    "2002_70000002_p0.jpg": 1_500_000_000,
    "70000003_p0.png": 1_500_000_000,
    "70000004_p0.png": 1_500_000_000,
    "70000005_p0.png": 1_500_000_000,
    "holiday.png": 1_500_000_000,
}


def library(fake: FakePixiv, catalog: SqliteCatalog) -> None:
    for work in WORKS:
        fake.add(replace(work))
    add_files(catalog, FILES)


# -- what is stored, and how queries see it ------------------------------------------------


def test_app_api_answers_are_stored_and_queryable(fake: FakePixiv,
                                                  catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    report = run(catalog, config_for(fake))
    assert report.via == "app" and report.stopped is None
    assert report.states == {"ok": 2, "deleted": 1, "private": 2}
    # One request per work, not per page: three files of 70000001, one request.
    assert len(fake.detail_requests(70000001)) == 1
    assert len(fake.detail_requests()) == 5
    assert all(seen.path == "/v1/illust/detail" for seen in fake.detail_requests())

    work = catalog.pixiv_work("70000001")
    assert work is not None
    assert (work.title, work.views, work.bookmarks, work.likes, work.comments) == (
        "Summer Day", 5000, 900, None, 7)  # the app API has no like count
    assert (work.user_id, work.user_name, work.ai, work.r18, work.pages) == (
        "1001", "Alice Renamed", True, False, 3)
    assert work.caption == "line one\nline two & more"
    assert work.created == 1590980400  # 2020-06-01T03:00:00Z

    every_page = {"pixiv/Alice_1001/1001_70000001_p0.png",
                  "pixiv/Alice_1001/1001_70000001_p1.png", "70000001_p2.png"}
    assert ids(catalog, "bookmarks:>500") == every_page
    assert ids(catalog, "views:<100") == {"2002_70000002_p0.jpg"}
    assert ids(catalog, "title:summer") == every_page
    assert ids(catalog, "title:夜 r18:true") == {"2002_70000002_p0.jpg"}
    assert ids(catalog, "ai:true") == every_page
    assert ids(catalog, "ai:false") == {"2002_70000002_p0.jpg"}  # aiType 0: before AI flags
    assert ids(catalog, "src:original") == every_page
    assert ids(catalog, "src:オリジナル src:summer 風景") == every_page
    assert ids(catalog, "posted:2020-06-01") == every_page
    assert ids(catalog, "pixiv:deleted") == {"70000003_p0.png"}
    assert ids(catalog, "pixiv:private") == {"70000004_p0.png", "70000005_p0.png"}
    assert ids(catalog, "pixiv:ok") == every_page | {"2002_70000002_p0.jpg"}
    assert ids(catalog, "-has:pixiv_state") == {"holiday.png"}
    assert ids(catalog, "has:likes") == set()
    assert ids(catalog, "comments:7 order:-bookmarks") == every_page
    # A name from the file's own folder stays; the invisible work still told its artist.
    assert ids(catalog, 'user:Alice') == {"pixiv/Alice_1001/1001_70000001_p0.png",
                                          "pixiv/Alice_1001/1001_70000001_p1.png"}
    assert ids(catalog, "userid:3003 user:Carol") == {"70000005_p0.png"}

    detail = catalog.image(sha("70000001_p2.png"))
    assert detail is not None and detail.pixiv is not None
    pixiv = detail.pixiv
    assert pixiv["state"] == "ok" and pixiv["title"] == "Summer Day"
    assert pixiv["tags"][0] == {"name": "オリジナル", "translation": "original"}
    assert pixiv["tags"][2] == {"name": "風景", "translation": None}
    assert pixiv["created"] == "2020-06-01T03:00:00Z"
    assert pixiv["fetched_at"] and pixiv["via"] == "app"
    assert set(pixiv) >= {"title", "caption", "created", "views", "bookmarks", "likes",
                          "comments", "tags", "user_id", "user_name", "ai", "r18", "pages",
                          "state", "fetched_at"}
    assert detail.user_name == "Alice Renamed"  # no name in its own file name: the fetched one
    gone = catalog.image(sha("70000003_p0.png"))
    assert gone is not None and gone.pixiv is not None and gone.pixiv["state"] == "deleted"
    plain = catalog.image(sha("holiday.png"))
    assert plain is not None and plain.pixiv is None


def test_web_endpoint_without_a_token(fake: FakePixiv, catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    report = run(catalog, config_for(fake, token="", language="zh-cn"))
    assert report.via == "ajax"
    assert report.states == {"ok": 2, "deleted": 1, "private": 2}
    assert fake.auth_requests() == []
    assert {seen.path for seen in fake.detail_requests()} == {
        f"/ajax/illust/{work.illust_id}" for work in WORKS}
    work = catalog.pixiv_work("70000001")
    assert work is not None and work.via == "ajax"
    assert (work.likes, work.bookmarks, work.ai) == (120, 900, True)
    # Chinese translations where Pixiv has them, English otherwise.
    assert [(tag.name, tag.translation) for tag in work.tags] == [
        ("オリジナル", "原创"), ("夏", None), ("風景", None)]
    assert ids(catalog, "likes:>100") == {"pixiv/Alice_1001/1001_70000001_p0.png",
                                          "pixiv/Alice_1001/1001_70000001_p1.png",
                                          "70000001_p2.png"}
    assert ids(catalog, "src:原创") == ids(catalog, "likes:>100")


def test_the_token_from_the_environment_beats_the_file(fake: FakePixiv,
                                                       catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    config = config_for(fake, token="stale-token-in-the-file")
    report = fetch_library(catalog, config, env={"PXIMSE_PIXIV_REFRESH_TOKEN": TOKEN},
                           options=FetchOptions.from_config(config, limit=1))
    assert report.via == "app" and sum(report.states.values()) == 1 and not report.errors


# -- deletions versus passing failures -------------------------------------------------------


def test_failures_are_never_taken_for_deletions(fake: FakePixiv,
                                                catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    fake.script(70000001, *[500] * 3)  # more than max_retries: fails for this run
    fake.script(70000002, *["drop"] * 3)  # the connection dropped, every time
    config = config_for(fake, max_retries=2)
    report = run(catalog, config)
    assert report.errors == 2 and report.retries == 4
    assert report.states == {"ok": 0, "deleted": 1, "private": 2}
    assert catalog.pixiv_work("70000001") is None and catalog.pixiv_work("70000002") is None
    errors = {error["illust_id"]: error for error in catalog.pixiv_errors()}
    assert set(errors) == {"70000001", "70000002"}
    assert "HTTP 500" in errors["70000001"]["message"]
    assert "network" in errors["70000002"]["message"]
    assert ids(catalog, "pixiv:deleted") == {"70000003_p0.png"}
    assert catalog.pixiv_summary()["errors"] == 2

    # The next run tries the failed ones again (and they work now), and only them.
    fake.requests.clear()
    again = run(catalog, config)
    assert {seen.illust_id for seen in fake.detail_requests()} == {"70000001", "70000002"}
    assert again.states["ok"] == 2 and catalog.pixiv_errors() == []

    # Deleted and private works are asked again only on request.
    fake.requests.clear()
    fake.works["70000003"].state = "ok"
    assert run(catalog, config).selected == 0
    retried = run(catalog, config,
                  options=FetchOptions.from_config(config, include_missing=True, max_age_days=0))
    assert retried.selected == 5  # every work: max age 0 makes the ok ones due too
    assert {seen.illust_id for seen in fake.detail_requests()} >= {"70000003", "70000004",
                                                                   "70000005"}
    assert ids(catalog, "pixiv:deleted") == set()
    assert ids(catalog, "pixiv:ok") >= {"70000003_p0.png"}


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["app", "ajax"])
def test_only_pixiv_itself_can_say_deleted_or_private(fake: FakePixiv, catalog: SqliteCatalog,
                                                      token: str) -> None:
    """A 403 or 404 page from a proxy or a bot check is not Pixiv's verdict; a 404
    that says the work is restricted is 'private', not 'deleted'."""
    library(fake, catalog)
    fake.works["70000004"].restricted_404 = True
    fake.script(70000001, ("html", 403), ("html", 403))
    fake.script(70000002, ("html", 404), ("html", 404))
    report = run(catalog, config_for(fake, token=token, max_retries=1))
    assert report.errors == 2
    assert catalog.pixiv_work("70000001") is None and catalog.pixiv_work("70000002") is None
    assert "without Pixiv's answer" in catalog.pixiv_errors()[0]["message"]
    assert ids(catalog, "pixiv:private") == {"70000004_p0.png", "70000005_p0.png"}
    assert ids(catalog, "pixiv:deleted") == {"70000003_p0.png"}


def test_a_work_that_disappears_keeps_what_was_known(fake: FakePixiv,
                                                     catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    config = config_for(fake)
    run(catalog, config)
    fake.works["70000001"].state = "deleted"
    run(catalog, config, options=FetchOptions.from_config(config, max_age_days=0))
    work = catalog.pixiv_work("70000001")
    assert work is not None and work.state == "deleted"
    assert (work.title, work.bookmarks) == ("Summer Day", 900)
    assert ids(catalog, "pixiv:deleted bookmarks:>500 title:summer src:original") == {
        "pixiv/Alice_1001/1001_70000001_p0.png", "pixiv/Alice_1001/1001_70000001_p1.png",
        "70000001_p2.png"}


# -- politeness --------------------------------------------------------------------------


def test_backoff_doubles_and_follows_retry_after(fake: FakePixiv,
                                                 catalog: SqliteCatalog) -> None:
    add_files(catalog, {"70000001_p0.png": 1_500_000_000})
    fake.add(replace(WORKS[0]))
    fake.script(70000001, (429, 7), 500, 503, (403, None), 502)  # 403 "Rate Limit": passing
    clock = FakeTime()
    config = config_for(fake, max_retries=5, backoff_max_s=3.0, jitter_s=0.0)
    options = FetchOptions.from_config(config, backoff_start_s=0.5)
    report = fetch_library(catalog, config, options=options, env={}, sleep=clock.sleep,
                           clock=clock.clock, rng=lambda: 0.0)
    assert report.states["ok"] == 1 and report.retries == 5
    # 429 asked for 7 s (longer than the doubling); then 0.5 * 2**n up to the 3 s cap.
    assert clock.sleeps == [7.0, 1.0, 2.0, 3.0, 3.0]


def test_a_very_long_retry_after_ends_the_run(fake: FakePixiv,
                                              catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    fake.script(70000005, (429, 7200))  # newest first: asked first
    clock = FakeTime()
    report = fetch_library(catalog, config_for(fake), env={}, sleep=clock.sleep,
                           clock=clock.clock)
    assert report.stopped is not None and "120 minutes" in report.stopped
    assert report.done == 0 and clock.sleeps == []
    assert catalog.pixiv_work("70000005") is None


def test_many_failures_in_a_row_stop_the_run(fake: FakePixiv,
                                             catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    for work in WORKS:
        fake.script(work.illust_id, 500, 500)
    config = config_for(fake, max_retries=1)
    options = FetchOptions.from_config(config, backoff_start_s=0.01, give_up_after=3)
    report = fetch_library(catalog, config, options=options, env={})
    assert report.errors == 3 and report.stopped is not None and "in a row" in report.stopped
    assert len({seen.illust_id for seen in fake.detail_requests()}) == 3


def test_requests_are_spaced_with_jitter(fake: FakePixiv, catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    config = config_for(fake, token="", request_interval_s=0.2, jitter_s=0.1)
    client = make_client(config, {})
    started: list[float] = []
    fetch = client.fetch

    def timed(illust_id: str) -> PixivWork:
        started.append(time.monotonic())
        return fetch(illust_id)

    client.fetch = timed  # type: ignore[method-assign]
    report = run(catalog, config, client=client)
    client.close()
    assert report.done == 5 and len(fake.detail_requests()) == 5
    # Measured where the requests leave: a loaded machine may delay the fake's reading.
    gaps = [later - earlier for earlier, later in zip(started, started[1:], strict=False)]
    assert min(gaps) >= 0.2, gaps
    assert len({round(gap, 3) for gap in gaps}) > 1, gaps  # the random part varies


def test_pacer_adds_a_random_part_to_each_gap() -> None:
    clock = FakeTime()
    draws = iter([0.0, 0.5, 1.0])
    pacer = Pacer(2.0, 1.0, clock=clock.clock, sleep=clock.sleep, rng=lambda: next(draws))
    for _ in range(4):
        assert pacer.wait()
    assert clock.sleeps == [2.0, 2.5, 3.0]
    clock.now += 10  # time passed doing other things: no wait needed
    pacer = Pacer(2.0, 0.0, clock=clock.clock, sleep=lambda s: False)
    assert pacer.wait()
    assert not pacer.wait()  # stopped while waiting


def test_retry_after_as_seconds_or_a_date() -> None:
    from datetime import UTC, datetime

    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0


# -- resuming and the age rule ------------------------------------------------------------


def test_an_interrupted_run_resumes_where_it_stopped(fake: FakePixiv,
                                                     catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    stop = threading.Event()

    def progress(report: FetchReport) -> None:
        if report.done == 2:
            stop.set()

    first = run(catalog, config_for(fake), progress=progress, stop=stop)
    assert first.done == 2 and first.stopped == "stopped"
    second = run(catalog, config_for(fake))
    assert second.selected == 3 and second.done == 3
    # Every work was asked exactly once over the two runs.
    asked = [seen.illust_id for seen in fake.detail_requests()]
    assert sorted(asked) == sorted(str(work.illust_id) for work in WORKS)


def test_no_fetch_again_within_the_max_age(fake: FakePixiv, catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    config = config_for(fake, max_age_days=30)
    moment = [1_800_000_000.0]
    run(catalog, config, now=lambda: moment[0])
    fake.requests.clear()
    moment[0] += 29 * 86_400
    report = run(catalog, config, now=lambda: moment[0])
    assert report.selected == 0 and report.fresh == 2 and fake.detail_requests() == []
    moment[0] += 2 * 86_400  # 31 days after: the ok works are due, not the missing ones
    report = run(catalog, config, now=lambda: moment[0])
    assert report.selected == 2
    assert {seen.illust_id for seen in fake.detail_requests()} == {"70000001", "70000002"}


def test_the_query_and_the_limit_narrow_the_run(fake: FakePixiv,
                                                catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    config = config_for(fake)
    wanted = catalog.filtered_ids(parse_query("folder:pixiv"))
    report = run(catalog, config, content_ids=wanted)
    assert report.selected == 1
    assert {seen.illust_id for seen in fake.detail_requests()} == {"70000001"}
    report = run(catalog, config, options=FetchOptions.from_config(config, limit=2))
    assert report.selected == 2 and report.done == 2


# -- the token -------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed(fake: FakePixiv,
                                              catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    done = 0

    def progress(report: FetchReport) -> None:
        nonlocal done
        done = report.done
        if done == 2:
            fake.expire_access_tokens()  # Pixiv revokes it early

    report = run(catalog, config_for(fake), progress=progress)
    assert report.done == 5 and report.errors == 0 and report.stopped is None
    assert len(fake.auth_requests()) == 2
    assert all("refresh_token=" + TOKEN in seen.body for seen in fake.auth_requests())


def test_a_short_lived_access_token_is_refreshed_before_it_expires(
        fake: FakePixiv, catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    fake.token_lifetime_s = 2  # refreshed after half of it
    report = run(catalog, config_for(fake, request_interval_s=0.5))
    assert report.done == 5 and report.errors == 0
    signs = fake.auth_requests()
    assert len(signs) >= 2
    # The second sign-in came before the first token ran out: not a reaction to a refusal.
    assert signs[1].at < signs[0].at + 2


def test_a_refused_refresh_token_stops_without_verdicts(
        fake: FakePixiv, catalog: SqliteCatalog, caplog: pytest.LogCaptureFixture) -> None:
    library(fake, catalog)
    fake.echo_token_on_refusal = True  # even a server that repeats it must not leak it
    bad = "revoked-token-ABCDEFGHIJ"
    with caplog.at_level(logging.DEBUG):
        report = run(catalog, config_for(fake, token=bad))
    assert report.auth_refused and report.stopped is not None
    assert "refused the refresh token" in report.stopped
    assert report.done == 0 and fake.detail_requests() == []
    assert catalog.pixiv_summary()["unfetched"] == 5
    assert bad not in report.stopped and bad not in caplog.text


def test_a_busy_sign_in_is_a_passing_failure(fake: FakePixiv, catalog: SqliteCatalog) -> None:
    add_files(catalog, {"70000001_p0.png": 1_500_000_000})
    fake.add(replace(WORKS[0]))
    fake.auth_script.extend([503, 503])
    report = run(catalog, config_for(fake, max_retries=3))
    assert report.states["ok"] == 1 and report.retries == 2


def test_the_token_never_reaches_logs_errors_or_the_catalogue(
        fake: FakePixiv, catalog: SqliteCatalog, caplog: pytest.LogCaptureFixture) -> None:
    library(fake, catalog)
    fake.script(70000002, 500, 500, 500, "drop")
    fake.script(70000001, (429, 0))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
        report = run(catalog, config_for(fake, max_retries=2))
    assert report.errors == 1 and report.retries >= 3
    assert caplog.text  # there was logging to look at
    access = list(fake.access_tokens)
    everything = caplog.text + repr(report.to_json()) + repr(config_for(fake))
    conn = sqlite3.connect(catalog.db.path)
    everything += repr(conn.execute("SELECT * FROM pixiv_error").fetchall())
    everything += repr(conn.execute("SELECT * FROM pixiv_work").fetchall())
    everything += repr(conn.execute("SELECT * FROM meta").fetchall())
    conn.close()
    for secret in [TOKEN, *access]:
        assert secret not in everything


# -- user names: the update step ---------------------------------------------------------------


def test_images_without_a_name_get_the_most_recently_seen_one(
        fake: FakePixiv, catalog: SqliteCatalog) -> None:
    add_files(catalog, {
        "old/Alice_1001/1001_60000001_p0.png": 1_400_000_000,  # saved when she was Alice
        "new/Alicia_1001/1001_60000002_p0.png": 1_500_000_000,  # saved later: Alicia
        "1001_60000003_p0.png": 1_450_000_000,  # no name in the file name
        "60000004_p0.png": 1_450_000_000,  # no user id either, until it is fetched
    })
    assert ids(catalog, "user:Alicia") == {"new/Alicia_1001/1001_60000002_p0.png",
                                           "1001_60000003_p0.png"}
    detail = catalog.image(sha("1001_60000003_p0.png"))
    assert detail is not None and detail.user_name == "Alicia"

    # A fetch sees her current name (its fetch time is the newest sighting).
    fake.add(FakeWork(60000004, user_id=1001, user_name="Alice Now"))
    for illust in (60000001, 60000002, 60000003):
        fake.add(FakeWork(illust, state="deleted"))
    run(catalog, config_for(fake), now=lambda: 1_700_000_000.0)
    assert ids(catalog, "user:\"Alice Now\"") == {"1001_60000003_p0.png", "60000004_p0.png"}
    # Names that came with the files stay.
    assert ids(catalog, "user:Alice") == {"old/Alice_1001/1001_60000001_p0.png"}
    assert ids(catalog, "userid:1001") == set(ids(catalog, "source:pixiv"))

    # The full pass finds nothing left to do.
    assert catalog.update_user_names() == 0


def test_renaming_a_file_away_from_a_work_takes_its_metadata_with_it(
        fake: FakePixiv, catalog: SqliteCatalog) -> None:
    library(fake, catalog)
    run(catalog, config_for(fake))
    root = catalog.ensure_root("lib", "/lib")
    old = catalog.file_ids(["/lib/70000001_p2.png"])["/lib/70000001_p2.png"]
    catalog.apply_scan_batch(ScanBatch(root, removed=[old], files=[
        FileRecord("/lib/renamed.png", 1000, 1_500_000_000 * SECOND, "ok",
                   sha("70000001_p2.png"))]))
    assert "renamed.png" not in ids(catalog, "bookmarks:>0")
    assert "renamed.png" not in ids(catalog, "src:original")
    assert "renamed.png" in ids(catalog, "-has:pixiv_state")
    # ... and back onto the work: it is there again without a fetch.
    renamed = catalog.file_ids(["/lib/renamed.png"])["/lib/renamed.png"]
    catalog.apply_scan_batch(ScanBatch(root, removed=[renamed], files=[
        FileRecord("/lib/70000001_p9.png", 1000, 1_500_000_000 * SECOND, "ok",
                   sha("70000001_p2.png"))]))
    assert "70000001_p9.png" in ids(catalog, "bookmarks:900 src:original")


# -- the [pixiv] settings ----------------------------------------------------------------


@pytest.mark.parametrize(("line", "words"), [
    ('language = "english please"', "pixiv.language"),
    ('app_api_url = "ftp://example.org"', "pixiv.app_api_url"),
    ('refresh_token = "abc def"', "pixiv.refresh_token"),
    ("max_retries = 50", "pixiv.max_retries"),
    ("request_interval_s = -1", "pixiv.request_interval_s"),
    ("background = 1", "pixiv.background"),
    ("refresh_tokn = 'x'", "did you mean 'pixiv.refresh_token'"),
])
def test_bad_settings_name_their_key(tmp_path: Path, line: str, words: str) -> None:
    from pximse.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text(f"[pixiv]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, tmp_path / "data", env={})
    assert words in str(raised.value)


def test_settings_load_and_never_show_the_token(tmp_path: Path) -> None:
    from pximse.config import load_config
    from pximse.sources.pixiv import refresh_token

    path = tmp_path / "config.toml"
    path.write_text(f'[pixiv]\nrefresh_token = "{TOKEN}"\nlanguage = "zh-cn"\n'
                    'ajax_url = "http://127.0.0.1:9/"\nmax_age_days = 0\n', encoding="utf-8")
    config = load_config(path, tmp_path / "data", env={})
    assert config.pixiv.language == "zh-cn" and config.pixiv.max_age_days == 0
    assert config.pixiv.ajax_url == "http://127.0.0.1:9"
    assert TOKEN not in repr(config) and TOKEN not in repr(config.pixiv)
    assert "refresh_token=<set>" in repr(config.pixiv)
    assert refresh_token(config.pixiv, {}) == TOKEN
    assert refresh_token(config.pixiv, {"PXIMSE_PIXIV_REFRESH_TOKEN": "other"}) == "other"
    assert refresh_token(config.pixiv, {"PXIMSE_PIXIV_REFRESH_TOKEN": ""}) == TOKEN


def test_a_catalogue_from_before_pixiv_metadata_gets_its_names_on_open(
        tmp_path: Path) -> None:
    from pximse.store.sqlite.schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:5]):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {version + 1}; COMMIT;")
    rows = [("a", "1001", "Alice", "111", 1_400_000_000),
            ("b", "1001", "Alicia", "222", 1_500_000_000),
            ("c", "1001", None, "333", 1_450_000_000),
            ("d", "2002", None, "444", 1_450_000_000)]
    conn.executemany(
        "INSERT INTO content (sha256, filesize, width, height, ratio, pixels, format, date,"
        " source, user_id, user_name, post_id, added_ns)"
        " VALUES (?, 1, 1, 1, 1.0, 1, 'png', ?, 'pixiv', ?, ?, ?, 0)",
        [(sha(label), date, user, name, post) for label, user, name, post, date in rows])
    conn.commit()
    conn.close()
    catalog = SqliteCatalog(path)
    try:
        names = dict(catalog.db.reader().execute("SELECT post_id, user_name FROM content"))
        assert names == {"111": "Alice", "222": "Alicia", "333": "Alicia", "444": None}
        assert catalog.db.reader().execute(
            "SELECT count(*) FROM meta WHERE key = 'pixiv_names'").fetchone()[0] == 0
    finally:
        catalog.close()


def test_one_fetch_per_data_folder_at_a_time(fake: FakePixiv, catalog: SqliteCatalog,
                                            tmp_path: Path) -> None:
    from pximse.sources.fetch_lock import FetchLock, FetchRunning

    library(fake, catalog)
    with FetchLock(tmp_path), pytest.raises(FetchRunning) as raised:  # another fetch holds it
        run(catalog, config_for(fake), lock_dir=tmp_path)
    assert f"pid {os.getpid()}" in str(raised.value)
    assert fake.detail_requests() == []
    report = run(catalog, config_for(fake), lock_dir=tmp_path)  # released: its turn
    assert report.done == 5
