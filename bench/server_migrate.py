"""``pximse migrate`` of a 100k-image catalogue to MongoDB and Milvus and back.

Target (issue 7): a 100k-image catalogue migrated to milvus-lite + mongomock
and back keeps everything (checksums equal).

The catalogue is ``make_catalog``'s synthetic library (~30 tags an image,
Pixiv and booru source tags, offline and gone images), with a CLIP-like
vector per image (``--dims``, unit length) in the embedded vector store. The
run copies SQLite -> MongoDB (mongomock, in this process) and embedded
vectors -> milvus-lite, then MongoDB -> a new SQLite file and milvus-lite ->
a new embedded store, through the same functions ``pximse migrate`` calls,
and compares every kind's count and SHA-256 across all four.

Baseline, in the same run: SQLite's own backup API copying the catalogue
file (the cheapest copy there is); the ratio says what the record-by-record,
checked copy costs on top. mongomock is an in-process Python imitation of
MongoDB, far slower than a server (and run without indexes, which it would
check by scanning on every insert), so the times are an upper bound.

    .venv/bin/python bench/server_migrate.py [--images 100000] [--dims 64]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import mongomock
import numpy as np
from _common import emit_result, progress, verdict
from make_catalog import ensure_catalog

from pximse.store.migration.copy import copy_catalogue, copy_vectors, verify
from pximse.store.migration.sqlite_side import SqliteSide
from pximse.store.mongo.database import MongoDatabase
from pximse.store.mongo.migration_side import MongoSide
from pximse.store.sqlite.catalog import SqliteCatalog
from pximse.store.vectors.embedded import EmbeddedVectorStore
from pximse.store.vectors.milvus import MilvusVectorStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--batch", type=int, default=20_000,
                        help="records per batch (mongomock scans a collection per read, "
                             "so fewer, larger batches)")
    args = parser.parse_args()

    source_path, _ = ensure_catalog(images=args.images)
    work = Path(tempfile.mkdtemp(prefix="pximse-migrate-bench-"))
    try:
        started = time.perf_counter()
        with sqlite3.connect(source_path) as src, sqlite3.connect(work / "backup.sqlite3") as dst:
            src.backup(dst)
        baseline = time.perf_counter() - started
        progress(f"baseline: SQLite backup of {source_path.name} in {baseline:.1f}s")

        shutil.copy(source_path, work / "source.sqlite3")
        source = SqliteCatalog(work / "source.sqlite3", memory_index=False)
        ids = np.array([cid for cid, in source.db.reader().execute("SELECT id FROM content")],
                       dtype=np.int64)
        rng = np.random.default_rng(1)
        vectors = rng.normal(size=(len(ids), args.dims)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        embedded = EmbeddedVectorStore(work / "vectors", args.dims, "clip:bench")
        embedded.add(ids, vectors)
        embedded.save()

        # mongomock scans a whole collection per index on every insert: no indexes
        # here (a copy does not need them; a real server keeps them).
        mongo = MongoDatabase(mongomock.MongoClient(), "bench", create_indexes=False)
        timings: dict[str, float] = {}

        def timed(name: str, run):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            result = run()
            timings[name] = time.perf_counter() - began
            progress(f"{name}: {timings[name]:.1f}s")
            return result

        there = timed("sqlite->mongodb", lambda: copy_catalogue(
            SqliteSide(source), MongoSide(mongo), batch=args.batch))
        milvus = MilvusVectorStore(str(work / "milvus.db"), args.dims, "clip:bench")
        vectors_there = timed("embedded->milvus", lambda: copy_vectors(embedded, milvus, ids))
        back = SqliteCatalog(work / "back.sqlite3", memory_index=False)
        back_again = timed("mongodb->sqlite", lambda: copy_catalogue(
            MongoSide(mongo), SqliteSide(back), batch=args.batch))
        embedded_back = EmbeddedVectorStore(work / "vectors-back", args.dims, "clip:bench")
        vectors_back = timed("milvus->embedded", lambda: copy_vectors(
            milvus, embedded_back, milvus.all_ids()))
        ends = timed("verify sqlite==sqlite", lambda: verify(
            SqliteSide(source), SqliteSide(back), batch=args.batch))
        reports = [*there, vectors_there, *back_again, vectors_back, *ends]
        equal = all(report.ok for report in reports)
        content = next(r for r in there if r.kind == "content")
        total = sum(timings[k] for k in ("sqlite->mongodb", "embedded->milvus",
                                         "mongodb->sqlite", "milvus->embedded"))
        line = verdict(
            "migrate 100k there and back", equal and content.source.count >= args.images * 0.95,
            f"{content.source.count} images, {vectors_there.source.count} vectors: all kinds "
            f"{'equal' if equal else 'DIFFERENT'} (counts and SHA-256); round trip "
            f"{total:.0f}s = {total / baseline:.0f}x a SQLite backup ({baseline:.1f}s)")
        for report in reports:
            if not report.ok:
                print("DIFFERENT:", report.to_json())
        emit_result({"name": "server_migrate", "ok": equal, "verdict": line,
                     "images": content.source.count, "timings_s": timings,
                     "baseline_s": baseline, "ratio": total / baseline})
        source.close()
        back.close()
        return 0 if equal else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
