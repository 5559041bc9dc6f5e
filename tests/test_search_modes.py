"""CLIP search modes end to end: a tiny real open_clip model, configured through the
config file, embeds a scanned library with the real pipeline; then ``clip:``,
``similar:``, ``text=``, uploads and the CLI are checked against brute force."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from helpers.clip_library import IMAGES, indexed, write_config  # noqa: F401 (a fixture)
from PIL import Image

pytest.importorskip("open_clip")

from helpers.api_client import api_client
from helpers.clip_model import ARCH, clip_from, save_bin, tiny_archs, tiny_model  # noqa: E402,F401

from pximse.api.app import create_app  # noqa: E402
from pximse.cli import main  # noqa: E402
from pximse.pipeline.build import plan_stages  # noqa: E402
from pximse.query.parse import parse_query  # noqa: E402
from pximse.search.planner import ClipSearch, plan_query  # noqa: E402
from pximse.store.sqlite.catalog import SqliteCatalog  # noqa: E402


@pytest.fixture(scope="module")
def client(indexed: dict[str, Any]) -> TestClient:
    with api_client(create_app(indexed["config"], indexed["catalog"])) as test_client:
        yield test_client


def brute_force(indexed: dict[str, Any], query: np.ndarray, allowed: set[int]
                ) -> list[tuple[str, float]]:
    scored = [(cid, float(vector @ query)) for cid, vector in indexed["vectors"].items()
              if cid in allowed]
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return [(indexed["sha"][cid], score) for cid, score in scored]


def shas(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_similar_returns_the_image_first_with_score_one(
        client: TestClient, indexed: dict[str, Any]) -> None:
    target = next(iter(indexed["sha"]))
    sha = indexed["sha"][target]
    assert not client.app.state.clip.model_loaded  # type: ignore[attr-defined]
    client.get("/api/search", params={"q": "width:>0"}).raise_for_status()
    assert not client.app.state.clip.model_loaded  # type: ignore[attr-defined]
    body = client.get("/api/search", params={"q": f"similar:{sha[:10]}", "limit": 3}).json()
    assert body["items"][0]["id"] == sha
    assert body["items"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert body["total"] == IMAGES
    assert body["explain"]["vector"]["kind"] == "image"
    assert "similar to" in body["items"][0]["explain"]
    expected = brute_force(indexed, indexed["vectors"][target], set(indexed["sha"]))
    assert shas(body) == [s for s, _ in expected[:3]]


def test_a_filter_excluding_the_best_match_is_applied_inside_the_search(
        client: TestClient, indexed: dict[str, Any]) -> None:
    target = max(indexed["width"], key=indexed["width"].get)  # the widest image
    limit_width = indexed["width"][target] - 3 * 4  # excludes it and three more
    body = client.get("/api/search", params={
        "q": f"similar:{indexed['sha'][target]} width:<{limit_width}", "limit": 4}).json()
    allowed = {cid for cid, width in indexed["width"].items() if width < limit_width}
    expected = brute_force(indexed, indexed["vectors"][target], allowed)
    assert body["total"] == len(allowed) == IMAGES - 4
    assert shas(body) == [s for s, _ in expected[:4]]
    assert [item["score"] for item in body["items"]] == pytest.approx(
        [score for _, score in expected[:4]], abs=1e-5)
    assert indexed["sha"][target] not in shas(body)
    assert "filter: width:<" in body["items"][0]["explain"]


def test_clip_text_ranks_by_the_models_own_similarity(
        client: TestClient, indexed: dict[str, Any], tmp_path: Path) -> None:
    model = clip_from(indexed["weights"], tmp_path)
    text = "girl under a red umbrella"
    query = model.embed_texts([text])[0]
    files = sorted(indexed["library"].glob("*.png"))
    images = model.embed_images([Image.open(path).convert("RGB") for path in files])
    by_file = {path.name: vector for path, vector in zip(files, images, strict=True)}
    expected_names = sorted(by_file, key=lambda name: -float(by_file[name] @ query))
    body = client.get("/api/search", params={"q": f'clip:"{text}"', "limit": IMAGES}).json()
    assert [Path(item["path"]).name for item in body["items"]] == expected_names
    assert body["items"][0]["score"] == pytest.approx(
        float(by_file[expected_names[0]] @ query), abs=1e-4)
    # text= is the same search
    same = client.get("/api/search", params={"text": text, "limit": IMAGES}).json()
    assert shas(same) == shas(body)
    # the original front end's form
    legacy = client.post("/api/query/", data={"text": text, "limit": "3"}).json()
    assert [doc["_id"] for doc in legacy] == shas(body)[:3]
    assert [doc["text_distance"] for doc in legacy] == pytest.approx(
        [item["score"] for item in body["items"][:3]], abs=1e-6)


def test_paging_with_offset_concatenates_to_the_full_ranking(client: TestClient) -> None:
    q = {"q": 'clip:"blue sky"'}
    full = shas(client.get("/api/search", params={**q, "limit": IMAGES}).json())
    pages = [shas(client.get("/api/search", params={**q, "limit": 3, "offset": o}).json())
             for o in range(0, IMAGES, 3)]
    assert [s for page in pages for s in page] == full and len(full) == IMAGES


def test_explicit_order_sorts_and_still_reports_scores(
        client: TestClient, indexed: dict[str, Any]) -> None:
    body = client.get("/api/search", params={"q": 'clip:"cat" order:width_asc',
                                             "limit": 4, "offset": 2}).json()
    widths = [item["width"] for item in body["items"]]
    assert widths == sorted(indexed["width"].values())[2:6]
    assert all(-1.0 <= item["score"] <= 1.0 for item in body["items"])
    assert body["explain"]["order"] == "order:width_asc"


def test_upload_ranks_the_same_image_first(client: TestClient, indexed: dict[str, Any]) -> None:
    path = sorted(indexed["library"].glob("*.png"))[3]
    sha = [s for s, cid in indexed["id_of"].items()
           if Path(indexed["catalog"].image(s).paths[0].path).name == path.name][0]
    with open(path, "rb") as handle:
        body = client.post("/api/search/image", files={"image": ("x.png", handle, "image/png")},
                           data={"q": "width:>0", "limit": "2"}).json()
    assert body["items"][0]["id"] == sha
    assert body["items"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert body["explain"]["vector"]["kind"] == "upload"
    with open(path, "rb") as handle:
        legacy = client.post("/api/query/", files={"image": ("x.png", handle, "image/png")},
                             data={"limit": "1"}).json()
    assert [doc["_id"] for doc in legacy] == [sha]
    assert legacy[0]["image_distance"] == pytest.approx(1.0, abs=1e-3)


def test_bad_uploads_and_misplaced_vectors_are_400(client: TestClient) -> None:
    junk = client.post("/api/search/image",
                       files={"image": ("a.png", io.BytesIO(b"not an image at all"), "image/png")})
    assert junk.status_code == 400 and "a.png" in junk.json()["message"]
    inside_or = client.get("/api/search", params={"q": 'width:>10 or clip:"x"'})
    assert inside_or.status_code == 400
    assert inside_or.json()["position"] == len("width:>10 or ")
    both = client.get("/api/search", params={"q": "clip:x", "text": "y"})
    assert both.status_code == 400 and "only one vector search" in both.json()["message"]
    too_big = client.post("/api/search/image",
                          files={"image": ("big.png", io.BytesIO(b"0" * (52 << 20)), "image/png")})
    assert too_big.status_code == 413


def test_without_a_model_or_vectors_a_vector_query_is_503(
        tmp_path: Path, indexed: dict[str, Any]) -> None:
    (tmp_path / "off").mkdir()
    off = write_config(tmp_path / "off", indexed["library"], 'clip = ""\n')
    catalog = SqliteCatalog(off.catalog_path)
    with api_client(create_app(off, catalog)) as client:
        assert client.get("/api/search", params={"q": ""}).status_code == 200
        answer = client.get("/api/search", params={"q": 'clip:"x"'})
        assert answer.status_code == 503
        assert "pximse models run" in answer.json()["message"]
    (tmp_path / "novectors").mkdir()
    empty = write_config(tmp_path / "novectors", indexed["library"], (
        f'clip = "{ARCH}"\nclip_path = "{indexed["weights"]}"\nclip_pretrained = ""\n'))
    with api_client(create_app(empty, SqliteCatalog(empty.catalog_path))) as client:
        answer = client.get("/api/search", params={"text": "x"})
        assert answer.status_code == 503 and "no CLIP vectors" in answer.json()["message"]


def test_the_store_is_reopened_when_a_new_generation_is_saved(indexed: dict[str, Any]) -> None:
    clip = ClipSearch(indexed["config"])
    first = clip.store()
    assert clip.store() is first
    writer = plan_stages(indexed["config"]).stages[0].vectors  # type: ignore[attr-defined]
    some = next(iter(indexed["vectors"]))
    writer.remove(np.array([some]))
    writer.save()
    try:
        second = clip.store()
        assert second is not first and not second.present(np.array([some]))[0]
    finally:
        writer.add(np.array([some]), indexed["vectors"][some][None, :])
        writer.save()
    assert clip.store().present(np.array([some]))[0]


def test_plan_query_splits_filter_and_vector() -> None:
    plan = plan_query(parse_query("1girl clip:rain order:width"))
    assert plan.nearest is not None and plan.nearest.value == "rain"
    assert plan.filter == parse_query("1girl order:width")
    assert plan_query(parse_query("1girl"), text="rain").nearest == plan.nearest


def test_cli_text_and_image(indexed: dict[str, Any]) -> None:
    config = indexed["config"]
    common = ["--config", str(config.config_path), "--data-dir", str(config.data_dir)]
    runner = CliRunner()
    text = runner.invoke(main, ["search", *common, "--json", "--limit", "3", "--text", "rain"],
                         env={}, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    items = json.loads(text.output)
    assert len(items) == 3 and all("score" in item for item in items)
    path = sorted(indexed["library"].glob("*.png"))[0]
    image = runner.invoke(main, ["search", *common, "--image", str(path), "width:>0"],
                          env={}, catch_exceptions=False)
    assert image.exit_code == 0, image.output
    assert path.name in image.output.splitlines()[0]
    bad = runner.invoke(main, ["search", *common, "a or clip:x"], env={})
    assert bad.exit_code != 0 and "top level" in bad.output


def test_dupes_adds_the_images_whose_clip_vectors_are_nearly_the_same(
        indexed: dict[str, Any]) -> None:
    """``dupes:`` through the planner: perceptual hashes, plus CLIP neighbours
    at or above ``dupe_similarity`` (here set between the target's neighbours'
    scores, so both sides of the threshold are present)."""
    from dataclasses import replace

    from pximse.search.planner import search_json

    config, catalog = indexed["config"], indexed["catalog"]
    target = next(iter(indexed["sha"]))
    scores = sorted(float(v @ indexed["vectors"][target]) for cid, v in
                    indexed["vectors"].items() if cid != target)
    threshold = (scores[len(scores) // 2] + scores[len(scores) // 2 + 1]) / 2
    tuned = replace(config, search=replace(config.search, dupe_similarity=threshold))
    ids, hashes, _ = catalog.phashes()
    mine = int(hashes[ids == target][0]) & (2**64 - 1)
    by_hash = {int(cid) for cid, h in zip(ids, hashes, strict=True)
               if bin(mine ^ (int(h) & (2**64 - 1))).count("1") <= catalog.dupe_distance}
    by_clip = {cid for cid, v in indexed["vectors"].items()
               if float(v @ indexed["vectors"][target]) >= threshold}
    assert by_clip - by_hash  # CLIP finds what the hashes do not
    body = search_json(ClipSearch(tuned), catalog,
                       plan_query(parse_query(f"dupes:{indexed['sha'][target][:12]}")),
                       limit=50, offset=0)
    assert set(shas(body)) == {indexed["sha"][cid] for cid in by_hash | by_clip}
    # Without the planner (the catalogue alone) only the hashes count.
    alone = catalog.search(parse_query(f"dupes:{indexed['sha'][target][:12]}"), limit=50)
    assert {item.id for item in alone.items} == {indexed["sha"][cid] for cid in by_hash}
