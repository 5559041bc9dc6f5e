"""Near-duplicates: the pair finder against brute force, and ``dupes:`` and
``pximse dupes`` on a real scanned library of re-encodes and resizes."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import draw_picture

from pximse.cli import main
from pximse.config import load_config
from pximse.library.scan import scan_roots
from pximse.query.errors import QueryError
from pximse.query.parse import parse_query
from pximse.store.duplicates import find_groups, hash_pairs
from pximse.store.sqlite.catalog import SqliteCatalog


def clustered_hashes(count: int, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    bases = [rng.getrandbits(64) for _ in range(max(count // 20, 1))]
    values = []
    for _ in range(count):
        value = rng.choice(bases)
        for bit in rng.sample(range(64), rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 30])):
            value ^= 1 << bit
        values.append(value - (1 << 64) if value >= 1 << 63 else value)  # signed, as stored
    return np.array(values, dtype=np.int64)


def brute_pairs(hashes: np.ndarray, distance: int) -> set[tuple[int, int]]:
    unsigned = [int(h) & (2**64 - 1) for h in hashes]
    return {(i, j) for i in range(len(unsigned)) for j in range(i + 1, len(unsigned))
            if bin(unsigned[i] ^ unsigned[j]).count("1") <= distance}


@pytest.mark.parametrize("distance", [0, 1, 3, 4, 7, 12])
def test_every_pair_within_the_distance_is_found_and_no_other(distance: int) -> None:
    hashes = clustered_hashes(600, seed=distance)
    found = hash_pairs(hashes, distance)
    assert {(int(a), int(b)) for a, b in found} <= brute_pairs(hashes, distance)
    assert all(a < b for a, b in found.tolist())
    # Equal hashes pair through their first holder only; the groups are the same.
    expected = brute_pairs(hashes, distance)
    ids = np.arange(100, 100 + len(hashes))
    groups = find_groups(ids, hashes, distance)
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in expected:
        parent[root(a)] = root(b)
    clusters: dict[int, set[int]] = {}
    for i in range(len(hashes)):
        clusters.setdefault(root(i), set()).add(100 + i)
    want = sorted(sorted(c) for c in clusters.values() if len(c) > 1)
    assert sorted(sorted(int(i) for i in g) for g in groups) == want
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)


def test_clip_pairs_join_groups_the_hashes_keep_apart() -> None:
    ids = np.array([1, 2, 3, 4])
    hashes = np.array([0, 1, 2**40 - 1, -1], dtype=np.int64)  # 1~2 close; 3, 4 far
    assert [g.tolist() for g in find_groups(ids, hashes, 2)] == [[1, 2]]
    joined = find_groups(ids, hashes, 2, np.array([[2, 3], [5, 6]]))
    assert [g.tolist() for g in joined] == [[1, 2, 3], [5, 6]]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One picture as PNG, a half-size JPEG re-encode and a WebP copy; another
    picture and its re-encode; three unrelated pictures."""
    folder = tmp_path_factory.mktemp("dupes")
    root = folder / "library"
    root.mkdir()
    original = draw_picture(7, (400, 300))
    original.save(root / "original.png")
    original.resize((200, 150)).save(root / "small.jpg", quality=80)
    original.save(root / "copy.webp", quality=90)
    other = draw_picture(8, (300, 400))
    other.save(root / "other.png")
    other.save(root / "other_again.jpg", quality=70)
    for seed in (20, 21, 22):
        draw_picture(seed, (320, 240)).save(root / f"unrelated{seed}.png")
    config_path = folder / "config.toml"
    config_path.write_text(f'[[library.roots]]\nname = "lib"\npath = "{root}"\n\n'
                           '[models]\nclip = ""\ntagger = ""\nocr = ""\n', encoding="utf-8")
    config = load_config(config_path, folder / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    shas = {row[1].split("/")[-1]: row[0] for row in catalog.db.reader().execute(
        "SELECT c.sha256, f.path FROM file f JOIN content c ON c.id = f.content_id")}
    return {"config": config, "catalog": catalog, "sha": shas}


def names(page_items: list[object], shas: dict[str, str]) -> set[str]:
    by_sha = {sha: name for name, sha in shas.items()}
    return {by_sha[item.id] for item in page_items}  # type: ignore[attr-defined]


def test_dupes_query_finds_the_resized_and_re_encoded_copies(
        library: dict[str, object]) -> None:
    catalog: SqliteCatalog = library["catalog"]  # type: ignore[assignment]
    shas: dict[str, str] = library["sha"]  # type: ignore[assignment]
    original = shas["original.png"]
    found = catalog.search(parse_query(f"dupes:{original[:10]}"), limit=50)
    assert names(found.items, shas) == {"original.png", "small.jpg", "copy.webp"}
    # A filter like any other: negated, combined with a field.
    rest = catalog.search(parse_query(f"-dupes:{original} format:png"), limit=50)
    assert names(rest.items, shas) == {"other.png", "unrelated20.png", "unrelated21.png",
                                       "unrelated22.png"}
    either = catalog.search(parse_query(
        f"dupes:{original[:12]} or dupes:{shas['other.png'][:12]}"), limit=50)
    assert len(either.items) == 5
    # Both engines agree (the SQL one runs without the in-memory index).
    sql = SqliteCatalog(catalog.db.path, memory_index=False)
    again = sql.search(parse_query(f"dupes:{original[:10]}"), limit=50)
    assert names(again.items, shas) == names(found.items, shas)
    with pytest.raises(QueryError, match="dupes: no image has an id starting with"):
        catalog.search(parse_query("dupes:00000000ffff"))


def test_dupes_command_groups_the_library(library: dict[str, object]) -> None:
    config = library["config"]
    shas: dict[str, str] = library["sha"]  # type: ignore[assignment]
    common = ["--config", str(config.config_path),  # type: ignore[attr-defined]
              "--data-dir", str(config.data_dir)]  # type: ignore[attr-defined]
    runner = CliRunner()
    result = runner.invoke(main, ["dupes", *common, "--json"], env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    by_sha = {sha: name for name, sha in shas.items()}
    groups = [[by_sha[i] for i in group["ids"]] for group in body["groups"]]
    # Largest group first; in a group, the most pixels, then lossless, first.
    assert groups == [["original.png", "copy.webp", "small.jpg"],
                      ["other.png", "other_again.jpg"]]
    assert body["total_groups"] == 2 and body["images_in_groups"] == 5
    assert body["similarity"] is None  # no CLIP vectors in this library
    # A query limits the images compared; text output names the files.
    limited = runner.invoke(main, ["dupes", *common, "format:png"], env={},
                            catch_exceptions=False)
    assert limited.exit_code == 0 and "0 groups" in limited.output
    text = runner.invoke(main, ["dupes", *common], env={}, catch_exceptions=False)
    assert "group 1: 3 images" in text.output and "small.jpg" in text.output
    strict = runner.invoke(main, ["dupes", *common, "--json", "--distance", "0"], env={})
    _, hashes, _ = library["catalog"].phashes()  # type: ignore[attr-defined]
    values, counts = np.unique(hashes, return_counts=True)
    assert json.loads(strict.output)["images_in_groups"] == int(counts[counts > 1].sum())
    refused = runner.invoke(main, ["dupes", *common, "--clip"], env={})
    assert refused.exit_code != 0 and "CLIP" in refused.output


def test_scanned_copies_are_within_the_default_distance(library: dict[str, object]) -> None:
    catalog: SqliteCatalog = library["catalog"]  # type: ignore[assignment]
    shas: dict[str, str] = library["sha"]  # type: ignore[assignment]
    ids, hashes, _ = catalog.phashes()
    by_id = dict(zip(ids.tolist(), (int(h) & (2**64 - 1) for h in hashes), strict=True))
    id_of = {name: catalog.content_id_for(sha) for name, sha in shas.items()}
    distance = {name: bin(by_id[id_of["original.png"]] ^ by_id[id_of[name]]).count("1")
                for name in ("small.jpg", "copy.webp", "other.png", "unrelated20.png")}
    assert distance["small.jpg"] <= 2 and distance["copy.webp"] <= 2
    assert distance["other.png"] > 12 and distance["unrelated20.png"] > 12


def test_dupes_on_milvus_compares_hashes_only(library: dict[str, object],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Milvus has no one-pass search for alike pairs: the command groups by the
    hashes, and says so when CLIP is asked for, rather than failing."""
    from pximse.search.planner import ClipSearch
    from pximse.store.vectors.milvus import MilvusVectorStore

    store = MilvusVectorStore.__new__(MilvusVectorStore)  # its class is what counts
    monkeypatch.setattr(ClipSearch, "store", lambda self: store)
    config = library["config"]
    common = ["--config", str(config.config_path),  # type: ignore[attr-defined]
              "--data-dir", str(config.data_dir)]  # type: ignore[attr-defined]
    runner = CliRunner()
    result = runner.invoke(main, ["dupes", *common, "--json"], env={})
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["similarity"] is None and body["total_groups"] == 2
    refused = runner.invoke(main, ["dupes", *common, "--clip"], env={})
    assert refused.exit_code != 0
    assert "embedded vector store only" in refused.output and "--no-clip" in refused.output
