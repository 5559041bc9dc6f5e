"""What PxIMSE records as pushed is what Hydrus kept: across a Hydrus crash before
its commit, with and without the Manage Database permission, and in Hydrus's own
form of every tag (``:d`` is ``::d`` there)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import httpx
import pytest
from helpers.hydrus_fake import DATABASE, EDIT_TAGS, EDIT_URLS, NOTES, SEARCH, FakeHydrus
from helpers.hydrus_target import (  # noqa: F401 (fixtures)
    SERVICE,
    TEST_KEY,
    HydrusTarget,
    fake_hydrus_fixture,
    hydrus_fixture,
)

from pximse.config import RootConfig
from pximse.integrations.hydrus.client import HydrusClient, RetryPolicy
from pximse.integrations.hydrus.ledger import LEDGER_FILE, Ledger
from pximse.integrations.hydrus.payload import PayloadOptions
from pximse.integrations.hydrus.push import Pusher, all_images
from pximse.integrations.hydrus.tagmap import clean_tag
from pximse.library.scan import scan_roots
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

MODEL = "wd-vit-tagger-v3"
NO_COMMIT = "ef" * 32  # every permission but Manage Database
SERVICE_KEY = SERVICE.encode().hex()


@pytest.fixture
def many(tmp_path: Path, fake_hydrus: FakeHydrus):
    """A catalogue of 300 Pixiv images (two push batches) with tagger results, all in
    Hydrus."""
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    root = catalog.ensure_root("library", str(tmp_path / "library"))
    shas = [hashlib.sha256(f"image {n}".encode()).hexdigest() for n in range(300)]
    batch = ScanBatch(root)
    for n, sha in enumerate(shas):
        batch.new_content.append(NewContent(sha, 1000, "png", 64, 48, 1, False, None, False, 0))
        name = f"{n % 17 + 1}_{10**7 + n}_p0.png"  # Pixiv: tags, then URLs, for each file
        batch.files.append(FileRecord(str(tmp_path / "library" / name), 1000, 0, "ok", sha))
    catalog.apply_scan_batch(batch)
    ids = catalog.content_ids(shas)
    catalog.set_model_tags_many(
        [(ids[sha], MODEL, {f"tag_{n}": 0.9, "rating:general": 0.9, ":d": 0.8})
         for n, sha in enumerate(shas)])
    for sha in shas:
        fake_hydrus.add_file(sha256=sha)
    fake_hydrus.add_key(NO_COMMIT, {EDIT_TAGS, EDIT_URLS, NOTES, SEARCH})
    yield catalog, shas
    catalog.close()


def _pusher(catalog: SqliteCatalog, url: str, key: str, ledger: Ledger,
            clock=None) -> Pusher:
    client = HydrusClient(url, key, retry=RetryPolicy(2, 0.01, 0.02))
    service = client.tag_service(SERVICE)
    extra = {} if clock is None else {"clock": clock}
    return Pusher(catalog, client, ledger, service, PayloadOptions(), **extra)


def _tagged(fake: FakeHydrus, shas: list[str]) -> int:
    return sum(1 for sha in shas if f"pximse:{MODEL}" in fake.current(SERVICE_KEY, sha))


def test_a_crash_before_the_commit_loses_nothing_from_the_ledger(
        many, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    """With Manage Database: each batch is committed, then recorded. Hydrus killed
    in the middle of the second batch keeps the first, and the next push sends the
    rest (before, the answered requests were recorded, the commit never came)."""
    catalog, shas = many
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, TEST_KEY, ledger)
    fake_hydrus.crash_after(526)  # 256 tags + 256 URLs, then into the second batch's tags
    report = pusher.push(all_images(catalog)[1])
    assert report.stopped is not None and report.committed is True
    # What Hydrus answered, not the 300 planned.
    assert 269 <= report.updated < 300
    assert fake_hydrus.running.wait(10)  # back after the restart
    unconfirmed = {sha for sha, _, _ in ledger.unconfirmed(pusher.target)}
    assert len(unconfirmed) == report.updated - 256  # answered, not known to be committed
    assert _tagged(fake_hydrus, shas[:256]) == 256  # the first batch was committed
    lost = {sha for sha in unconfirmed if f"pximse:{MODEL}" not in
            fake_hydrus.current(SERVICE_KEY, sha)}
    assert len(lost) >= 13  # answered by the killed process before its commit
    again = pusher.push(all_images(catalog)[1])
    assert again.stopped is None and again.checked == len(unconfirmed)
    assert again.repaired == len(lost)
    assert again.unchanged + again.updated == 300
    assert ledger.unconfirmed(pusher.target) == []
    assert _tagged(fake_hydrus, shas) == 300
    assert fake_hydrus.current(SERVICE_KEY, shas[7]) >= {"::d", "tag 7", "rating:general"}
    pusher.client.close()
    ledger.close()


def test_without_manage_database_a_crash_is_repaired_by_the_next_push(
        many, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    """No force_commit: the push is recorded unconfirmed with Hydrus's session; a
    Hydrus that restarted (session gone) is read back and what it lost goes again.
    Before, the next push said 'unchanged 300'."""
    catalog, shas = many
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, NO_COMMIT, ledger)
    report = pusher.push(all_images(catalog)[1])
    assert report.stopped is None and report.updated == 300 and report.committed is False
    assert _tagged(fake_hydrus, shas) == 300
    fake_hydrus.crash()  # kill -9 within Hydrus's 30 s: all of it lost
    assert _tagged(fake_hydrus, shas) == 0
    again = pusher.push(all_images(catalog)[1])
    assert again.stopped is None
    assert again.checked == 300 and again.repaired == 300 and again.updated == 300
    assert _tagged(fake_hydrus, shas) == 300
    # Once Hydrus has committed (and a minute has passed), the rows are confirmed.
    fake_hydrus.commit()
    later = _pusher(catalog, fake_hydrus.url, NO_COMMIT, ledger,
                    clock=lambda: __import__("time").time() + 120)
    third = later.push(all_images(catalog)[1])
    assert (third.checked, third.repaired, third.unchanged) == (300, 0, 300)
    assert ledger.unconfirmed(pusher.target) == []
    fourth = later.push(all_images(catalog)[1])
    assert fourth.checked == 0 and fourth.requests == 0  # nothing left to check or send
    pusher.client.close()
    later.client.close()
    ledger.close()


def test_a_recent_unconfirmed_push_is_not_read_back_too_early(
        many, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    """Hydrus still running and not yet committed: a read would see the open
    transaction, which a crash can still lose, so nothing is confirmed yet."""
    catalog, shas = many
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, NO_COMMIT, ledger)
    pusher.push(all_images(catalog)[1])
    again = pusher.push(all_images(catalog)[1])
    assert again.checked == 0 and again.unchanged == 300
    assert len(ledger.unconfirmed(pusher.target)) == 300
    pusher.client.close()
    ledger.close()


def test_a_ledger_from_before_is_checked_once_and_repaired(
        many, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    """Rows written by an older PxIMSE (no commit check, ':d' as PxIMSE wrote it)
    that Hydrus does not hold are sent again by a normal push."""
    catalog, shas = many
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, TEST_KEY, ledger)
    pusher.push(all_images(catalog)[1])
    with ledger._conn:  # what the older ledger looked like, then Hydrus lost it all
        ledger._conn.execute("UPDATE pushed SET confirmed = 0, session = '',"
                             " tags = replace(tags, '\"::d\"', '\":d\"')")
    fake_hydrus.files = {sha: f for sha, f in fake_hydrus.files.items()}
    fake_hydrus.mappings.clear()
    report = pusher.push(all_images(catalog)[1])
    assert report.repaired == 300 and report.updated == 300
    assert _tagged(fake_hydrus, shas) == 300
    pusher.client.close()
    ledger.close()


# -- Hydrus's own form of a tag -------------------------------------------------------


TRICKY = [":d", ":o", ":3", "::d", ":weird:stuff", "  Character :  Space   Bounty Hunter ",
          "-flower", "--x", "system:wew", "system:system:x", "a\u200bb", "blue_eyes\u200c",
          "\u200d", "\u3164", "\ud55c\u3164\uae00", "  ", "x" * 1100, "ns:", ":", "a:b:c",
          "\tTab\nNew", "\ufeffbom", "\ue000pua", "ÀÉÎ", "初音 ミク", "character:", " :)",
          "10", "-", "creator:-x", "rating:general"]


def test_tags_are_compared_as_hydrus_cleans_them(hydrus: HydrusTarget) -> None:
    """PxIMSE's clean_tag against the client's own /add_tags/clean_tags."""
    with httpx.Client(base_url=hydrus.url, timeout=30,
                      headers={"Hydrus-Client-API-Access-Key": hydrus.key}) as http:
        for tag in TRICKY:
            answer = http.get("/add_tags/clean_tags", params={"tags": json.dumps([tag])})
            answer.raise_for_status()
            mine = clean_tag(tag)
            assert answer.json()["tags"] == ([mine] if mine else []), repr(tag)


def test_a_colon_tag_is_recognised_removed_and_restored(tmp_path: Path, make_image,
                                                        hydrus: HydrusTarget) -> None:
    """``:d`` is ``::d`` in Hydrus: PxIMSE removes its own, and puts it back over
    its own deletion record when the model gives it again."""
    image = make_image(tmp_path / "library" / "face.png", seed=5)
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    scan_roots(catalog, [RootConfig("library", tmp_path / "library")],
               thumbnail_dir=tmp_path / "thumbs")
    sha = hydrus.add_file(image.read_bytes())
    content_id = catalog.content_ids([sha])[sha]
    ledger = Ledger(tmp_path / LEDGER_FILE)
    client = HydrusClient(hydrus.url, hydrus.key)
    pusher = Pusher(catalog, client, ledger, client.tag_service(hydrus.service_name),
                    PayloadOptions())

    def model_says(tags: dict[str, float]) -> None:
        catalog.set_model_tags_many([(content_id, MODEL, tags)])
        assert pusher.push([[content_id]]).stopped is None

    model_says({":d": 0.9, "smile": 0.9, "rating:general": 0.9})
    assert {"::d", "smile"} <= hydrus.tags(sha)
    model_says({"smile": 0.9, "rating:general": 0.9})  # the model drops :d
    assert "::d" not in hydrus.tags(sha) and "::d" in hydrus.tags(sha, "2")
    model_says({":d": 0.9, "smile": 0.9, "rating:general": 0.9})  # and gives it again
    assert "::d" in hydrus.tags(sha)
    client.close()
    ledger.close()
    catalog.close()


def test_request_lines_stay_out_of_the_log_at_info(many, fake_hydrus: FakeHydrus,
                                                   tmp_path: Path, caplog) -> None:
    catalog, shas = many
    logging.getLogger("httpx").setLevel(logging.NOTSET)  # as a fresh process has it
    caplog.set_level(logging.INFO)
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, TEST_KEY, ledger)
    report = pusher.push(all_images(catalog)[1])
    assert report.requests > 10
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    pusher.client.close()
    ledger.close()


def test_manage_database_is_asked_for_once(many, fake_hydrus: FakeHydrus,
                                           tmp_path: Path) -> None:
    catalog, shas = many
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, fake_hydrus.url, NO_COMMIT, ledger)
    pusher.push(all_images(catalog)[1])
    assert fake_hydrus.requests_to("/manage_database/force_commit") == 0
    refused = [entry for entry in fake_hydrus.log
               if entry[1] == "/manage_database/force_commit"]
    assert len(refused) == 1 and refused[0][2] == 403  # two batches, one try
    fake_hydrus.add_key(NO_COMMIT, {EDIT_TAGS, EDIT_URLS, NOTES, SEARCH, DATABASE})
    pusher.client.close()
    ledger.close()
