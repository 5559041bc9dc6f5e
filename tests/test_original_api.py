"""The original PxIMSE front end's contract, replayed as it sends its requests.

Its page (Usu171/PxIMSE, ``pages/index.vue``) posts multipart form data to
``/api/query/``: ``text`` (``""``, or ``"null"`` once the box was cleared),
``query`` and ``sort`` (its chips joined by commas, a JS array's ``String()``),
and ``image`` (a file, or ``{serverUrl}/{folder}/{filename}`` when a card's
magnify button is pressed); never a limit or offset. It reads back a bare
array of documents and shows each picture from ``{serverUrl}/{folder}/{filename}``.
The tests here post exactly those forms (field order included) to a scanned
library and check the answer field by field, then fetch the pictures at the
addresses the page builds. The ranked forms (CLIP text and image) are in
``test_original_vectors.py``.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import http_server
from fastapi.testclient import TestClient
from helpers.api_client import api_client
from helpers.original_requests import front_end_form, picture_url, submit

from pximse.api.app import create_app
from pximse.api.original_documents import ORIGINAL_KEYS
from pximse.config import Config
from pximse.library.scan import scan_roots
from pximse.query.legacy import ORIGINAL_TYPES
from pximse.store.records import PixivTag, PixivWork
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

PIXIV = "pixiv/12345_67890123_p0.png"
PIXIV1 = "pixiv/98765432_p0.png"
YANDERE = "yande.re 777 cat_ears smile.jpg"
TWITTER = "twitter/twitter_Bob(@bob_x)_20200131-235959_1223344556677889900_photo.jpg"
OTHER = "日本 語/wall paper.webp"
FILES = {PIXIV: (300, 200), PIXIV1: (200, 200), YANDERE: (100, 150), TWITTER: (120, 120),
         OTHER: (160, 90)}
MTIME = {name: 1_700_000_000 + 100 * i for i, name in enumerate(FILES)}

SORT_CHIPS = {
    # the original front end's sort box, and the document key each one orders by
    "filename": "filename", "folder": "folder", "type": "type", "width": "width",
    "height": "height", "filesize": "filesize", "date": "date", "user": "user",
    "userid": "userid", "illustid": "illustid", "createDate": "createDate",
    "viewCount": "viewCount", "bookmarkCount": "bookmarkCount", "likeCount": "likeCount",
    "commentCount": "commentCount",
}


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def original(library: Path, make_image, make_config) -> dict[str, Any]:
    for i, (name, size) in enumerate(FILES.items()):
        path = make_image(library / name, seed=10 + i, size=size)
        os.utime(path, (MTIME[name], MTIME[name]))
    config = make_config({"main": library})
    catalog = SqliteCatalog(config.catalog_path)
    fill(catalog, config)
    sha = {name: sha_of(library / name) for name in FILES}
    return {"config": config, "catalog": catalog, "library": library, "sha": sha}


def fill(catalog: Any, config: Config) -> None:
    """The library scanned into ``catalog``, then tags, OCR text and a Pixiv work."""
    library = config.roots[0].path
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    cid = {name: catalog.content_id_for(sha_of(library / name)) for name in FILES}
    catalog.set_model_tags_many([
        (cid[PIXIV], "wd-test", {"1girl": 0.98, "long_hair": 0.7, "hat": 0.2}),
        (cid[YANDERE], "wd-test", {"1girl": 0.6, "monochrome": 0.9}),
    ])
    catalog.set_ocr(cid[PIXIV], "ocr-test", "hello world")
    catalog.set_ocr(cid[TWITTER], "ocr-test", "")  # OCR ran and found nothing
    catalog.record_pixiv_work(PixivWork(
        "67890123", "ok", "ajax", fetched_at=1_700_000_000, title="夏の日",
        caption='<a href="/jump.php?https%3A%2F%2Fexample.org">site</a>',
        created=1_577_836_800, views=1000, bookmarks=200, likes=150, comments=3,
        user_id="12345", user_name="Alice",
        tags=[PixivTag("オリジナル", "original"), PixivTag("女の子")]))


@pytest.fixture
def client(original: dict[str, Any]) -> TestClient:
    with api_client(create_app(original["config"], original["catalog"])) as test_client:
        yield test_client


def by_file(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{doc['folder'].removeprefix('main').lstrip('/')}/{doc['filename']}".lstrip("/"):
            doc for doc in docs}


# -- the documents ---------------------------------------------------------------------


def test_every_document_has_the_originals_keys_and_types(client: TestClient) -> None:
    docs = submit(client)
    assert len(docs) == len(FILES)
    for doc in docs:
        assert tuple(doc)[:len(ORIGINAL_KEYS)] == ORIGINAL_KEYS
        assert re.fullmatch(r"[0-9a-f]{64}", doc["_id"])
        assert doc["type"] in ORIGINAL_TYPES
        assert all(isinstance(doc[key], int) for key in ("width", "height", "filesize"))
        assert re.fullmatch(r"\d{4}/\d\d/\d\d-\d\d:\d\d:\d\d", doc["date"])
        assert doc["tags"] is None or all(isinstance(score, float)
                                          for score in doc["tags"].values())
        assert doc["tags1"] is None or all(isinstance(tag, str) for tag in doc["tags1"])
        assert "image_distance" not in doc and "text_distance" not in doc  # not ranked
        # PxIMSE's own fields come after, under names the original did not use
        assert set(doc) - set(ORIGINAL_KEYS) == {
            "path", "source", "format", "page", "offline", "file_url", "thumbnail_url"}


def test_each_document_field_by_field(client: TestClient, original: dict[str, Any]) -> None:
    docs = by_file(submit(client))
    assert docs[PIXIV] | {"path": None} == {
        "_id": original["sha"][PIXIV], "filename": "12345_67890123_p0.png",
        "folder": "main/pixiv", "type": "pixiv", "width": 300, "height": 200,
        "filesize": (original["library"] / PIXIV).stat().st_size,
        "date": "2023/11/14-22:13:20",  # the file's modification time, UTC
        "title": "夏の日", "user": "Alice", "userid": "12345", "illustid": "67890123",
        "description": '<a href="/jump.php?https%3A%2F%2Fexample.org">site</a>',
        "createDate": "2020/01/01-00:00:00", "viewCount": 1000, "bookmarkCount": 200,
        "likeCount": 150, "commentCount": 3,
        "tags": {"1girl": 0.98, "long_hair": 0.7},  # hat (0.2) is under the threshold
        "tags1": ["original", "オリジナル", "女の子"], "text": "hello world",
        "path": None, "source": "pixiv", "format": "png", "page": 0, "offline": False,
        "file_url": f"/api/images/{original['sha'][PIXIV]}/file",
        "thumbnail_url": f"/api/images/{original['sha'][PIXIV]}/thumbnail",
    }
    assert docs[PIXIV]["path"] == str(original["library"] / PIXIV)
    pixiv1 = docs[PIXIV1]
    assert (pixiv1["type"], pixiv1["userid"], pixiv1["illustid"], pixiv1["tags"],
            pixiv1["tags1"], pixiv1["text"], pixiv1["viewCount"]) == (
        "pixiv1", None, "98765432", None, None, None, None)
    yandere = docs[YANDERE]
    assert (yandere["type"], yandere["folder"], yandere["illustid"], yandere["tags1"],
            yandere["tags"], yandere["user"]) == (
        "yandere", "main", "777", ["cat_ears", "smile"], {"1girl": 0.6, "monochrome": 0.9},
        None)
    twitter = docs[TWITTER]
    assert (twitter["type"], twitter["folder"], twitter["user"], twitter["userid"],
            twitter["illustid"], twitter["createDate"], twitter["text"]) == (
        "twitter", "main/twitter", "Bob", "bob_x", "1223344556677889900",
        "2020/01/31-23:59:59", None)
    other = docs[OTHER]
    assert (other["type"], other["folder"], other["filename"], other["illustid"]) == (
        "other", "main/日本 語", "wall paper.webp", None)


def test_cleared_boxes_send_null_and_mean_nothing(client: TestClient) -> None:
    everything = submit(client)
    # no CLIP is configured here: a CLIP search for "null" would be a 503
    assert submit(client, text=None, query=None, sort=None) == everything
    assert submit(client, text="", query=[], sort=[]) == everything


def test_comma_joined_chips(client: TestClient) -> None:
    docs = submit(client, query=["!tags.monochrome", '|type;="pixiv"', '|type;="twitter"'],
                  sort=["width;1"])
    assert [doc["filename"] for doc in docs] == [Path(TWITTER).name, Path(PIXIV).name]
    found = submit(client, query=["tags.1girl", "tags1:cat_ears"])
    assert [doc["filename"] for doc in found] == [YANDERE]
    # the dialog's magnify buttons add `${key};="${value}"` chips
    for key, name in (("user", PIXIV), ("userid", PIXIV), ("illustid", PIXIV1),
                      ("userid", TWITTER)):
        value = by_file(submit(client))[name][key]
        assert [d["filename"] for d in submit(client, query=[f'{key};="{value}"'])] == [
            Path(name).name]


def test_the_originals_item_meanings(client: TestClient) -> None:
    def names(*query: str) -> set[str]:
        return {doc["filename"] for doc in submit(client, query=list(query))}

    assert names('type;="pixiv1"') == {Path(PIXIV1).name}
    assert names('type;="pixiv"') == {Path(PIXIV).name}
    assert names('type;="other"') == {Path(OTHER).name}
    # a score is compared where the tag is present (at or above the threshold)
    assert names("tags.hat;<=0.9") == set()
    assert names("tags.long_hair;<=0.9") == {Path(PIXIV).name}
    # textlen measures images that have text; text;=null is the others
    assert names("textlen;<50") == {Path(PIXIV).name}
    assert names("text;=null") == set(map(lambda n: Path(n).name, FILES)) - {Path(PIXIV).name}
    assert names("tags1;!=null", "!tags") == set()
    assert names("tags1;!=null") == {Path(PIXIV).name, YANDERE}
    # a key the dialog shows as null is one KEY;=null finds, and the other way round
    docs = submit(client)
    for key in ("tags", "tags1", "text"):
        assert names(f"{key};=null") == {doc["filename"] for doc in docs if doc[key] is None}
        assert names(f"{key};!=null") == {doc["filename"] for doc in docs
                                          if doc[key] is not None}


def test_every_sort_chip_of_the_original(client: TestClient) -> None:
    for chip, key in SORT_CHIPS.items():
        for suffix, descending in (("", True), (";-1", True), (";1", False)):
            docs = submit(client, sort=[chip + suffix])
            values = [doc[key] for doc in docs]
            if key == "type":  # one site: pixiv and pixiv1 sort together
                values = [value.removesuffix("1") for value in values]
            present = [value for value in values if value is not None]
            assert values == present + [None] * (len(values) - len(present)), chip + suffix
            assert present == sorted(present, reverse=descending), chip + suffix
            assert len(set(present)) > 1 or chip in ("user", "likeCount", "viewCount",
                                                      "bookmarkCount", "commentCount")


def test_several_sort_chips_and_errors(client: TestClient) -> None:
    docs = submit(client, sort=["type;1", "filesize"])
    assert [doc["type"].removesuffix("1") for doc in docs] == sorted(
        doc["type"].removesuffix("1") for doc in docs)
    bad = client.post("/api/query/", **front_end_form(sort=["filesize;2"]))
    assert bad.status_code == 400 and bad.json()["error"] == "query"
    unknown = client.post("/api/query/", **front_end_form(query=["sanityLevel;>2"]))
    assert unknown.status_code == 400 and "unknown field" in unknown.json()["message"]


def test_no_limit_answers_up_to_original_api_limit(tmp_path: Path, make_config) -> None:
    config: Config = make_config({"main": tmp_path / "nowhere"})
    assert config.search.original_api_limit == 1200
    catalog = SqliteCatalog(config.catalog_path)
    root = catalog.ensure_root("main", str(tmp_path / "nowhere"))
    contents = [NewContent(hashlib.sha256(str(i).encode()).hexdigest(), 1000 + i, "png", 10,
                           10, 1, False, None, False, (1_600_000_000 + i) * 10**9)
                for i in range(1300)]
    catalog.apply_scan_batch(ScanBatch(root, new_content=contents, files=[
        FileRecord(str(tmp_path / "nowhere" / f"{i}.png"), c.filesize, c.mtime_ns, "ok",
                   c.sha256) for i, c in enumerate(contents)]))
    with api_client(create_app(config, catalog)) as client:
        docs = submit(client, sort=["filesize;1"])
        assert len(docs) == 1200
        assert [doc["filesize"] for doc in docs] == list(range(1000, 2200))
        assert docs[0]["folder"] == "main" and docs[0]["filename"] == "0.png"
        # a PxIMSE client may still page
        page = client.post("/api/query/", data={"sort": "filesize;1", "limit": "5",
                                                "offset": "1250"}).json()
        assert [doc["filesize"] for doc in page] == list(range(2250, 2255))
    small = make_config({"main": tmp_path / "nowhere"}, "[search]\noriginal_api_limit = 7\n")
    with api_client(create_app(small, catalog)) as client:
        assert len(submit(client)) == 7
    catalog.close()


# -- the pictures at {serverUrl}/{folder}/{filename} ---------------------------------------


def test_the_picture_at_the_address_the_page_builds(client: TestClient,
                                                    original: dict[str, Any]) -> None:
    types = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
    for name, doc in by_file(submit(client)).items():
        answer = client.get(picture_url(doc))
        assert answer.status_code == 200, name
        assert answer.content == (original["library"] / name).read_bytes()
        assert answer.headers["content-type"] == types[Path(name).suffix]
        assert answer.headers["etag"] == f'"{doc["_id"]}"'
        by_id = client.get(doc["file_url"])
        assert by_id.content == answer.content
        assert by_id.headers["content-type"] == answer.headers["content-type"]
        # a path may come to hold another file: asked again each time, 304 while unchanged
        assert answer.headers["cache-control"] == "private, no-cache"
        again = client.get(picture_url(doc), headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and not again.content


def test_a_picture_only_where_the_catalogue_holds_it(client: TestClient,
                                                     original: dict[str, Any],
                                                     make_image) -> None:
    library: Path = original["library"]
    make_image(library / "pixiv" / "not scanned.png", seed=99)
    (library.parent / "secret.png").write_bytes((library / PIXIV).read_bytes())
    for address in ("/main/pixiv/not%20scanned.png",  # on disk, not in the catalogue
                    "/other/pixiv/12345_67890123_p0.png",  # no such root
                    "/main/pixiv/../../secret.png", "/main/%2e%2e/secret.png",
                    "/main/pixiv/%2e%2e/%2e%2e/secret.png", "/main//pixiv/12345_67890123_p0.png",
                    "/main/pixiv", "/main/", "/main"):
        assert client.get(address).status_code == 404, address
    # a catalogued file replaced by a link (scan.follow_symlinks is false) is not served
    target = library / PIXIV
    stat = target.stat()
    target.unlink()
    os.symlink(library.parent / "secret.png", target)
    os.utime(target, (stat.st_mtime, stat.st_mtime), follow_symlinks=False)
    assert client.get("/main/" + quote(PIXIV)).status_code == 404
    # nor one whose size or time changed since the scan
    other = library / PIXIV1
    other.write_bytes(other.read_bytes() + b"x")
    assert client.get("/main/" + quote(PIXIV1)).status_code == 404


def test_names_a_browser_does_not_encode_as_they_are(client: TestClient, original,
                                                     make_image) -> None:
    library: Path = original["library"]
    for name in ("what?.png", "100%41.png"):
        make_image(library / "odd" / name, seed=len(name))
    scan_roots(original["catalog"], original["config"].roots,
               thumbnail_dir=original["config"].thumbnail_dir, config=original["config"].scan)
    # the page puts the name in the address as it is: "?" starts a query, "%41" stays
    assert client.get("/main/odd/what?.png").content == (library / "odd/what?.png").read_bytes()
    assert client.get("/main/odd/100%41.png").content == (
        library / "odd/100%41.png").read_bytes()


# -- image as an address --------------------------------------------------------------------


def test_an_image_address_is_never_fetched(client: TestClient,
                                           original: dict[str, Any]) -> None:
    class Picture(http.server.BaseHTTPRequestHandler):
        """Would answer a picture, and notes every request."""

        def do_GET(self) -> None:  # noqa: N802 (the handler's name)
            self.server.requests.append(self.path)  # type: ignore[attr-defined]
            body = (original["library"] / PIXIV).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Picture) as server:
        port = server.server_address[1]
        for address in (f"http://127.0.0.1:{port}/main/{quote(PIXIV)}",
                        f"http://localhost:{port}/main/{PIXIV}", "http://example.org/a.png",
                        "file:///etc/passwd", "ftp://127.0.0.1/a.png", "/main/" + PIXIV):
            answer = client.post("/api/query/", **front_end_form(image=address))
            assert answer.status_code == 400, address
            assert "never fetches" in answer.json()["detail"]
        assert server.requests == []  # type: ignore[attr-defined]


def test_an_own_address_that_the_catalogue_lacks_is_a_400(client: TestClient) -> None:
    port = client.app.state.config.server.port  # type: ignore[attr-defined]
    for address in (f"http://127.0.0.1:{port}/main/pixiv/none.png",
                    f"http://localhost:{port}/nope/{PIXIV}",
                    f"http://127.0.0.1:{port}/main/pixiv/../{YANDERE}"):
        answer = client.post("/api/query/", **front_end_form(image=address))
        assert answer.status_code == 400, address
        assert "no online file" in answer.json()["detail"]
    # the catalogued file is found; with no CLIP configured, the vector search says so
    found = client.post("/api/query/", **front_end_form(
        image=f"http://127.0.0.1:{port}/main/{PIXIV}"))
    assert found.status_code == 503 and found.json()["error"] == "vector_search_unavailable"


# -- a front end served elsewhere -----------------------------------------------------------


def test_a_front_end_on_a_configured_origin(original: dict[str, Any], make_config) -> None:
    config = make_config({"main": original["library"]},
                         '[server]\ncors_origins = ["http://localhost:3000"]\n')
    page = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site",
            "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    with api_client(create_app(config, original["catalog"])) as client:
        preflight = client.options("/api/query/", headers={
            **page, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        answer = client.post("/api/query/", headers=page, **front_end_form(sort=["filename"]))
        assert answer.status_code == 200 and len(answer.json()) == len(FILES)
        assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
        # its <img> elements: no Origin, the page's Referer, Sec-Fetch-Dest: image
        doc = answer.json()[0]
        picture = {"Referer": "http://localhost:3000/", "Sec-Fetch-Site": "same-site",
                   "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
        shown = client.get(picture_url(doc), headers=picture)
        assert shown.status_code == 200 and shown.content
        assert shown.headers["cross-origin-resource-policy"] == "cross-origin"
        # another site's page gets neither
        for other in ({**picture, "Referer": "http://localhost:4000/"},
                      {**picture, "Referer": "http://localhost:3000.evil.example/"},
                      {key: value for key, value in picture.items() if key != "Referer"},
                      {**picture, "Sec-Fetch-Dest": "script"}):
            assert client.get(picture_url(doc), headers=other).status_code == 403
        foreign = client.post("/api/query/", headers={**page, "Origin": "http://localhost:4000"},
                              **front_end_form())
        assert foreign.status_code == 403
    # without cors_origins, the daemon's own page only
    with api_client(create_app(original["config"], original["catalog"])) as client:
        assert client.get(picture_url(doc), headers=picture).status_code == 403
        own = client.get(picture_url(doc), headers={**picture, "Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200
        assert own.headers["cross-origin-resource-policy"] == "same-origin"


# -- the server backend --------------------------------------------------------------------


def test_the_same_answers_on_mongodb(original: dict[str, Any], make_config) -> None:
    """The library written to MongoDB (mongomock) with word searches in
    (the fake) Meilisearch answers every form as the embedded catalogue does."""
    import mongomock
    from helpers.meili_fake import FakeMeili

    from pximse.store.meili import MeiliTextStore
    from pximse.store.mongo.catalog import MongoCatalog
    from pximse.store.mongo.database import MongoDatabase

    config = make_config({"main": original["library"]},
                         '[backend]\nkind = "mongodb"\n')
    meili = FakeMeili().start()
    mongo = MongoCatalog(MongoDatabase(mongomock.MongoClient(), "pximse"),
                         text_store=MeiliTextStore(meili.url, interval_ms=1))
    try:
        fill(mongo, config)
        forms: list[dict[str, Any]] = [
            {}, {"text": None, "query": None, "sort": None},
            {"query": ["tags.1girl"], "sort": ["width;1"]},
            {"query": ["!tags.monochrome", '|type;="pixiv"', '|type;="twitter"']},
            {"query": ['type;="pixiv1"']}, {"query": ["tags.long_hair;<=0.9"]},
            {"query": ["textlen;<50"]}, {"query": ["tags;=null"], "sort": ["filename"]},
            {"query": ["tags1;!=null"], "sort": ["illustid;1"]},
            {"query": ['userid;="12345"']}, {"query": ["m;hello wor"]},
            {"query": ["mt;origin"]}, {"query": ["mt;cat_ears"]},
            *({"sort": [chip + suffix]} for chip in SORT_CHIPS for suffix in ("", ";1")),
        ]
        with api_client(create_app(original["config"], original["catalog"])) as embedded, \
                api_client(create_app(config, mongo)) as server:
            for form in forms:
                expected = submit(embedded, **form)
                assert expected, form  # each form finds something
                assert submit(server, **form) == expected, form
            assert {doc["filename"] for doc in submit(server, query=["m;hello"])} == {
                Path(PIXIV).name}
            for doc in submit(server):
                shown = server.get(picture_url(doc))
                assert shown.status_code == 200, doc
                assert shown.content == embedded.get(picture_url(doc)).content
    finally:
        mongo.close()
        meili.stop()
