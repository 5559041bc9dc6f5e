"""``GET /api/hydrus`` and ``POST /api/hydrus/show``, the contract the web page's
"Send to Hydrus" button is built against, with the fake Hydrus behind them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.api_client import api_client
from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_target import SERVICE, TEST_KEY, fake_hydrus_fixture  # noqa: F401 (fixture)

from pximse.api.app import create_app
from pximse.config import load_config
from pximse.integrations.hydrus.bridge import HydrusBridge
from pximse.integrations.hydrus.client import RetryPolicy
from pximse.library.scan import scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog


def _app(tmp_path: Path, hydrus: str, library: Path | None = None) -> TestClient:
    text = (f"[[library.roots]]\nname = \"library\"\npath = '{library}'\n\n"
            if library else "") + '[models]\nclip = ""\n\n' + hydrus
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, tmp_path / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    if library:
        scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
    app = create_app(config, catalog)
    # Busy means busy quickly here: three tries, milliseconds apart.
    app.state.hydrus_bridge = HydrusBridge(config, retry=RetryPolicy(3, 0.01, 0.02))
    return api_client(app)


@pytest.fixture
def api(tmp_path: Path, make_image, fake_hydrus: FakeHydrus) -> TestClient:
    folder = tmp_path / "library"
    for seed in range(3):
        picture = make_image(folder / f"yande.re {100 + seed} {'cat' if seed else 'dog'}.png",
                             seed=30 + seed)
        if seed < 2:
            fake_hydrus.add_file(picture.read_bytes())
    settings = (f'[hydrus]\nurl = "{fake_hydrus.url}"\naccess_key = "{TEST_KEY}"\n'
                f'tag_service = "{SERVICE}"\n')
    with _app(tmp_path, settings, folder) as client:
        yield client


def test_not_configured(tmp_path: Path) -> None:
    with _app(tmp_path, "") as client:
        body = client.get("/api/hydrus").json()
        assert body["configured"] is False
        answer = client.post("/api/hydrus/show", json={"q": "cat"})
        assert answer.status_code == 409
        assert "access_key" in answer.json()["message"]


def test_configured_and_reachable(api: TestClient, fake_hydrus: FakeHydrus) -> None:
    body = api.get("/api/hydrus").json()
    assert body["configured"] is True and "access_key" not in body
    assert "reachable" not in body  # only asked for
    checked = api.get("/api/hydrus", params={"check": "true"}).json()
    assert checked["reachable"] is True and checked["hydrus_version"] == 682
    fake_hydrus.stop()
    checked = api.get("/api/hydrus", params={"check": "true"}).json()
    assert checked["reachable"] is False and "not reachable" in checked["message"]


def test_show_sends_the_results_to_a_new_page(api: TestClient,
                                              fake_hydrus: FakeHydrus) -> None:
    answer = api.post("/api/hydrus/show", json={"q": "cat", "text": None, "similar": None})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["sent"], body["total"], body["not_in_hydrus"]) == (1, 2, 1)
    assert body["page"]["name"] == "PxIMSE: cat"
    page = fake_hydrus.pages[-1]
    assert page.key == body["page"]["key"] and len(page.hashes) == 1
    everything = api.post("/api/hydrus/show", json={"q": "", "name": "mine"}).json()
    assert everything["sent"] == 2 and fake_hydrus.pages[-1].name == "mine"


def test_show_errors_are_json_with_a_message(api: TestClient, fake_hydrus: FakeHydrus) -> None:
    bad = api.post("/api/hydrus/show", json={"q": "cat ("})
    assert bad.status_code == 400 and bad.json()["message"]
    bad = api.post("/api/hydrus/show", json={"q": "", "similar": "zzz"})
    assert bad.status_code == 400 and "not an image id" in bad.json()["message"]
    bad = api.post("/api/hydrus/show", json={"q": "", "limit": 0})
    assert bad.status_code == 400
    no_clip = api.post("/api/hydrus/show", json={"q": "", "text": "a cat"})
    assert no_clip.status_code == 503 and no_clip.json()["message"]
    fake_hydrus.busy(1000)
    busy = api.post("/api/hydrus/show", json={"q": "cat"})
    assert busy.status_code == 503 and busy.json()["error"] == "hydrus_unavailable"
    fake_hydrus.busy(0)
    fake_hydrus.keys.clear()
    refused = api.post("/api/hydrus/show", json={"q": "cat"})
    assert refused.status_code == 503 and refused.json()["error"] == "hydrus_auth"


def test_similar_names_a_catalogued_image_and_needs_vectors(api: TestClient,
                                                          tmp_path: Path) -> None:
    unknown = hashlib.sha256(b"nothing").hexdigest()
    answer = api.post("/api/hydrus/show", json={"q": "", "similar": unknown})
    assert answer.status_code == 400 and answer.json()["error"] == "query"
    assert "no image has an id" in answer.json()["message"]
    known = hashlib.sha256((tmp_path / "library" / "yande.re 100 dog.png").read_bytes())
    answer = api.post("/api/hydrus/show", json={"q": "", "similar": known.hexdigest()})
    assert answer.status_code == 503, answer.text  # the image is there, CLIP is not
    assert answer.json()["error"] == "vector_search_unavailable" and answer.json()["message"]
