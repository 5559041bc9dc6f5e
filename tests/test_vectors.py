"""The embedded vector store: exact answers where it scans everything, measured
recall where it scans lists, filters applied inside the search, upserts, saves
that survive a crash, and stores of the previous format converted on open."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from pximse.store.vectors import VectorStoreError, calibration, embedded
from pximse.store.vectors.calibration import effective_share, probes_for
from pximse.store.vectors.embedded import EmbeddedVectorStore, lists_for, stored_models
from pximse.store.vectors.idfilter import IdFilter

DIM = 32
MODEL = "ViT-B-32/openai"
TRAIN_AT = 2000  # small enough that the tests' stores are split into lists


def clustered(n: int, dim: int = DIM, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few random centres, like embeddings of similar images."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def nearby(vectors: np.ndarray, n: int, seed: int) -> np.ndarray:
    """New points among ``vectors`` (new images like the library's): queries as the
    store's own measurements assume them. Far-off directions need more lists."""
    rng = np.random.default_rng(seed)
    x = vectors[rng.integers(0, len(vectors), n)] + 0.3 * rng.standard_normal(
        (n, vectors.shape[1])).astype(np.float32) / np.sqrt(vectors.shape[1])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def stored(vectors: np.ndarray) -> np.ndarray:
    """What the store keeps of ``vectors``: float16 values."""
    return vectors.astype(np.float16).astype(np.float32)


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int,
                allowed: np.ndarray | None = None) -> np.ndarray:
    """The reference: every score over the stored values, sorted (ties by id)."""
    scores = stored(vectors) @ query
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))
    return ids[order[:k]]


def assert_top_k(found: np.ndarray, scores: np.ndarray, ids: np.ndarray, vectors: np.ndarray,
                 query: np.ndarray, allowed: np.ndarray, start: int = 0) -> None:
    """``found`` (with ``scores``) is the filtered ranking from ``start`` on: rank by
    rank the brute-force id, or one scored the same to float32 precision (a near
    tie the reference's float64 sums may order the other way)."""
    expect = brute_force(ids, vectors, query, start + len(found), allowed)[start:]
    reference = stored(vectors) @ query
    score_of = dict(zip(ids.tolist(), reference.tolist(), strict=True))
    assert len(found) == len(expect) and len(set(found.tolist())) == len(found)
    assert np.isin(found, allowed).all()
    for got, want in zip(found.tolist(), expect.tolist(), strict=True):
        assert got == want or abs(score_of[got] - score_of[want]) < 1e-6, (got, want)
    np.testing.assert_allclose(scores, [score_of[i] for i in found.tolist()],
                               rtol=1e-5, atol=1e-6)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return len(np.intersect1d(found, truth)) / len(truth)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(6000)
    ids = np.arange(1, 6001, dtype=np.int64) * 3  # content ids need not be dense
    return ids, vectors


def filled(folder: Path, ids: np.ndarray, vectors: np.ndarray, **kwargs: int
           ) -> EmbeddedVectorStore:
    store = EmbeddedVectorStore(folder, DIM, MODEL, **kwargs)
    for start in range(0, len(ids), 1000):  # as the indexer adds: batch by batch
        store.add(ids[start:start + 1000], vectors[start:start + 1000])
    return store


def exact_store(folder: Path, ids: np.ndarray, vectors: np.ndarray) -> EmbeddedVectorStore:
    """Split into lists, but told to scan them all: must equal brute force."""
    store = filled(folder, ids, vectors, train_at=TRAIN_AT)
    store.probes = store.lists()
    return store


