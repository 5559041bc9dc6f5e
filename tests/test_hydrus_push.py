"""Pushing a real catalogue's tags, URLs and OCR text to the fake Hydrus (or a real one)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_target import (  # noqa: F401 (fixtures)
    SERVICE,
    TEST_KEY,
    HydrusTarget,
    fake_hydrus_fixture,
    hydrus_fixture,
)
from PIL.PngImagePlugin import PngInfo

from pximse.config import RootConfig
from pximse.integrations.hydrus.client import HydrusClient, RetryPolicy
from pximse.integrations.hydrus.ledger import LEDGER_FILE, Ledger
from pximse.integrations.hydrus.payload import PayloadOptions, read_payloads
from pximse.integrations.hydrus.push import Pusher, all_images, images_matching
from pximse.integrations.hydrus.tagmap import hydrus_tag, is_kaomoji, source_urls
from pximse.library.scan import scan_roots
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog

MODEL = "wd-vit-tagger-v3"


@pytest.mark.parametrize(("name", "expected"), [
    ("long_hair", "long hair"),
    ("Long_Hair", "long hair"),
    ("character:hatsune_miku", "character:hatsune miku"),
    ("artist:Some_Artist", "creator:some artist"),
    ("copyright:vocaloid", "series:vocaloid"),
    ("rating:general", "rating:general"),
    ("^_^", "^_^"),
    (">_<", ">_<"),
    ("0_0", "0_0"),
    ("o_o", "o_o"),
    ("t_t", "t_t"),
    (":d", "::d"),  # as Hydrus stores it
    ("初音_ミク", "初音 ミク"),
    ("pixiv:fanbox", "pixiv:fanbox"),
    ("-negative", None),
    ("system:inbox", None),
    ("  ", None),
])
def test_tag_names_in_hydrus_terms(name: str, expected: str | None) -> None:
    assert hydrus_tag(name) == expected


def test_kaomoji_are_faces_not_words() -> None:
    assert all(is_kaomoji(t) for t in ("^_^", "x_x", "u_u", "+_+", "(o)_(o)", "3_3"))
    assert not any(is_kaomoji(t) for t in ("long_hair", "1_2", "v_neck", "ab_c"))


def test_source_urls() -> None:
    assert source_urls("pixiv", "123", "456") == [
        "https://www.pixiv.net/artworks/456", "https://www.pixiv.net/users/123"]
    assert source_urls("twitter", "someone", "1500000000000000000") == [
        "https://twitter.com/someone/status/1500000000000000000"]
    assert source_urls("yandere", None, "431721") == ["https://yande.re/post/show/431721"]
    assert source_urls("other", None, None) == []


@pytest.fixture
def tagged(tmp_path: Path, make_image) -> tuple[SqliteCatalog, dict[str, Path]]:
    """A scanned library of four images with tagger results, a source tag and OCR."""
    library = tmp_path / "library"
    # New content each run, so that a real Hydrus client's deletion records from an
    # earlier run do not meet these files again.
    salt = PngInfo()
    salt.add_text("run", uuid.uuid4().hex)
    files = {
        "pixiv": make_image(library / "12345_67890123_p0.png", seed=1, pnginfo=salt),
        "yandere": make_image(library / "yande.re 431721 thighhighs.png", seed=2, pnginfo=salt),
        "plain": make_image(library / "holiday.png", seed=3, pnginfo=salt),
        "elsewhere": make_image(library / "not_in_hydrus.png", seed=4, pnginfo=salt),
    }
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    scan_roots(catalog, [RootConfig("library", library)], thumbnail_dir=tmp_path / "thumbs")
    ids = catalog.content_ids([_sha(p) for p in files.values()])
    scores = {"long_hair": 0.9, "1girl": 0.95, "smile": 0.3, "^_^": 0.7,
              "character:hatsune_miku": 0.8, "rating:general": 0.2, "rating:sensitive": 0.7}
    catalog.set_model_tags_many([(ids[_sha(p)], MODEL, scores) for p in files.values()])
    catalog.set_ocr(ids[_sha(files["pixiv"])], "rapidocr", "ありがとう")
    yield catalog, files
    catalog.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pusher(catalog: SqliteCatalog, target: HydrusTarget, ledger: Ledger,
            **options: object) -> Pusher:
    client = HydrusClient(target.url, target.key, retry=RetryPolicy(3, 0.01, 0.02))
    service = client.tag_service(target.service_name)
    return Pusher(catalog, client, ledger, service, PayloadOptions(**options))  # type: ignore[arg-type]


def test_payload_threshold_top_rating_marker_and_urls(tagged) -> None:
    catalog, files = tagged
    ids = catalog.content_ids([_sha(files["pixiv"]), _sha(files["yandere"])])
    pixiv, yandere = read_payloads(catalog, [ids[_sha(files["pixiv"])],
                                             ids[_sha(files["yandere"])]], PayloadOptions())
    assert pixiv.tags == {"long hair", "1girl", "^_^", "character:hatsune miku",
                          "rating:sensitive", f"pximse:{MODEL}"}
    assert pixiv.urls == ("https://www.pixiv.net/artworks/67890123",
                          "https://www.pixiv.net/users/12345")
    assert pixiv.note == "ありがとう"
    assert "thighhighs" in yandere.tags  # from the file name, always
    assert yandere.urls == ("https://yande.re/post/show/431721",)
    assert yandere.note is None


def test_push_sends_what_changed_only(tagged, hydrus: HydrusTarget, tmp_path: Path) -> None:
    catalog, files = tagged
    held = {name: hydrus.add_file(path.read_bytes()) for name, path in files.items()
            if name != "elsewhere"}
    ledger = Ledger(tmp_path / "data" / LEDGER_FILE)
    pusher = _pusher(catalog, hydrus, ledger)
    total, batches = all_images(catalog)
    seen: list[tuple[int, int]] = []
    report = pusher.push(batches, total=total, progress=lambda p, d, t: seen.append((d, t)))
    assert report.stopped is None
    assert (report.images, report.updated, report.not_in_hydrus) == (4, 3, 1)
    assert seen[-1] == (4, 4)
    pixiv = held["pixiv"]
    assert {"long hair", "1girl", "^_^", "character:hatsune miku", "rating:sensitive",
            f"pximse:{MODEL}"} <= hydrus.tags(pixiv)
    assert "smile" not in hydrus.tags(pixiv)  # under the threshold
    meta = hydrus.metadata(pixiv)
    assert any("pixiv.net" in url and "67890123" in url for url in meta["known_urls"])
    assert meta["notes"]["ocr"] == "ありがとう"

    # Nothing changed: no request but the lookups of the image Hydrus lacks.
    again = pusher.push(all_images(catalog)[1])
    assert (again.unchanged, again.updated, again.not_in_hydrus) == (3, 0, 1)
    assert again.requests == 1

    # A new model result: only the difference goes, and the user's deletion holds.
    hydrus.user_deletes(pixiv, "1girl")
    ids = catalog.content_ids([_sha(files["pixiv"])])
    catalog.set_model_tags_many([(ids[_sha(files["pixiv"])], MODEL,
                                  {"long_hair": 0.9, "1girl": 0.95, "smile": 0.8,
                                   "rating:sensitive": 0.7})])
    third = pusher.push(all_images(catalog)[1])
    assert third.updated == 1
    tags = hydrus.tags(pixiv)
    assert "smile" in tags and "1girl" not in tags
    assert "^_^" not in tags and "character:hatsune miku" not in tags  # PxIMSE's own, gone
    assert "1girl" in hydrus.tags(pixiv, "2")

    # Forgetting the ledger resends everything; the user's deletion still holds.
    ledger.forget(pusher.target)
    pusher.push(all_images(catalog)[1])
    assert "1girl" not in hydrus.tags(pixiv)

    # A tag PxIMSE removed itself comes back when the model gives it again.
    catalog.set_model_tags_many([(ids[_sha(files["pixiv"])], MODEL,
                                  {"long_hair": 0.9, "^_^": 0.9, "rating:sensitive": 0.7})])
    pusher.push(all_images(catalog)[1])
    assert "^_^" in hydrus.tags(pixiv)
    pusher.client.close()
    ledger.close()


def test_push_a_query_only(tagged, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    catalog, files = tagged
    for path in files.values():
        fake_hydrus.add_file(path.read_bytes())
    ledger = Ledger(tmp_path / LEDGER_FILE)
    target = HydrusTarget(fake_hydrus.url, TEST_KEY, SERVICE, fake_hydrus)
    pusher = _pusher(catalog, target, ledger)
    total, batches = images_matching(catalog, parse_query("thighhighs"))
    report = pusher.push(batches, total=total)
    assert (total, report.updated) == (1, 1)
    service = SERVICE.encode().hex()
    assert "thighhighs" in fake_hydrus.current(service, _sha(files["yandere"]))
    assert fake_hydrus.current(service, _sha(files["pixiv"])) == set()


def test_a_stopped_hydrus_ends_the_push_and_keeps_what_was_done(
        tagged, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    catalog, files = tagged
    for path in files.values():
        fake_hydrus.add_file(path.read_bytes())
    ledger = Ledger(tmp_path / LEDGER_FILE)
    target = HydrusTarget(fake_hydrus.url, TEST_KEY, SERVICE, fake_hydrus)
    pusher = _pusher(catalog, target, ledger)
    fake_hydrus.busy(100)  # busy through every retry
    report = pusher.push(all_images(catalog)[1])
    assert report.stopped and "busy" in report.stopped
    assert report.requests == 3  # one lookup, tried three times; no storm
    fake_hydrus.busy(0)
    report = pusher.push(all_images(catalog)[1])
    assert (report.stopped, report.updated) == (None, 4)


def test_dry_run_sends_nothing(tagged, fake_hydrus: FakeHydrus, tmp_path: Path) -> None:
    catalog, files = tagged
    for path in files.values():
        fake_hydrus.add_file(path.read_bytes())
    target = HydrusTarget(fake_hydrus.url, TEST_KEY, SERVICE, fake_hydrus)
    pusher = _pusher(catalog, target, Ledger(tmp_path / LEDGER_FILE))
    report = pusher.push(all_images(catalog)[1], dry_run=True)
    assert report.updated == 4 and report.tags_added > 10
    assert fake_hydrus.requests_to("/add_tags/add_tags") == 0


def test_a_tag_the_user_deleted_never_comes_back(tagged, hydrus: HydrusTarget,
                                                 tmp_path: Path) -> None:
    """Even through a model that drops the tag and later gives it again: PxIMSE's own
    removal of a tag the user had already deleted does not make it PxIMSE's to restore."""
    catalog, files = tagged
    sha = hydrus.add_file(files["plain"].read_bytes())
    content_id = catalog.content_ids([sha])[sha]
    ledger = Ledger(tmp_path / LEDGER_FILE)
    pusher = _pusher(catalog, hydrus, ledger)

    def model_says(tags: dict[str, float]) -> None:
        catalog.set_model_tags_many([(content_id, MODEL, tags)])
        assert pusher.push([[content_id]]).stopped is None

    model_says({"smile": 0.9, "rating:general": 0.9})
    hydrus.user_deletes(sha, "smile")
    model_says({"rating:general": 0.9})  # the model drops it
    model_says({"smile": 0.9, "rating:general": 0.9})  # and gives it again
    assert "smile" not in hydrus.tags(sha) and "smile" in hydrus.tags(sha, "2")
    pusher.client.close()
    ledger.close()
