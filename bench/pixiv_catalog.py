"""What Pixiv metadata costs the catalogue.

1. Indexing: scan batches of Pixiv file names with the Pixiv copy on every
   refresh (works, names seen per user id, filled-in names) against the same
   batches with it switched off, in the same run: the ratio is the overhead.
2. Storing answers: works recorded per second (a fetch asks Pixiv for at most
   one work every ``request_interval_s``, 2 s by default).
3. The full user-name pass (``pximse pixiv update``) over the whole catalogue.
4. Queries on the new fields through the in-memory index.

    .venv/bin/python bench/pixiv_catalog.py [--images 50000] [--works 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

from _common import emit_result, median, progress, verdict

from pximse.query.parse import parse_query
from pximse.store.records import PixivTag, PixivWork
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

SECOND = 1_000_000_000


def names(count: int, rng: random.Random) -> list[str]:
    """Pixiv file names as downloaders write them: a third in an artist folder,
    a third with the user id only, a third with the illust id only."""
    out = []
    for i in range(count):
        user = rng.randrange(1, max(2, count // 40))
        illust = 50_000_000 + i // 2
        kind = i % 3
        if kind == 0:
            out.append(f"pixiv/artist{user}_{user}/{user}_{illust}_p{i % 2}.png")
        elif kind == 1:
            out.append(f"pixiv/{user}_{illust}_p{i % 2}.png")
        else:
            out.append(f"pixiv/{illust}_p{i % 2}.png")
    return out


def ingest(path: Path, files: list[str], *, overlay: bool) -> float:
    catalog = SqliteCatalog(path)
    if not overlay:
        catalog.apply_pixiv = lambda *args, **kwargs: None  # type: ignore[method-assign]
    root = catalog.ensure_root("lib", "/lib")
    started = time.perf_counter()
    for start in range(0, len(files), 512):
        part = files[start:start + 512]
        shas = [hashlib.sha256(name.encode()).hexdigest() for name in part]
        catalog.apply_scan_batch(ScanBatch(
            root,
            new_content=[NewContent(s, 1000, "png", 100, 100, 1, False, None, False,
                                    (1_500_000_000 + n) * SECOND) for n, s in enumerate(shas)],
            files=[FileRecord(f"/lib/{name}", 1000, 1_500_000_000 * SECOND, "ok", s)
                   for name, s in zip(part, shas, strict=True)]))
    elapsed = time.perf_counter() - started
    catalog.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--works", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    files = names(args.images, rng)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        with_overlay, without = [], []
        for round_no in range(args.rounds):
            progress(f"ingest round {round_no + 1}/{args.rounds}")
            without.append(ingest(base / f"plain{round_no}.sqlite3", files, overlay=False))
            with_overlay.append(ingest(base / f"pixiv{round_no}.sqlite3", files, overlay=True))
        ratio = median(with_overlay) / median(without)

        catalog = SqliteCatalog(base / "pixiv0.sqlite3")
        progress(f"recording {args.works} works")
        started = time.perf_counter()
        for k in range(args.works):
            illust = str(50_000_000 + k)
            catalog.record_pixiv_work(PixivWork(
                illust, "ok" if k % 13 else "deleted", "app", 1_700_000_000 + k,
                title=f"title {k}", views=k * 10, bookmarks=k * 5, comments=k % 7,
                user_id=str(k % 97 + 1), user_name=f"renamed{k % 97}", ai=k % 5 == 0,
                r18=k % 9 == 0, pages=2, tags=[PixivTag("オリジナル", "original"),
                                              PixivTag(f"tag{k % 50}")]))
        per_work_ms = (time.perf_counter() - started) / args.works * 1000

        progress("full user-name pass")
        started = time.perf_counter()
        catalog.update_user_names()
        names_pass_s = time.perf_counter() - started

        latencies = {}
        for text in ("bookmarks:>1000", "title:99", "pixiv:deleted order:-views",
                     "ai:true r18:false src:original"):
            query = parse_query(text)
            catalog.search(query, limit=50)  # warm the columns
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                catalog.search(query, limit=50)
                runs.append((time.perf_counter() - started) * 1000)
            latencies[text] = round(median(runs), 2)
        catalog.close()

    print(f"ingest {args.images} Pixiv files: {median(without):.2f} s without the Pixiv copy, "
          f"{median(with_overlay):.2f} s with it (x{ratio:.2f})")
    print(f"recording a work: {per_work_ms:.2f} ms (a fetch asks for one every 2 s or more)")
    print(f"full user-name pass over {args.images} images: {names_pass_s:.2f} s")
    for text, ms in latencies.items():
        print(f"query {text!r}: {ms} ms")
    ok = ratio < 1.6 and per_work_ms < 200
    line = verdict("pixiv catalogue", ok,
                   f"ingest x{ratio:.2f} (target < 1.6), {per_work_ms:.1f} ms per work stored")
    emit_result({"name": "pixiv", "ok": ok, "line": line, "ingest_ratio": round(ratio, 3),
                 "per_work_ms": round(per_work_ms, 2), "names_pass_s": round(names_pass_s, 2),
                 "query_ms": latencies})


if __name__ == "__main__":
    main()