@pytest.mark.parametrize("layout", ["one list", "lists, all scanned"])
def test_exact_search_matches_brute_force(tmp_path: Path, data, layout: str) -> None:
    ids, vectors = data
    store = (filled(tmp_path, ids, vectors) if layout == "one list"
             else exact_store(tmp_path, ids, vectors))
    assert (store.lists() == 1) == (layout == "one list")
    for query in clustered(20, seed=1):
        found, scores = store.search(query, 10)
        assert list(found) == list(brute_force(ids, vectors, query, 10))
        assert np.all(np.diff(scores) <= 1e-6)
        np.testing.assert_allclose(scores, stored(vectors)[np.searchsorted(ids, found)] @ query,
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("share", [0.01, 0.5], ids=["selective", "broad"])
@pytest.mark.parametrize("layout", ["one list", "lists, all scanned"])
def test_exact_filtered_search_is_the_filtered_top_k(tmp_path: Path, data, share: float,
                                                     layout: str) -> None:
    ids, vectors = data
    store = (filled(tmp_path, ids, vectors) if layout == "one list"
             else exact_store(tmp_path, ids, vectors))
    rng = np.random.default_rng(2)
    allowed = np.sort(rng.choice(ids, int(len(ids) * share), replace=False))
    for query in clustered(10, seed=3):
        found, _ = store.search(query, 20, allowed)
        assert list(found) == list(brute_force(ids, vectors, query, 20, allowed))
        # the same filter as a bitmap gives the same answer
        again, _ = store.search(query, 20, IdFilter.from_ids(allowed))
        assert list(again) == list(found)


def test_measured_probes_keep_recall_at_every_share(tmp_path: Path, data) -> None:
    """The store measures how many lists each filter share needs and uses that:
    recall@100 stays high from an unfiltered query down to a 1% filter."""
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    assert store.lists() > 1
    table = store.probe_table()
    assert table and table[0][0] == 1.0
    shares = [share for share, _ in table]
    probes = [nprobe for _, nprobe in table]
    assert shares == sorted(shares, reverse=True) and probes == sorted(probes)
    rng = np.random.default_rng(5)
    for share in (1.0, 0.6, 0.3, 0.1, 0.01):
        allowed = None if share == 1 else np.sort(
            rng.choice(ids, int(len(ids) * share), replace=False))
        recalls = []
        for query in nearby(vectors, 10, seed=6):
            found, _ = store.search(query, 100, allowed)
            recalls.append(recall(found, brute_force(ids, vectors, query, 100, allowed)))
        assert np.mean(recalls) >= 0.95, (share, recalls)


def test_probe_table_decides_the_crossover_to_an_exact_scan() -> None:
    table = [(1.0, 4), (0.5, 8), (0.25, 16), (0.1, 64)]
    assert probes_for(table, 1.0, 256) == 4
    assert probes_for(table, 0.7, 256) == 8  # the next narrower share measured
    assert probes_for(table, 0.25, 256) == 16
    assert probes_for(table, 0.2, 256) == 64
    assert probes_for(table, 0.05, 256) == 256  # narrower than measured: everything
    assert probes_for(table, 0.2, 100) == 100  # over half the lists: all of them
    assert probes_for([], 1.0, 1) == 1
    # a deeper page reaches as far as a narrower filter
    assert effective_share(1000, 1000, 100) == 1.0
    assert effective_share(1000, 1000, 400) == 0.25
    assert effective_share(100, 1000, 10) == 0.1


def test_a_selective_filter_is_answered_exactly(tmp_path: Path, data) -> None:
    """Below the measured shares the lists are all scanned: the exact filtered top-k."""
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    narrowest = store.probe_table()[-1][0]
    rng = np.random.default_rng(9)
    allowed = np.sort(rng.choice(ids, int(len(ids) * narrowest * 0.5), replace=False))
    for query in clustered(5, seed=4):
        found, _ = store.search(query, 20, allowed)
        assert list(found) == list(brute_force(ids, vectors, query, 20, allowed))


def row_store(folder: Path, ids: np.ndarray, vectors: np.ndarray, layout: str
              ) -> EmbeddedVectorStore:
    """A store told to answer every filter from its rows (the exact row search)."""
    store = filled(folder, ids, vectors, train_at=TRAIN_AT if layout == "lists" else 10**6)
    store.row_share = 1.0
    assert (store.lists() > 1) == (layout == "lists")
    return store


@pytest.mark.parametrize("share", [0.001, 0.01, 0.3, 0.9])
@pytest.mark.parametrize("layout", ["one list", "lists"])
def test_row_search_is_the_exact_filtered_top_k(tmp_path: Path, data, share: float,
                                                layout: str) -> None:
    """Narrow or broad, the allowed rows gathered out of the lists and scored give
    the brute-force top-k of the filter, in order, with its scores."""
    ids, vectors = data
    store = row_store(tmp_path, ids, vectors, layout)
    rng = np.random.default_rng(12)
    allowed = np.sort(rng.choice(ids, max(1, int(len(ids) * share)), replace=False))
    assert store.plan(len(allowed), 20).rows
    for query in nearby(vectors, 8, seed=13):
        found, scores = store.search(query, 20, IdFilter.from_ids(allowed))
        assert_top_k(found, scores, ids, vectors, query, allowed)
        # a later page continues the same ranking
        second, scores = store.search(query, 20, allowed, offset=20)
        assert_top_k(second, scores, ids, vectors, query, allowed, start=20)


@pytest.mark.parametrize("layout", ["one list", "lists"])
def test_row_search_never_returns_removed_or_replaced_vectors(tmp_path: Path, data,
                                                               layout: str) -> None:
    """Removing an id moves another row of its list into the hole; the row search
    must follow, and keep following after a repack, a reopen and a retraining."""
    ids, vectors = data
    store = row_store(tmp_path, ids, vectors, layout)
    rng = np.random.default_rng(14)
    allowed = np.sort(rng.choice(ids, 600, replace=False))
    queries = nearby(vectors, 6, seed=15)
    best = [store.search(q, 10, allowed)[0] for q in queries]
    gone = np.unique(np.concatenate(best))  # every id that came first: removed
    replaced = np.setdiff1d(allowed, gone)[:50]
    current = vectors.copy()
    at = np.searchsorted(ids, replaced)
    current[at] = -vectors[at]  # replaced by far-off vectors
    store.remove(gone)
    store.add(replaced, current[at])
    live = np.setdiff1d(ids, gone)
    live_vectors = current[np.searchsorted(ids, live)]

    def check(store: EmbeddedVectorStore) -> None:
        assert store.plan(len(allowed), 50).rows
        for query in queries:
            found, scores = store.search(query, 50, allowed)
            assert not np.isin(found, gone).any()
            assert_top_k(found, scores, live, live_vectors, query, allowed)
            away, scores = store.search(-query, 50, allowed)  # near the replaced ones
            assert np.isin(away, replaced).any()
            assert_top_k(away, scores, live, live_vectors, -query, allowed)

    check(store)
    store._pack_lists()
    check(store)
    store.save()
    reopened = EmbeddedVectorStore(tmp_path, DIM, MODEL, train_at=store.train_at,
                                   row_share=1.0)
    check(reopened)
    reopened._retrain()
    check(reopened)


def test_measured_crossover_picks_rows_for_narrow_filters_and_lists_for_broad(
        tmp_path: Path, data) -> None:
    """The store times both searches on its own vectors: a filter of a few ids is
    answered from its rows, an unfiltered or broad one from the lists; the share
    measured is kept across a reopen, and a store saved without one measures it
    on its first filtered search and keeps it with its next save."""
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    share = store.exact_share()
    assert 0 < share < 1
    assert store.plan(3, 100).rows
    assert store.plan(int(share * len(ids)), 100).rows
    assert not store.plan(int(share * len(ids)) + 1, 100).rows
    wide = store.plan(len(ids), 100)
    assert not wide.rows and wide.lists < store.lists()
    store.save()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).exact_share() == share
    manifest_path = store.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["exact_share"]
    manifest_path.write_text(json.dumps(manifest))
    measured = EmbeddedVectorStore(tmp_path, DIM, MODEL)  # measured on first use
    assert measured.plan(3, 100).rows and measured.exact_share() > 0
    measured.save()
    assert json.loads(manifest_path.read_text())["exact_share"] == measured.exact_share()


