"""The Milvus vector store, for real: every case runs on milvus-lite and on a
Milvus server -- the ``milvus`` package's Milvus 2.3 standalone server, which
the run starts itself (``milvus_server_uri`` in conftest.py), or the server
``PXIMSE_TEST_MILVUS_URI`` names (``http://127.0.0.1:19530``; with
``PXIMSE_TEST_MILVUS_TOKEN`` for ``user:password``). The column filters also
run on milvus-lite with the ``has_`` flags that servers before 2.5 need, so
both collection layouts are held to the catalogue whatever server is at hand.

What users rely on, checked against exact inner products computed here: a
search ranks the stored vectors as the exact product does (recall), a filter
(allowed ids, or an expression on the columns kept beside the vectors) keeps
only matching images and still fills the page, pages line up, and pages past
Milvus' 16,384-hit limit work. The expression compiler is held to the
catalogue: for generated filters it can express, Milvus selects exactly the
ids the MongoDB catalogue (itself held to SQLite) selects.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.mongo_pair import close_pair, open_pair
from helpers.query_library import THRESHOLD
from helpers.query_strategies import Queries
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pximse.query.ast import And, Compare, MatchAll, Not, Or, Query, Tag
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.vectors import VectorStoreError
from pximse.store.vectors.milvus import MAX_TOPK, MilvusVectorStore
from pximse.store.vectors.milvus_features import features_of, parse_version
from pximse.store.vectors.milvus_filter import milvus_filter

pytestmark = pytest.mark.slow  # every test here takes seconds

pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install "
                    "'pximse[server]'); it runs the Milvus store's tests")

SERVER_TOKEN = os.environ.get("PXIMSE_TEST_MILVUS_TOKEN", "")
DIM = 24
KINDS = ["lite", "server"]
FLAGS = features_of("v2.4.9")
"""A server without nullable fields: its collections carry has_ flags."""


def open_store(request: pytest.FixtureRequest, kind: str, folder: Path, model_id: str,
               dim: int = DIM) -> MilvusVectorStore:
    """A store on milvus-lite (``lite``, ``lite-flags``: with the layout of servers
    before 2.5) or on the run's Milvus server, under a collection no other test uses."""
    model_id = f"{model_id}:{uuid.uuid4().hex[:8]}"
    if kind.startswith("lite"):
        return MilvusVectorStore(str(folder / "milvus.db"), dim, model_id,
                                 features=FLAGS if kind == "lite-flags" else None)
    uri = request.getfixturevalue("milvus_server_uri")
    return MilvusVectorStore(uri, dim, model_id, token=SERVER_TOKEN)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors in a few clusters, as CLIP embeddings of a collection are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, dim))
    vectors = centres[rng.integers(0, 12, n)] + 0.6 * rng.normal(size=(n, dim))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int,
          allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    mask = np.ones(len(ids), bool) if allowed is None else np.isin(ids, allowed)
    scores = vectors[mask] @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[mask][order], scores[order]


@pytest.fixture(scope="module", params=KINDS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[MilvusVectorStore, np.ndarray, np.ndarray]]:
    store = open_store(request, request.param, tmp_path_factory.mktemp("milvus"), "test")
    ids = np.arange(1, 4001, dtype=np.int64) * 3  # sparse ids, as content ids are
    vectors = clustered(len(ids), DIM, 1)
    store.add(ids, vectors)
    store.save()
    yield store, ids, vectors
    store.drop()


