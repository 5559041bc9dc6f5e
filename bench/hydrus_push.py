"""Hydrus push: what a first push, a push with nothing changed and a push after a
1% change cost, in Client API requests and seconds, against the tests' fake
Hydrus (a real HTTP server on this machine; a real client is slower per
request, so requests are the figure that carries over).

The baseline, measured in the same run, is the first push: every image gets
its tags, as a script without a record of what it sent would do every time.

    .venv/bin/python bench/hydrus_push.py [--images 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_DIR, emit_result, progress, verdict

sys.path.insert(0, str(REPO_DIR / "tests"))

from hydrus_fake import FakeHydrus  # noqa: E402

from pximse.integrations.hydrus.client import HydrusClient  # noqa: E402
from pximse.integrations.hydrus.ledger import Ledger  # noqa: E402
from pximse.integrations.hydrus.payload import PayloadOptions  # noqa: E402
from pximse.integrations.hydrus.push import Pusher, all_images  # noqa: E402
from pximse.store.sqlite.catalog import (  # noqa: E402
    FileRecord,
    NewContent,
    ScanBatch,
    SqliteCatalog,
)

MODEL = "wd-vit-tagger-v3"
KEY = "ab" * 32


def build_catalog(folder: Path, images: int, seed: int = 1) -> tuple[SqliteCatalog, list[str]]:
    rng = random.Random(seed)
    vocabulary = [f"tag_{n}" for n in range(2000)] + ["^_^", "character:someone_else"]
    catalog = SqliteCatalog(folder / "catalog.sqlite3")
    root = catalog.ensure_root("library", str(folder / "library"))
    shas = [hashlib.sha256(f"image {n}".encode()).hexdigest() for n in range(images)]
    for start in range(0, images, 1000):
        batch = ScanBatch(root)
        for n in range(start, min(start + 1000, images)):
            batch.new_content.append(NewContent(shas[n], 1000, "png", 64, 48, 1, False, None,
                                                False, 0))
            name = f"{rng.randrange(10**6)}_{10**7 + n}_p0.png"  # a Pixiv name: two URLs
            batch.files.append(FileRecord(str(folder / "library" / name), 1000, 0, "ok",
                                          shas[n]))
        catalog.apply_scan_batch(batch)
    ids = catalog.content_ids(shas)
    catalog.set_model_tags_many(
        (ids[sha], MODEL, {**{tag: rng.uniform(0.35, 1.0)
                              for tag in rng.sample(vocabulary, 30)}, "rating:general": 0.9})
        for sha in shas)
    return catalog, shas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-hydrus-"))
    fake = FakeHydrus().start()
    try:
        fake.add_key(KEY)
        fake.add_tag_service("PxIMSE")
        progress(f"catalogue of {args.images} images, 30 tags each")
        catalog, shas = build_catalog(work, args.images)
        for sha in shas:
            fake.add_file(sha256=sha)
        client = HydrusClient(fake.url, KEY)
        ledger = Ledger(work / "hydrus.sqlite3")
        pusher = Pusher(catalog, client, ledger, client.tag_service("PxIMSE"), PayloadOptions())

        def timed(label: str) -> tuple[float, object]:
            started = time.perf_counter()
            report = pusher.push(all_images(catalog)[1])
            seconds = time.perf_counter() - started
            print(f"{label}: {report.updated} images updated, {report.requests} requests, "
                  f"{seconds:.2f} s")
            return seconds, report

        first_s, first = timed("first push (baseline: everything sent)")
        again_s, again = timed("nothing changed")
        ids = catalog.content_ids(shas[: args.images // 100])
        catalog.set_model_tags_many((cid, MODEL, {"tag_1": 0.9, "rating:general": 0.9})
                                    for cid in ids.values())
        changed_s, changed = timed("1% changed")
        ratio = first_s / again_s if again_s else float("inf")
        print(f"ratio: first push / unchanged push = {ratio:.1f}x")
        lines = [
            verdict("unchanged push sends nothing", again.requests == 0,  # type: ignore[attr-defined]
                    f"{again.requests} requests"),  # type: ignore[attr-defined]
            verdict("a 1% change sends about 1%",
                    changed.updated == len(ids)  # type: ignore[attr-defined]
                    and changed.requests <= len(ids) + -(-len(ids) // 256) + 2,  # type: ignore[attr-defined]
                    f"{changed.updated} updated in {changed.requests} requests"),  # type: ignore[attr-defined]
        ]
        ok = all(line.startswith("PASS") for line in lines)
        emit_result({
            "pass": ok, "images": args.images, "first_s": round(first_s, 2),
            "first_requests": first.requests,  # type: ignore[attr-defined]
            "unchanged_s": round(again_s, 3), "changed_s": round(changed_s, 3),
            "changed_requests": changed.requests,  # type: ignore[attr-defined]
            "ratio": round(ratio, 1), "verdicts": lines,
        })
        client.close()
        ledger.close()
        catalog.close()
        return 0 if ok else 1
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
