"""The Client API client against the fake Hydrus (and a real one when configured)."""

from __future__ import annotations

import hashlib
import http.client
import json
import uuid

import httpx
import pytest
from helpers.hydrus_fake import MAX_REQUEST_BYTES, SEARCH, FakeHydrus
from helpers.hydrus_target import (  # noqa: F401 (fixtures)
    SERVICE,
    TEST_KEY,
    HydrusTarget,
    fake_hydrus_fixture,
    hydrus_fixture,
)

from pximse.integrations.hydrus.client import HydrusClient, RetryPolicy
from pximse.integrations.hydrus.errors import (
    HydrusAuthError,
    HydrusNotConfigured,
    HydrusRequestError,
    HydrusUnavailable,
)
from pximse.integrations.hydrus.services import (
    LOCAL_TAG_SERVICE,
    find_tag_service,
    parse_services,
)

QUICK = RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05)


def client_for(target: HydrusTarget, **options) -> HydrusClient:
    return HydrusClient(target.url, target.key, retry=QUICK, **options)


def test_finds_the_tag_service_by_name(hydrus: HydrusTarget) -> None:
    with client_for(hydrus) as client:
        service = client.tag_service(hydrus.service_name)
        assert service.type == LOCAL_TAG_SERVICE
        assert service.name.casefold() == hydrus.service_name.casefold()
        with pytest.raises(HydrusNotConfigured, match="no local tag service named"):
            client.tag_service("no such service here")


def test_both_get_services_shapes(fake_hydrus: FakeHydrus) -> None:
    for shape in ("new", "old"):
        fake_hydrus.services_shape = shape
        with HydrusClient(fake_hydrus.url, TEST_KEY) as client:
            service = client.tag_service(SERVICE)
            assert (service.name, service.type) == (SERVICE, LOCAL_TAG_SERVICE), shape
            assert service.key == SERVICE.encode().hex()


def test_services_answer_with_both_shapes_at_once_counts_each_service_once() -> None:
    body = {
        "services": {"aa": {"name": "my tags", "type": 5, "type_pretty": "local tag service"}},
        "local_tags": [{"name": "my tags", "service_key": "aa"}],
        "tag_repositories": [{"name": "public tag repository", "service_key": "bb"}],
    }
    services = parse_services(body)
    assert sorted((s.key, s.type) for s in services) == [("aa", 5), ("bb", 0)]
    with pytest.raises(HydrusNotConfigured, match="not a local tag service"):
        find_tag_service(services, "public tag repository")
    with pytest.raises(HydrusNotConfigured, match="set \\[hydrus\\] tag_service"):
        find_tag_service(services, "")


def test_auth_errors_say_what_to_fix(fake_hydrus: FakeHydrus) -> None:
    with HydrusClient(fake_hydrus.url, "00" * 32) as client, \
            pytest.raises(HydrusAuthError) as refused:
        client.services()
    assert refused.value.status == 403
    assert "access_key" in refused.value.message
    with httpx.Client(base_url=fake_hydrus.url) as http:
        assert http.get("/get_services").status_code == 401
    limited = fake_hydrus.add_key("cd" * 32, {SEARCH})
    with HydrusClient(fake_hydrus.url, limited) as client, \
            pytest.raises(HydrusAuthError, match="Edit File Tags") as refused:
        client.add_tags(["00" * 32], SERVICE.encode().hex(), add=["x"])
    assert refused.value.status == 403
    with pytest.raises(HydrusNotConfigured, match="access_key"):
        HydrusClient(fake_hydrus.url, " ")


def test_busy_client_is_waited_for_then_given_up_on(fake_hydrus: FakeHydrus) -> None:
    waits: list[float] = []
    fake_hydrus.busy(3)
    with HydrusClient(fake_hydrus.url, TEST_KEY, retry=QUICK, sleep=waits.append) as client:
        assert client.tag_service(SERVICE).name == SERVICE
        assert waits == [0.01, 0.02, 0.04]  # doubling
        fake_hydrus.busy(10)
        with pytest.raises(HydrusUnavailable, match="busy"):
            client.services()


