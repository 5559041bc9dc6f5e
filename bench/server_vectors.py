"""The Milvus backend on a real Milvus server: migration, and filtered CLIP search.

The server is the ``milvus`` package's Milvus 2.3.5 standalone server, started
as the test suite starts it (tests/helpers/milvus_server.py: its own venv under
``build/``, a free port, a temporary base directory).

1. ``pximse migrate``'s vector copy (``copy_vectors``, the function the command
   calls) of the 100k-image synthetic catalogue's CLIP vectors (``--dims``,
   512 like ViT-B/32) from the embedded store to the server, checked by
   SHA-256 on both sides. Baseline in the same run: the same copy into a new
   embedded store.
2. Filtered CLIP top-100 among ``--n`` vectors (200k) with filters that keep
   1%, 10%, 30% and 100% of the images: p50 latency and recall@100 against the
   exact filtered top-100 (numpy), on the Milvus server (the filter as a Milvus
   expression on the columns beside the vectors, as the MongoDB catalogue sends
   a column filter, and as allowed ids, as it sends any other filter) and on the
   embedded store (allowed ids), in the same run.

    .venv/bin/python bench/server_vectors.py [--n 200000] [--dims 512] [--queries 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO_DIR, emit_result, fmt_ms, median, progress, verdict

from pximse.store.migration.copy import copy_vectors
from pximse.store.vectors.embedded import EmbeddedVectorStore
from pximse.store.vectors.milvus import MilvusVectorStore

sys.path.insert(0, str(REPO_DIR / "tests"))
from helpers.milvus_server import shared_server  # noqa: E402
from vector_search import make_vectors  # noqa: E402

K = 100
SHARES = (0.01, 0.10, 0.30, 1.0)


def clustered(n: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CLIP-like unit vectors and 200 queries, as ``vector_search.py`` makes them
    (clusters of uneven popularity around a common direction)."""
    data, queries = make_vectors(n, dims, clusters=max(50, n // 300), seed=seed)
    return data.astype(np.float32), queries.astype(np.float32)


def wait_indexed(store: MilvusVectorStore, rows: int, timeout_s: float = 900) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        info = store.client.describe_index(store.collection, "vector")
        if int(info.get("indexed_rows", 0)) >= rows and not int(
                info.get("pending_index_rows", 0)):
            break
        time.sleep(2)
    return time.perf_counter() - began


def migrate(work: Path, uri: str, dims: int) -> dict[str, object]:
    from make_catalog import ensure_catalog

    from pximse.store.sqlite.catalog import SqliteCatalog

    path, _ = ensure_catalog(images=100_000)
    catalog = SqliteCatalog(path, memory_index=False)
    ids = np.array([cid for cid, in catalog.db.reader().execute("SELECT id FROM content")],
                   dtype=np.int64)
    catalog.close()
    embedded = EmbeddedVectorStore(work / "vectors", dims, "clip:bench-migrate")
    embedded.add(ids, clustered(len(ids), dims, 3)[0])
    embedded.save()
    began = time.perf_counter()
    baseline = copy_vectors(embedded, EmbeddedVectorStore(work / "copy", dims, "clip:copy"), ids)
    baseline_s = time.perf_counter() - began
    progress(f"baseline: {len(ids)} vectors into a new embedded store in {baseline_s:.1f}s")
    server = MilvusVectorStore(uri, dims, f"clip:bench-migrate-{os.getpid()}")
    began = time.perf_counter()
    report = copy_vectors(embedded, server, ids)
    copy_s = time.perf_counter() - began
    progress(f"embedded -> Milvus {server.features.version}: {copy_s:.1f}s, "
             f"equal={report.ok}")
    server.drop()
    return {"vectors": len(ids), "ok": report.ok and baseline.ok, "copy_s": copy_s,
            "baseline_s": baseline_s, "ratio": copy_s / baseline_s}


def search(work: Path, uri: str, n: int, dims: int, queries: int) -> dict[str, object]:
    ids = np.arange(1, n + 1, dtype=np.int64) * 2
    vectors, queries_all = clustered(n, dims, 1)
    rng = np.random.default_rng(2)
    rank = rng.permutation(n)  # a column beside each vector: share s keeps rank < s * n
    scalars = {int(i): {"state": 1, "filesize": int(r)} for i, r in zip(ids, rank, strict=True)}
    probe = queries_all[:queries]

    embedded = EmbeddedVectorStore(work / "search", dims, "clip:bench-search")
    embedded.add(ids, vectors)
    embedded.save()
    server = MilvusVectorStore(uri, dims, f"clip:bench-search-{os.getpid()}")
    began = time.perf_counter()
    for start in range(0, n, 20_000):
        chunk = ids[start:start + 20_000]
        server.add(chunk, vectors[start:start + 20_000], {int(i): scalars[int(i)] for i in chunk})
    server.save()
    load_s = time.perf_counter() - began
    index_s = wait_indexed(server, n)
    progress(f"Milvus: {n} vectors inserted in {load_s:.0f}s, indexed {index_s:.0f}s later")

    results: dict[str, object] = {}
    for share in SHARES:
        keep = rank < share * n
        allowed = np.sort(ids[keep])
        expr = ("state in [0, 1]" if share == 1.0
                else f"state in [0, 1] and filesize < {int(share * n)}")
        row: dict[str, object] = {}
        for name, run in (
                ("milvus_expr", lambda q, e=expr: server.search(q, K, expr=e)),
                ("milvus_ids", lambda q, a=allowed: server.search(q, K, allowed=a)),
                ("embedded", lambda q, a=allowed: embedded.search(q, K, allowed=a))):
            if name == "milvus_ids" and share > 0.3:
                continue  # 200k ids in one expression: the catalogue sends MatchAll instead
            times, recalls = [], []
            for query in probe:
                began = time.perf_counter()
                found, _ = run(query)
                times.append(time.perf_counter() - began)
                scores = vectors[keep] @ query
                exact = set(ids[keep][np.argsort(-scores)[:K]].tolist())
                recalls.append(len(exact & set(found.tolist())) / K)
            row[name] = {"p50_ms": median(times) * 1000, "recall": float(np.mean(recalls))}
            progress(f"{share:.0%} {name}: p50 {fmt_ms(median(times))}, "
                     f"recall@100 {np.mean(recalls):.3f}")
        results[f"{share:.0%}"] = row
    server.drop()
    return {"n": n, "dims": dims, "insert_s": load_s, "index_s": index_s, "filters": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--skip-migrate", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pximse-milvus-bench-"))
    try:
        uri = shared_server(work / "server", os.getpid())
        progress(f"Milvus server at {uri}")
        moved = None if args.skip_migrate else migrate(work, uri, args.dims)
        found = search(work, uri, args.n, args.dims, args.queries)
        ok = (moved is None or bool(moved["ok"])) and all(
            row["milvus_expr"]["recall"] >= 0.9  # type: ignore[index]
            for row in found["filters"].values())  # type: ignore[attr-defined]
        detail = "" if moved is None else (
            f"migrate {moved['vectors']} vectors {moved['copy_s']:.0f}s "
            f"({moved['ratio']:.1f}x the embedded copy {moved['baseline_s']:.0f}s); ")
        verdict("Milvus 2.3 server", ok, detail + "; ".join(
            f"{share}: Milvus {row['milvus_expr']['p50_ms']:.0f} ms recall "
            f"{row['milvus_expr']['recall']:.2f} / embedded {row['embedded']['p50_ms']:.0f} ms "
            f"recall {row['embedded']['recall']:.2f}"
            for share, row in found["filters"].items()))  # type: ignore[attr-defined]
        emit_result({"name": "server_vectors", "ok": ok, "migrate": moved, "search": found})
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
