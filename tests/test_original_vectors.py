"""The original front end's ranked searches: CLIP ``text``, an uploaded ``image`` and
a card's magnify button (``image`` = the card's own picture address), on a library
embedded by a tiny real open_clip model (``test_search_modes``' fixture).

Each answer is held to PxIMSE's own vector searches, whose rankings
``test_search_modes`` checks against brute force."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("open_clip")

from conftest import draw_picture  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from helpers.api_client import api_client  # noqa: E402
from helpers.clip_library import IMAGES, indexed  # noqa: E402,F401
from helpers.clip_model import tiny_archs  # noqa: E402,F401
from helpers.original_requests import picture_url, submit  # noqa: E402

from pximse.api.app import create_app  # noqa: E402
from pximse.library.scan import scan_roots  # noqa: E402


@pytest.fixture(scope="module")
def client(indexed: dict[str, Any]) -> TestClient:  # noqa: F811
    with api_client(create_app(indexed["config"], indexed["catalog"])) as test_client:
        yield test_client


def scored(body: dict[str, Any]) -> list[tuple[str, float]]:
    return [(item["id"], item["score"]) for item in body["items"]]


def ranked(docs: list[dict[str, Any]], key: str) -> list[tuple[str, float]]:
    return [(doc["_id"], doc[key]) for doc in docs]


def own_address(client: TestClient, doc: dict[str, Any]) -> str:
    """``${serverUrl}/${folder}/${filename}`` with ``serverUrl`` the daemon's address."""
    port = client.app.state.config.server.port  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{port}/{doc['folder']}/{doc['filename']}"


def test_text_ranks_as_clip_search(client: TestClient) -> None:
    docs = submit(client, text="a red square")
    expected = scored(client.get("/api/search", params={"text": "a red square",
                                                        "limit": IMAGES}).json())
    assert [doc["_id"] for doc in docs] == [sha for sha, _ in expected]
    assert [score for _, score in ranked(docs, "text_distance")] == pytest.approx(
        [score for _, score in expected], abs=1e-6)
    assert all("image_distance" not in doc for doc in docs)


def test_an_uploaded_image_ranks_as_search_by_image(client: TestClient,
                                                    indexed: dict[str, Any]) -> None:  # noqa: F811
    path = sorted(indexed["library"].glob("*.png"))[4]
    with open(path, "rb") as handle:
        docs = submit(client, image=("blob", handle, "image/png"))
    with open(path, "rb") as handle:
        expected = scored(client.post("/api/search/image", files={
            "image": ("x.png", handle, "image/png")}, data={"limit": str(IMAGES)}).json())
    assert [doc["_id"] for doc in docs] == [sha for sha, _ in expected]
    assert [doc["image_distance"] for doc in docs] == pytest.approx(
        [score for _, score in expected], abs=1e-6)
    assert docs[0]["filename"] == path.name
    assert docs[0]["image_distance"] == pytest.approx(1.0, abs=1e-3)


def test_the_magnify_button_ranks_by_the_cards_picture(client: TestClient) -> None:
    cards = submit(client, sort=["width;1"])
    card = cards[3]
    docs = submit(client, image=own_address(client, card))
    expected = scored(client.get("/api/search", params={"q": f"similar:{card['_id']}",
                                                        "limit": IMAGES}).json())
    assert [doc["_id"] for doc in docs] == [sha for sha, _ in expected]
    assert docs[0]["_id"] == card["_id"]
    assert docs[0]["image_distance"] == pytest.approx(1.0, abs=1e-4)
    # within the query, and ordered by a sort among the best matches
    narrow = submit(client, query=[f"width;<{card['width']}"], image=own_address(client, card))
    assert {doc["_id"] for doc in narrow} == {c["_id"] for c in cards[:3]}
    resorted = submit(client, sort=["width"], image=own_address(client, card))
    assert {doc["_id"] for doc in resorted} == {doc["_id"] for doc in docs}
    assert [doc["width"] for doc in resorted] == sorted((doc["width"] for doc in docs),
                                                        reverse=True)
    assert all("image_distance" in doc for doc in resorted)


def test_text_and_image_together_keep_the_best_of_both(client: TestClient) -> None:
    card = submit(client, sort=["width;1"])[0]
    both = submit(client, text="a blue sky", image=own_address(client, card))
    by_image = submit(client, image=own_address(client, card))
    # no limit: every image is among the best of both, ordered by the image
    assert [doc["_id"] for doc in both] == [doc["_id"] for doc in by_image]
    text_scores = dict(ranked(submit(client, text="a blue sky"), "text_distance"))
    assert {doc["_id"]: doc["text_distance"] for doc in both} == pytest.approx(text_scores)
    # with a limit (a PxIMSE client), only the images in both top lists remain
    top = {"limit": "4"}
    few = client.post("/api/query/", data={"text": "a blue sky", "image": own_address(
        client, card), **top}).json()
    best_image = [d["_id"] for d in client.post("/api/query/", data={
        "image": own_address(client, card), **top}).json()]
    best_text = {d["_id"] for d in client.post("/api/query/", data={
        "text": "a blue sky", **top}).json()}
    assert [doc["_id"] for doc in few] == [sha for sha in best_image if sha in best_text]


def test_a_card_not_embedded_yet_is_read_from_its_file(client: TestClient,
                                                       indexed: dict[str, Any]) -> None:  # noqa: F811
    library: Path = indexed["library"]
    new = library / "later" / "fresh picture.png"
    new.parent.mkdir()
    draw_picture(777, (90, 70)).save(new)
    config = indexed["config"]
    scan_roots(indexed["catalog"], config.roots, thumbnail_dir=config.thumbnail_dir,
               config=config.scan)
    sha = hashlib.sha256(new.read_bytes()).hexdigest()
    card = next(doc for doc in submit(client, query=["filename;=\"fresh picture.png\""]))
    assert card["_id"] == sha and card["folder"] == "lib/later"
    assert client.get(picture_url(card)).content == new.read_bytes()
    docs = submit(client, image=own_address(client, card))
    with open(new, "rb") as handle:
        expected = scored(client.post("/api/search/image", files={
            "image": ("x.png", handle, "image/png")}, data={"limit": str(IMAGES)}).json())
    assert [doc["_id"] for doc in docs] == [s for s, _ in expected]
    assert [doc["image_distance"] for doc in docs] == pytest.approx(
        [score for _, score in expected], abs=1e-5)
    assert sha not in {doc["_id"] for doc in docs}  # it has no vector to be ranked by
