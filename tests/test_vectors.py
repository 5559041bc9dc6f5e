"""The embedded vector store: exact answers with and without filters, upserts, and saves
that survive a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pximse.store.vectors import VectorStoreError, embedded
from pximse.store.vectors.embedded import EmbeddedVectorStore, stored_models

DIM = 32
MODEL = "ViT-B-32/openai"


def clustered(n: int, dim: int = DIM, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few random centres, like embeddings of similar images."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int,
                allowed: np.ndarray | None = None) -> np.ndarray:
    """The reference: every score, sorted (ties by id)."""
    scores = vectors @ query
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))
    return ids[order[:k]]


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(3000)
    ids = np.arange(1, 3001, dtype=np.int64) * 3  # content ids need not be dense
    return ids, vectors


def filled(folder: Path, ids: np.ndarray, vectors: np.ndarray, **kwargs: int
           ) -> EmbeddedVectorStore:
    store = EmbeddedVectorStore(folder, DIM, MODEL, **kwargs)
    store.add(ids, vectors)
    return store


@pytest.mark.parametrize("exact_below", [0, 10**9], ids=["graph", "exact"])
def test_search_matches_brute_force(tmp_path: Path, data, exact_below: int) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=exact_below)
    queries = clustered(20, seed=1)
    for query in queries:
        found, scores = store.search(query, 10)
        assert list(found) == list(brute_force(ids, vectors, query, 10))
        assert np.all(np.diff(scores) <= 1e-6)


@pytest.mark.parametrize("share", [0.01, 0.5], ids=["selective", "broad"])
@pytest.mark.parametrize("exact_below", [0, 10**9], ids=["graph", "exact"])
def test_filtered_search_is_the_exact_filtered_top_k(tmp_path: Path, data, share: float,
                                                     exact_below: int) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=exact_below)
    rng = np.random.default_rng(2)
    allowed = np.sort(rng.choice(ids, int(len(ids) * share), replace=False))
    for query in clustered(10, seed=3):
        found, _ = store.search(query, 20, allowed)
        assert list(found) == list(brute_force(ids, vectors, query, 20, allowed))


def test_a_filter_within_exact_share_of_the_store_is_answered_exactly(tmp_path: Path, data) -> None:
    """Up to exact_share of the store, a filter is searched exactly (the graph
    walk with a selector loses recall on broad scattered filters)."""
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=0)
    rng = np.random.default_rng(9)
    allowed = np.sort(rng.choice(ids, int(len(ids) * store.exact_share), replace=False))
    calls: list[int] = []
    graph = store._search_graph
    store._search_graph = lambda *a: calls.append(1) or graph(*a)  # type: ignore[method-assign]
    for query in clustered(5, seed=4):
        found, _ = store.search(query, 20, allowed)
        assert list(found) == list(brute_force(ids, vectors, query, 20, allowed))
    assert calls == []
    store.search(clustered(1, seed=4)[0], 20, np.sort(ids[: len(ids) // 2]))
    assert calls == [1]  # broader: the graph


def test_store_size_widens_the_walk(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors)
    assert store.expansion() == 256  # the floor, for a small store
    store.expansion_search = 64
    assert store.expansion() == 64  # an explicit width wins


def test_filter_with_fewer_matches_than_k(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=0)
    allowed = np.array([ids[5], ids[7], 999_999_999], np.int64)  # one id never stored
    found, _ = store.search(vectors[0], 10, allowed)
    assert sorted(found) == sorted(ids[[5, 7]])
    assert len(store.search(vectors[0], 10, np.empty(0, np.int64))[0]) == 0


def test_paging_continues_the_ranking(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=0)
    query = vectors[10]
    whole, _ = store.search(query, 30)
    pages = [store.search(query, 10, offset=offset)[0] for offset in (0, 10, 20)]
    assert list(np.concatenate(pages)) == list(whole)


def test_upsert_and_remove(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=0)
    query = vectors[0]
    best = store.search(query, 1)[0][0]
    assert best == ids[0]
    # replace id 0's vector with a far one: it must stop coming first
    store.add(ids[:1], -vectors[:1])
    assert store.count() == len(ids)
    assert store.search(query, 1)[0][0] != ids[0]
    np.testing.assert_allclose(store.get(ids[:1])[1][0], -vectors[0], atol=1e-6)
    assert store.remove(ids[1:3]) == 2
    assert store.remove(np.array([ids[1], 10**7])) == 0
    assert store.count() == len(ids) - 2
    found, _ = store.search(vectors[1], 50)
    assert ids[1] not in found and ids[2] not in found
    got_ids, got = store.get(ids[:4])
    assert list(got_ids) == [ids[0], ids[3]] and got.shape == (2, DIM)
    # a batch naming one id twice keeps the last vector
    store.add(np.array([ids[5], ids[5]]), np.stack([vectors[6], vectors[7]]))
    np.testing.assert_allclose(store.get(ids[5:6])[1][0], vectors[7], atol=1e-6)
    assert store.count() == len(ids) - 2
    # exact and graph paths agree after the churn
    for query in clustered(5, seed=9):
        rest = np.setdiff1d(ids, ids[1:3])
        expect = brute_force(ids, vectors_after_churn(ids, vectors), query, 10, rest)
        assert list(store.search(query, 10)[0]) == list(expect)
        store.exact_below = 10**9
        assert list(store.search(query, 10)[0]) == list(expect)
        store.exact_below = 0


def vectors_after_churn(ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    churned = vectors.copy()
    churned[0] = -vectors[0]
    churned[5] = vectors[7]
    return churned


def test_persistence_across_reopen(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors)
    store.remove(ids[:10])
    store.save()
    query = vectors[100]
    expect = store.search(query, 10)
    reopened = EmbeddedVectorStore(tmp_path, DIM, MODEL)
    assert reopened.count() == len(ids) - 10
    found, scores = reopened.search(query, 10)
    assert list(found) == list(expect[0])
    np.testing.assert_allclose(scores, expect[1])
    # a second save replaces the first generation's files
    reopened.add(ids[:10], vectors[:10])
    reopened.save()
    names = sorted(p.name for p in reopened.path.iterdir())
    assert names == ["ids-2.npy", "index-2.faiss", "manifest.json"]
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == len(ids)


def test_save_compacts_a_store_with_many_dead_rows(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, exact_below=0)
    store.remove(ids[: len(ids) // 2])
    store.save()
    reopened = EmbeddedVectorStore(tmp_path, DIM, MODEL, exact_below=0)
    assert reopened._index.ntotal == len(ids) - len(ids) // 2
    rest = ids[len(ids) // 2:]
    query = vectors[-1]
    assert list(reopened.search(query, 10)[0]) == list(
        brute_force(ids, vectors, query, 10, rest))


def test_crash_during_save_keeps_the_previous_store(tmp_path: Path, data, monkeypatch) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids[:1000], vectors[:1000])
    store.save()

    def crash(folder: Path, manifest: dict[str, object]) -> None:
        raise OSError("disk full")

    store.add(ids[1000:], vectors[1000:])
    monkeypatch.setattr(embedded, "_commit_manifest", crash)
    with pytest.raises(OSError):
        store.save()
    assert (store.path / "index-2.faiss").exists()  # written, never named by the manifest
    reopened = EmbeddedVectorStore(tmp_path, DIM, MODEL)
    assert reopened.count() == 1000
    # Opening deletes nothing: another process may be saving that generation right
    # now. The next save sweeps what its manifest does not name.
    assert (store.path / "index-2.faiss").exists()


def test_half_written_index_never_replaces_a_good_one(tmp_path: Path, data,
                                                       monkeypatch) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids[:500], vectors[:500])
    store.save()
    store.add(ids[500:], vectors[500:])

    def half_write(index: object, path: str) -> None:
        Path(path).write_bytes(b"IHNs" + b"\0" * 100)
        raise MemoryError("killed mid-write")

    monkeypatch.setattr(embedded.faiss, "write_index", half_write)
    with pytest.raises(MemoryError):
        store.save()
    monkeypatch.undo()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 500


def test_model_ids_are_separate_stores(tmp_path: Path, data) -> None:
    ids, vectors = data
    old = filled(tmp_path, ids[:100], vectors[:100])
    old.save()
    new = EmbeddedVectorStore(tmp_path, 64, "ViT-L-14/laion2b")
    new.add(ids[:5], clustered(5, dim=64))
    new.save()
    assert old.path != new.path
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 100
    assert EmbeddedVectorStore(tmp_path, 64, "ViT-L-14/laion2b").count() == 5
    assert stored_models(tmp_path) == {MODEL: DIM, "ViT-L-14/laion2b": 64}
    # ids that only differ by characters a file name cannot hold stay apart
    assert EmbeddedVectorStore(tmp_path, DIM, "ViT-B-32:openai").path != old.path


def test_dimension_mismatch_is_a_clear_error(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids[:10], vectors[:10])
    store.save()
    with pytest.raises(VectorStoreError, match="holds 32-d vectors, not 512-d"):
        EmbeddedVectorStore(tmp_path, 512, MODEL)
    with pytest.raises(VectorStoreError, match="holds 32-d vectors"):
        store.add(ids[:2], np.zeros((2, 16), np.float32))
    with pytest.raises(VectorStoreError, match="the query has 16"):
        store.search(np.zeros(16, np.float32), 5)
    with pytest.raises(VectorStoreError, match="non-negative"):
        store.add(np.array([-1]), vectors[:1])


def test_empty_store(tmp_path: Path) -> None:
    store = EmbeddedVectorStore(tmp_path, DIM, MODEL)
    assert store.count() == 0
    assert len(store.search(np.ones(DIM, np.float32), 10)[0]) == 0
    assert len(store.get(np.array([1, 2]))[0]) == 0
    store.save()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 0


@pytest.mark.parametrize("exact_below", [0, 10**9], ids=["graph", "exact"])
def test_similar_pairs_are_the_close_neighbours(tmp_path: Path, exact_below: int) -> None:
    """For ``pximse dupes``: pairs at or above a similarity among each vector's
    nearest, removed vectors left out; the graph finds (nearly) what exact does."""
    rng = np.random.default_rng(3)
    base = clustered(400, seed=3)
    near = base[:60] + rng.normal(0, 0.01, (60, DIM)).astype(np.float32)  # re-uploads
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    vectors = np.concatenate([base, near])
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    store = filled(tmp_path, ids, vectors, exact_below=exact_below)
    store.remove(ids[:5])
    seen: list[tuple[int, int]] = []
    pairs, scores = store.similar_pairs(0.97, k=4, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(ids) - 5, len(ids) - 5)
    alive = ids >= 6
    similarity = vectors[alive] @ vectors[alive].T
    # brute force: pairs >= 0.97 where one is among the other's 4 nearest
    order = np.argsort(-similarity, axis=1)[:, 1:5]
    live_ids = ids[alive]
    expected = set()
    for row, neighbours in enumerate(order):
        for col in neighbours:
            if similarity[row, col] >= 0.97:
                a, b = sorted((int(live_ids[row]), int(live_ids[col])))
                expected.add((a, b))
    found = {(int(a), int(b)) for a, b in pairs}
    assert all(a < b for a, b in found) and not any(a <= 5 or b <= 5 for a, b in found)
    assert np.all(scores >= 0.97)
    assert len(expected) >= 55  # the re-uploads are there to find
    if exact_below:
        assert found == expected
    else:
        assert len(found & expected) >= 0.95 * len(expected)