def test_a_stopped_client_is_unavailable_at_once() -> None:
    fake = FakeHydrus().start()
    url = fake.url
    fake.stop()
    waits: list[float] = []
    with HydrusClient(url, TEST_KEY, retry=QUICK, sleep=waits.append) as client, \
            pytest.raises(HydrusUnavailable, match="not reachable"):
        client.services()
    assert waits == []


def test_lookups_are_batched_under_the_request_size_limit(fake_hydrus: FakeHydrus) -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(30_000)]
    held = [fake_hydrus.add_file(sha256=h) for h in hashes[::1000]]
    # All 30,000 in one request line would be over 2 MB: the fake refuses it...
    encoded = httpx.QueryParams({"hashes": json.dumps(hashes)})
    assert len(str(encoded)) > MAX_REQUEST_BYTES
    connection = http.client.HTTPConnection(fake_hydrus.url.removeprefix("http://"))
    connection.request("GET", f"/get_files/file_metadata?{encoded}",
                       headers={"Hydrus-Client-API-Access-Key": TEST_KEY})
    assert connection.getresponse().status == 400
    connection.close()
    # ...and the client, batching 256 at a time, gets every answer.
    with HydrusClient(fake_hydrus.url, TEST_KEY) as client:
        assert client.present(hashes) == set(held)
        assert client.requests == -(-30_000 // 256)
    with HydrusClient(fake_hydrus.url, TEST_KEY, batch_size=100_000) as client, \
            pytest.raises(HydrusRequestError, match="send fewer hashes"):
        client.present(hashes)


def test_tags_are_lowercased_and_deleted_mappings_respected(hydrus: HydrusTarget) -> None:
    sha = hydrus.add_file(_png(1))
    with client_for(hydrus) as client:
        key = client.tag_service(hydrus.service_name).key
        client.add_tags([sha], key, add=["Long Hair", "character:Hatsune Miku", "^_^"])
        assert {"long hair", "character:hatsune miku", "^_^"} <= hydrus.tags(sha)
        hydrus.user_deletes(sha, "long hair")
        client.add_tags([sha], key, add=["long hair"])  # as PxIMSE sends: no override
        assert "long hair" not in hydrus.tags(sha)
        assert "long hair" in hydrus.tags(sha, "2")
        client.add_tags([sha], key, add=["long hair"], override_deleted=True)
        assert "long hair" in hydrus.tags(sha)
        client.add_tags([sha], key, remove=["never there"])  # leaves no deletion record
        assert "never there" not in hydrus.tags(sha, "2")


def test_urls_notes_and_pages(hydrus: HydrusTarget) -> None:
    sha = hydrus.add_file(_png(2))
    with client_for(hydrus) as client:
        client.associate_urls(sha, ["https://www.pixiv.net/artworks/12345"])
        client.set_notes(sha, {"ocr": "ありがとう"})
        meta = hydrus.metadata(sha)
        assert any("12345" in url for url in meta["known_urls"])
        assert meta["notes"]["ocr"] == "ありがとう"
        client.delete_notes(sha, ["ocr"])
        assert "ocr" not in hydrus.metadata(sha).get("notes", {})
        assert sha in client.present([sha, "00" * 32])
        assert sha in client.search_files([f"system:hash = {sha}"])


def _png(seed: int) -> bytes:
    import io

    from conftest import draw_picture
    from PIL.PngImagePlugin import PngInfo

    salt = PngInfo()  # new content each run: a real client's records of a past run
    salt.add_text("run", uuid.uuid4().hex)  # (deleted tags) must not meet it again
    out = io.BytesIO()
    draw_picture(seed + 7000).save(out, format="PNG", pnginfo=salt)
    return out.getvalue()