def test_crossover_lies_where_the_two_times_cross(monkeypatch) -> None:
    """With a row search costing one unit an allowed id and a list search costing 30
    units whatever the filter, they cross at 30 ids: 0.3% of 10,000."""
    clock = [0.0]
    monkeypatch.setattr(calibration.time, "perf_counter", lambda: clock[0])

    def rows(query: np.ndarray, allowed: IdFilter) -> None:
        clock[0] += allowed.count

    def lists(query: np.ndarray, allowed: IdFilter) -> None:
        clock[0] += 30

    ids = np.arange(10_000, dtype=np.int64)
    sample = clustered(50)
    share = calibration.measure_crossover(rows, lists, ids, sample, np.random.default_rng(0))
    assert share == pytest.approx(0.003, rel=0.01)
    never = calibration.measure_crossover(lists, rows, ids, sample, np.random.default_rng(0))
    assert never == 0.0  # the rows lost at the narrowest share (5 ids vs 30)


def test_bitmap_ids_are_the_ids_set() -> None:
    rng = np.random.default_rng(16)
    for count in (0, 1, 37, 5000, 20_000):
        ids = np.sort(rng.choice(40_000, count, replace=False))
        got = IdFilter.from_ids(ids, 40_000).ids()
        assert got.dtype == np.int64 and list(got) == list(ids)