def test_round_trip(loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    store, ids, vectors = loaded
    assert store.count() == len(ids)
    asked = np.array([ids[5], 7, ids[0], ids[-1]], np.int64)
    found, got = store.get(asked)
    assert found.tolist() == [ids[5], ids[0], ids[-1]]
    np.testing.assert_allclose(got, vectors[[5, 0, -1]], atol=1e-6)
    assert store.present(asked).tolist() == [True, False, True, True]


@pytest.mark.parametrize("kind", KINDS)
def test_add_replace_remove(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> None:
    store = open_store(request, kind, tmp_path, "replace")
    vectors = clustered(10, DIM, 2)
    store.add(np.arange(10), vectors * 3)  # stored normalised
    found, got = store.get(np.array([4]))
    np.testing.assert_allclose(got[0], vectors[4], atol=1e-6)
    store.add(np.array([4]), vectors[5:6])
    assert store.count() == 10
    np.testing.assert_allclose(store.get(np.array([4]))[1][0], vectors[5], atol=1e-6)
    assert store.remove(np.array([1, 2, 99])) == 2
    assert store.count() == 8 and not store.present(np.array([1])).any()
    with pytest.raises(VectorStoreError, match="24 dimensions"):
        store.add(np.array([1]), np.ones((1, 5), np.float32))
    with pytest.raises(VectorStoreError, match="24-d"):
        MilvusVectorStore(str(tmp_path / "milvus.db"), 8, store.model_id, client=store.client)
    store.drop()


def test_search_ranks_as_the_exact_product(
        loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    store, ids, vectors = loaded
    recalls = []
    for n in range(10):
        query = vectors[n * 37]
        found, scores = store.search(query, 50)
        want, want_scores = exact(vectors, ids, query, 50)
        assert len(found) == 50 and found[0] == ids[n * 37]
        assert np.all(np.diff(scores) <= 1e-6)
        by_id = dict(zip(ids.tolist(), (vectors @ query).tolist(), strict=True))
        np.testing.assert_allclose(scores, [by_id[i] for i in found.tolist()], atol=1e-4)
        recalls.append(len(set(found.tolist()) & set(want.tolist())) / 50)
    assert np.mean(recalls) >= 0.95, recalls


@pytest.mark.parametrize("share", [0.005, 0.05, 0.5])
def test_allowed_ids_filter_inside_the_search(
        share: float, loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    store, ids, vectors = loaded
    rng = np.random.default_rng(int(share * 1000))
    allowed = np.sort(rng.choice(ids, int(len(ids) * share), replace=False))
    for n in range(5):
        query = vectors[n * 101]
        found, scores = store.search(query, 40, allowed=allowed)
        want, _ = exact(vectors, ids, query, 40, allowed)
        assert len(found) == min(40, len(allowed))  # a full page, never a starved one
        assert set(found.tolist()) <= set(allowed.tolist())
        assert len(set(found.tolist()) & set(want.tolist())) >= 0.9 * len(want)
    assert len(store.search(vectors[0], 10, allowed=np.array([], np.int64))[0]) == 0


def test_pages_line_up(loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    store, ids, vectors = loaded
    query = vectors[11]
    whole, _ = store.search(query, 200)
    pages = [store.search(query, 50, offset=offset)[0] for offset in range(0, 200, 50)]
    joined = np.concatenate(pages)
    assert len(set(joined.tolist())) == 200
    assert len(set(joined.tolist()) & set(whole.tolist())) >= 190


def test_pages_past_the_topk_limit(
        loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    """Pages deeper than the server's hit limit (lowered to 300 here so that the
    page is deep in a small collection): milvus-lite answers them directly."""
    store, ids, vectors = loaded
    assert store.max_topk == MAX_TOPK == 16_384
    store.max_topk = 300
    try:
        query = vectors[0]
        want, want_scores = exact(vectors, ids, query, 2000)
        deep, deep_scores = store.search(query, 150, offset=1700)
        assert len(deep) == 150
        assert np.all(np.diff(deep_scores) <= 1e-6)
        np.testing.assert_allclose(deep_scores, want_scores[1700:1850], atol=2e-3)
        assert len(set(deep.tolist()) & set(want[1690:1860].tolist())) >= 0.9 * 150
    finally:
        store.max_topk = MAX_TOPK


class _RefusesDeepPages:
    """A Milvus client as a server with the default ``maxTopK`` answers: a search
    whose offset + limit passes the limit is refused (the error a server gives)."""

    def __init__(self, client: object, limit: int) -> None:
        self._client = client
        self._limit = limit
        self.refused = 0

    def search(self, *args: object, limit: int = 10, offset: int = 0, **kwargs: object
               ) -> object:
        if offset + limit > self._limit:
            from pymilvus import MilvusException

            self.refused += 1
            raise MilvusException(message=f"topk [{offset + limit}] is invalid, it should be"
                                          f" in range [1, {self._limit}], but got "
                                          f"{offset + limit}")
        return self._client.search(*args, limit=limit, offset=offset,  # type: ignore[attr-defined]
                                   **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def test_pages_past_a_refusing_servers_limit_walk_the_ranking(
        loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray]) -> None:
    """A server that refuses pages past its hit limit (16,384 by default; 300
    here): the page is walked with plain searches, and is the same page as far
    as an approximate search can tell (once milvus-lite searches its HNSW index,
    a hit an earlier step's graph search missed may turn up in it)."""
    store, ids, vectors = loaded
    real = store.client
    refusing = _RefusesDeepPages(real, 300)
    store.client, store.max_topk = refusing, 300
    try:
        query = vectors[3]
        want, want_scores = exact(vectors, ids, query, 2000)
        deep, deep_scores = store.search(query, 150, offset=1700)
        assert refusing.refused == 1  # the plain search was tried and refused
        assert len(deep) == 150 and len(set(deep.tolist())) == 150
        assert np.all(np.diff(deep_scores) <= 1e-6)
        assert len(set(deep.tolist()) & set(want[1650:1900].tolist())) >= 0.9 * 150
        assert np.median(np.abs(deep_scores - want_scores[1700:1850])) < 2e-3
        shallow, _ = store.search(query, 50, offset=100)  # under the limit: a plain search
        assert refusing.refused == 1 and len(shallow) == 50
    finally:
        store.client, store.max_topk = real, MAX_TOPK


# -- filters on the columns beside the vectors ----------------------------------------


@pytest.fixture(scope="module", params=["lite", "lite-flags", "server"])
def synced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[MongoCatalog, MilvusVectorStore]]:
    built = open_pair(tmp_path_factory.mktemp("pair"), "mongomock", 200, 5)
    catalog = built.mongo
    ids = catalog.filtered_ids(Query(MatchAll()))
    gone = np.array(sorted(catalog.content_ids(
        [d["sha256"] for d in catalog.mdb.content.find({"state": -1})]).values()))
    ids = np.union1d(ids, gone).astype(np.int64)
    store = open_store(request, request.param, tmp_path_factory.mktemp("synced"), "synced")
    store.add(ids, clustered(len(ids), DIM, 4))
    assert len(store.unsynced_ids()) == len(ids)
    assert catalog.sync_vector_scalars(store) == len(ids)
    yield catalog, store
    store.drop()
    close_pair(built)


class Expressible:
    def __init__(self, catalog: MongoCatalog) -> None:
        from helpers.query_reference import Item, Reference

        texts = {d["_id"]: d["text"] for d in catalog.mdb.ocr.find()}
        items = [Item(d["_id"], d["sha256"], d["state"], {**d},
                      list(zip(d["paths"], d["folders"], strict=True)),
                      names=list(d.get("names", [])), ocr=texts.get(d["_id"]))
                 for d in catalog.mdb.content.find()]
        self.strategy = Queries(Reference(items, THRESHOLD)).strategy.map(
            lambda q: q.where).filter(lambda node: milvus_filter(node) is not None)

    def __repr__(self) -> str:
        return "Expressible(...)"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_column_filters_select_what_the_catalogue_selects(
        data: st.DataObject, synced: tuple[MongoCatalog, MilvusVectorStore]) -> None:
    catalog, store = synced
    where = data.draw(_expressible(catalog), label="where")
    expr = store.filter_expression(where)
    assert expr is not None
    in_milvus = sorted(int(row["id"]) for row in store._query(expr, ["id"]))
    assert in_milvus == catalog.filtered_ids(Query(where)).tolist(), expr


_STRATEGIES: dict[int, Expressible] = {}


def _expressible(catalog: MongoCatalog) -> st.SearchStrategy[object]:
    key = id(catalog)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = Expressible(catalog)
    return _STRATEGIES[key].strategy


def test_hand_written_column_filters(synced: tuple[MongoCatalog, MilvusVectorStore]) -> None:
    catalog, store = synced
    cases = [
        Compare("width", ">=", 1000), Not(Compare("posted", "<", "2020-01-01")),
        Compare("page", "!=", 0), Or((Compare("format", "=", "jpg"), Compare("animated", "=",
                                                                             True))),
        And((Compare("source", "=", "Pixiv"), Not(Compare("textlen", ">", 3)))),
        Compare("ratio", ">", 1.5),
    ]
    for where in cases:
        expr = store.filter_expression(where)
        assert expr is not None, where
        want = catalog.filtered_ids(Query(where)).tolist()
        assert want, where
        assert sorted(int(r["id"]) for r in store._query(expr, ["id"])) == want, expr
    assert milvus_filter(And((Tag("cat"), Compare("width", ">", 1)))) is None


def test_vector_search_filters_inside_milvus(
        synced: tuple[MongoCatalog, MilvusVectorStore]) -> None:
    """A column filter runs as a Milvus expression; any other as allowed ids; both
    give the exact answer's page (the filtered sets here are small)."""
    from pximse.store.mongo.vectorsync import filtered_in_store

    catalog, store = synced
    catalog.sync_vector_scalars(store)
    assert filtered_in_store(catalog.mdb, store, Compare("width", ">=", 1000)) is not None
    assert filtered_in_store(catalog.mdb, store, Tag("cat")) is None  # allowed ids instead
    ids = catalog.filtered_ids(Query(MatchAll()))
    found, vectors = store.get(ids)
    query = vectors[3]
    for where in (Compare("width", ">=", 1000), Tag("cat"), MatchAll()):
        page, scores = catalog.search_near(Query(where), query, store, limit=20)
        allowed = catalog.filtered_ids(Query(where))
        want, want_scores = exact(vectors, found, query, 20, allowed)
        assert [catalog.content_id_for(item.id) for item in page.items] == want.tolist()
        np.testing.assert_allclose(scores, want_scores, atol=1e-4)
        assert page.total == len(allowed)
    # A write makes the copy stale: the next search takes the allowed ids until a sync.
    cid = int(ids[0])
    catalog.set_tags(cid, "manual", 2, {"fresh": 1.0})
    assert filtered_in_store(catalog.mdb, store, Compare("tagcount", ">", 0)) is None
    page, _ = catalog.search_near(Query(Compare("tagcount", ">", 0)), query, store, limit=500)
    assert catalog.content_id_for(page.items[0].id) is not None
    assert page.total == len(catalog.filtered_ids(Query(Compare("tagcount", ">", 0))))
    catalog.sync_vector_scalars(store)
    assert filtered_in_store(catalog.mdb, store, Compare("tagcount", ">", 0)) is not None
    again, _ = catalog.search_near(Query(Compare("tagcount", ">", 0)), query, store, limit=500)
    assert again.total == page.total


# -- what the server supports ----------------------------------------------------------


def test_server_versions_and_their_features() -> None:
    assert parse_version("v2.3.5-lite") == (2, 3, 5)
    assert parse_version("v2.6.0-rc1") == (2, 6, 0)
    assert parse_version("milvus_lite-3.2.2") is None
    old, mid, new = features_of("v2.3.5-lite"), features_of("v2.4.9"), features_of("v2.5.0")
    assert (old.nullable, old.inverted_index) == (False, False)
    assert old.scalar_index("int") == "STL_SORT" and old.scalar_index("str") == "Trie"
    assert (mid.nullable, mid.inverted_index) == (False, True)
    assert (new.nullable, new.scalar_index("str")) == (True, "INVERTED")
    assert features_of("milvus_lite-3.2.2").nullable
    assert features_of("unknown").nullable  # a server that will not say: the newest


def test_the_run_starts_a_real_server(milvus_server_uri: str, tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    """The server cases meet a real Milvus server, not milvus-lite; one before 2.5
    gets has_ flags for missing values, and missing values keep their meaning."""
    store = open_store(request, "server", tmp_path, "layout")
    try:
        version = store.client.get_server_version()
        assert not version.startswith("milvus_lite"), version
        fields = {f["name"] for f in store.client.describe_collection(store.collection)["fields"]}
        assert ("has_posted" in fields) == (not store.features.nullable)
        vectors = clustered(3, DIM, 9)
        store.add(np.array([1, 2, 3]), vectors,
                  {1: {"state": 1, "posted": 1_600_000_000}, 2: {"state": 1, "posted": None},
                   3: {"state": 1, "posted": 1_400_000_000}})
        ids = sorted(int(r["id"]) for r in store._query(
            store.filter_expression(Not(Compare("posted", "<", "2020-01-01"))), ["id"]))
        assert ids == [1, 2]  # no date: the comparison is false, its negation true
    finally:
        store.drop()


def test_a_collection_keeps_its_layout(tmp_path: Path) -> None:
    """A collection made with has_ flags (on a server before 2.5) keeps them when
    the server is upgraded to one with nullable fields."""
    made = MilvusVectorStore(str(tmp_path / "milvus.db"), DIM, "kept", features=FLAGS)
    assert made.presence_flags
    again = MilvusVectorStore(str(tmp_path / "milvus.db"), DIM, "kept", client=made.client)
    assert again.features.nullable and again.presence_flags
    assert "has_posted" in again.filter_expression(Compare("posted", ">", "2020-01-01"))


class _NoIterators:
    """A client whose server (or pymilvus) has no query iterators."""

    def __init__(self, client: object) -> None:
        self._client = client

    def query_iterator(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("query iterators are not supported")

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def test_every_row_is_read_without_iterators(
        loaded: tuple[MilvusVectorStore, np.ndarray, np.ndarray],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """More rows than one query answers (lowered to 1,000 here): read by id ranges."""
    import pximse.store.vectors.milvus as milvus_module

    store, ids, _ = loaded
    real = store.client
    monkeypatch.setattr(milvus_module, "MAX_TOPK", 1000)
    store.client = _NoIterators(real)
    try:
        assert store.all_ids().tolist() == sorted(ids.tolist())
    finally:
        store.client = real