def test_filter_with_fewer_matches_than_k(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    allowed = np.array([ids[5], ids[7], 999_999_999], np.int64)  # one id never stored
    found, _ = store.search(vectors[0], 10, allowed)
    assert sorted(found) == sorted(ids[[5, 7]])
    assert len(store.search(vectors[0], 10, np.empty(0, np.int64))[0]) == 0
    assert len(store.search(vectors[0], 10, IdFilter.from_ids(np.array([2, 4])))[0]) == 0


def test_restrict_counts_the_filtered_ids_that_have_a_vector(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids[:100], vectors[:100])
    allowed = np.array([ids[0], ids[1], ids[200], 10**6])
    for given in (allowed, IdFilter.from_ids(allowed)):
        restricted = store.restrict(given)
        assert restricted.count == 2
        assert list(restricted.ids()) == [ids[0], ids[1]]


def test_paging_continues_the_ranking(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = exact_store(tmp_path, ids, vectors)
    query = vectors[10]
    whole, _ = store.search(query, 30)
    pages = [store.search(query, 10, offset=offset)[0] for offset in (0, 10, 20)]
    assert list(np.concatenate(pages)) == list(whole)


@pytest.mark.parametrize("layout", ["one list", "lists"])
def test_upsert_and_remove(tmp_path: Path, data, layout: str) -> None:
    ids, vectors = data
    store = (filled(tmp_path, ids, vectors) if layout == "one list"
             else exact_store(tmp_path, ids, vectors))
    query = vectors[0]
    best = store.search(query, 1)[0][0]
    assert best == ids[0]
    # replace id 0's vector with a far one: it must stop coming first
    store.add(ids[:1], -vectors[:1])
    assert store.count() == len(ids)
    assert store.search(query, 1)[0][0] != ids[0]
    np.testing.assert_allclose(store.get(ids[:1])[1][0], -vectors[0], atol=1e-3)
    assert store.remove(ids[1:3]) == 2
    assert store.remove(np.array([ids[1], 10**7])) == 0
    assert store.count() == len(ids) - 2
    found, _ = store.search(vectors[1], 50)
    assert ids[1] not in found and ids[2] not in found
    got_ids, got = store.get(ids[:4])
    assert list(got_ids) == [ids[0], ids[3]] and got.shape == (2, DIM)
    # a batch naming one id twice keeps the last vector
    store.add(np.array([ids[5], ids[5]]), np.stack([vectors[6], vectors[7]]))
    np.testing.assert_allclose(store.get(ids[5:6])[1][0], vectors[7], atol=1e-3)
    assert store.count() == len(ids) - 2
    assert list(store.present(ids[:4])) == [True, False, False, True]
    churned = vectors.copy()
    churned[0] = -vectors[0]
    churned[5] = vectors[7]
    rest = np.setdiff1d(ids, ids[1:3])
    for query in clustered(5, seed=9):
        expect = brute_force(ids, churned, query, 10, rest)
        assert list(store.search(query, 10)[0]) == list(expect)


def test_get_returns_the_stored_values_in_the_order_asked(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    wanted = ids[[4000, 7, 2500, 7]]
    got_ids, got = store.get(np.concatenate([wanted, [10**8]]))
    assert list(got_ids) == list(wanted)
    np.testing.assert_array_equal(got, stored(vectors)[[4000, 7, 2500, 7]])


def test_growing_store_is_trained_again(tmp_path: Path) -> None:
    vectors = clustered(9000, seed=11)
    ids = np.arange(len(vectors), dtype=np.int64)
    store = EmbeddedVectorStore(tmp_path, DIM, MODEL, train_at=500)
    store.add(ids[:400], vectors[:400])
    assert store.lists() == 1
    store.add(ids[400:600], vectors[400:600])
    first = store.lists()
    assert first > 1  # trained at 600 vectors
    store.add(ids[600:2000], vectors[600:2000])
    assert store.lists() == first  # 2,000 < 4 x 600: same centres
    store.add(ids[2000:], vectors[2000:])
    assert store.lists() == lists_for(9000) > first
    np.testing.assert_array_equal(store.get(ids)[1], stored(vectors))
    store.probes = store.lists()
    query = vectors[3]
    assert list(store.search(query, 10)[0]) == list(brute_force(ids, vectors, query, 10))


def test_persistence_across_reopen(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    store.remove(ids[:10])
    store.save()
    query = vectors[100]
    expect = store.search(query, 10)
    reopened = EmbeddedVectorStore(tmp_path, DIM, MODEL, train_at=TRAIN_AT)
    assert reopened.count() == len(ids) - 10
    assert reopened.lists() == store.lists()
    assert reopened.probe_table() == store.probe_table()
    found, scores = reopened.search(query, 10)
    assert list(found) == list(expect[0])
    np.testing.assert_allclose(scores, expect[1])
    assert not reopened.present(ids[:10]).any() and reopened.present(ids[10:]).all()
    # a second save replaces the first generation's files
    reopened.add(ids[:10], vectors[:10])
    reopened.save()
    names = sorted(p.name for p in reopened.path.iterdir())
    assert names == ["index-2.faiss", "manifest.json"]
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == len(ids)


def test_vectors_are_kept_as_float16(tmp_path: Path, data) -> None:
    """Two bytes a dimension and an id: a million 512-d vectors in about 1 GiB."""
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    store.save()
    size = (store.path / "index-1.faiss").stat().st_size
    per_vector = 2 * DIM + 8
    assert len(ids) * per_vector <= size <= len(ids) * per_vector * 1.02 + 4 * DIM * 256 + 4096


def test_packing_the_lists_changes_no_answer(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT)
    before = [store.search(q, 20)[0] for q in clustered(5, seed=8)]
    store._pack_lists()
    after = [store.search(q, 20)[0] for q in clustered(5, seed=8)]
    assert all(list(a) == list(b) for a, b in zip(before, after, strict=True))
    store.add(ids[:5], vectors[5:10])  # the packed lists still grow
    np.testing.assert_allclose(store.get(ids[:5])[1], stored(vectors[5:10]))


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
        Path(path).write_bytes(b"IwSq" + b"\0" * 100)
        raise MemoryError("killed mid-write")

    monkeypatch.setattr(embedded.faiss, "write_index", half_write)
    with pytest.raises(MemoryError):
        store.save()
    monkeypatch.undo()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 500
    assert not list(store.path.glob("*.tmp"))  # the half-written file was cleaned up


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


def test_a_newer_format_is_a_clear_error(tmp_path: Path, data) -> None:
    ids, vectors = data
    store = filled(tmp_path, ids[:10], vectors[:10])
    store.save()
    manifest = json.loads((store.path / "manifest.json").read_text())
    (store.path / "manifest.json").write_text(json.dumps({**manifest, "format": 3}))
    with pytest.raises(VectorStoreError, match="format 3, this version reads 1 and 2"):
        EmbeddedVectorStore(tmp_path, DIM, MODEL)


def test_empty_store(tmp_path: Path) -> None:
    store = EmbeddedVectorStore(tmp_path, DIM, MODEL)
    assert store.count() == 0
    assert len(store.search(np.ones(DIM, np.float32), 10)[0]) == 0
    assert len(store.get(np.array([1, 2]))[0]) == 0
    store.save()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 0


@pytest.mark.parametrize("layout", ["one list", "lists"])
def test_similar_pairs_are_the_close_neighbours(tmp_path: Path, layout: str) -> None:
    """For ``pximse dupes``: pairs at or above a similarity among each vector's
    nearest, removed vectors left out; with lists, (nearly) what exact finds."""
    rng = np.random.default_rng(3)
    base = clustered(2400, seed=3)
    near = base[:60] + rng.normal(0, 0.01, (60, DIM)).astype(np.float32)  # re-uploads
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    vectors = np.concatenate([base, near])
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    store = filled(tmp_path, ids, vectors, train_at=TRAIN_AT if layout == "lists" else 10**9)
    assert (store.lists() > 1) == (layout == "lists")
    store.remove(ids[:5])
    seen: list[tuple[int, int]] = []
    pairs, scores = store.similar_pairs(0.97, k=4, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(ids) - 5, len(ids) - 5)
    alive = ids >= 6
    kept = stored(vectors[alive])
    similarity = kept @ kept.T
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
    if layout == "one list":
        assert found == expected
    else:
        assert len(found & expected) >= 0.95 * len(expected)


# -- format 1: a faiss HNSW graph over float32 vectors, as earlier versions saved it ------


def write_format_1(folder: Path, ids: np.ndarray, vectors: np.ndarray,
                   dead: np.ndarray) -> Path:
    """A store as format 1 wrote it: ``index-1.faiss`` (HNSW, M=32, inner product),
    ``ids-1.npy`` (the content id of each graph row, -1 for a removed one) and its
    manifest."""
    path = embedded.store_folder(folder, MODEL)
    path.mkdir(parents=True)
    index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    faiss.write_index(index, str(path / "index-1.faiss"))
    row_ids = ids.copy()
    row_ids[np.isin(ids, dead)] = -1
    with open(path / "ids-1.npy", "wb") as handle:
        np.save(handle, row_ids)
    (path / "manifest.json").write_text(json.dumps({
        "format": 1, "model_id": MODEL, "dimensions": DIM, "generation": 1,
        "index": "index-1.faiss", "ids": "ids-1.npy", "connectivity": 32,
        "expansion_add": 64}))
    return path


@pytest.mark.parametrize("size", [500, 6000], ids=["one list", "lists"])
def test_a_format_1_store_is_converted_on_open(tmp_path: Path, size: int) -> None:
    vectors = clustered(size, seed=12)
    ids = np.arange(size, dtype=np.int64) * 2 + 1
    dead = ids[:7]
    path = write_format_1(tmp_path, ids, vectors, dead)
    store = EmbeddedVectorStore(tmp_path, DIM, MODEL, train_at=TRAIN_AT)
    assert store.count() == size - 7
    assert (store.lists() > 1) == (size >= TRAIN_AT)
    got_ids, got = store.get(ids)
    assert list(got_ids) == list(ids[7:])
    np.testing.assert_array_equal(got, stored(vectors[7:]))
    store.probes = store.lists()
    for query in clustered(5, seed=13):
        assert list(store.search(query, 10)[0]) == list(
            brute_force(ids, vectors, query, 10, ids[7:]))
    # saved in the new format at once; the old files are gone
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == embedded.FORMAT and manifest["generation"] == 2
    assert sorted(p.name for p in path.iterdir()) == ["index-2.faiss", "manifest.json"]
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == size - 7


def test_a_format_1_store_that_cannot_be_rewritten_still_opens(tmp_path: Path,
                                                               monkeypatch) -> None:
    """A crash or a read-only folder during the conversion leaves the format-1
    files as they were; the store works from memory and converts again next time."""
    vectors = clustered(300, seed=14)
    ids = np.arange(300, dtype=np.int64)
    path = write_format_1(tmp_path, ids, vectors, np.empty(0, np.int64))
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def crash(folder: Path, manifest: dict[str, object]) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(embedded, "_commit_manifest", crash)
    store = EmbeddedVectorStore(tmp_path, DIM, MODEL)
    assert store.count() == 300
    assert list(store.search(vectors[4], 3)[0])[0] == 4
    after = {p.name: p.read_bytes() for p in path.iterdir() if p.name in before}
    assert after == before
    monkeypatch.undo()
    assert EmbeddedVectorStore(tmp_path, DIM, MODEL).count() == 300
    assert json.loads((path / "manifest.json").read_text())["format"] == embedded.FORMAT
