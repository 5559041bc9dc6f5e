"""Hydrus push: files per second and Client API requests for a first push, against
a baseline measured in the same run; then what a push with nothing changed and a
push after a 1% change cost.

The library is Pixiv-like: works of one to four pages (the pages of a work share
the work's and the artist's URL), each image with ~30 tagger tags drawn from a
vocabulary of 2,000, a rating, and OCR text on one image in ten.

* **Before** (the baseline): what a push did before the Client API's batching
  was used: one metadata lookup per 256 files, then for every file one
  ``add_tags``, one ``associate_url`` (and its note): the 1,051 requests a
  500-file push took.
* **After**: PxIMSE's push as it is: files with the same tag changes share an
  ``add_tags``, files with the same URLs (the pages of a work) an
  ``associate_url``; each batch of 256 is committed
  (``/manage_database/force_commit``) and read back before it is recorded.

Each goes to a tag service of its own. Against the tests' fake Hydrus (a real
HTTP server on this machine) by default; ``--url`` and ``--key`` (a key with
every permission, and two local tag services named ``--service`` and
``--service``-baseline) run it against a real client, into which the images are
imported first.

    .venv/bin/python bench/hydrus_push.py [--images 500]
    .venv/bin/python bench/hydrus_push.py --url http://127.0.0.1:45869 --key KEY
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
from io import BytesIO
from pathlib import Path

from _common import REPO_DIR, emit_result, machine_line, progress, verdict

sys.path.insert(0, str(REPO_DIR / "tests"))

from helpers.hydrus_fake import FakeHydrus  # noqa: E402

from pximse.integrations.hydrus.client import HydrusClient  # noqa: E402
from pximse.integrations.hydrus.ledger import Ledger  # noqa: E402
from pximse.integrations.hydrus.payload import (  # noqa: E402
    NOTE_NAME,
    PayloadOptions,
    read_payloads,
)
from pximse.integrations.hydrus.push import Pusher, PushReport, all_images  # noqa: E402
from pximse.store.sqlite.catalog import (  # noqa: E402
    FileRecord,
    NewContent,
    ScanBatch,
    SqliteCatalog,
)

MODEL = "wd-vit-tagger-v3"
KEY = "ab" * 32


def _png(index: int, salt: str) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("bench", f"{salt} {index}")  # new files for a real client each run
    image = Image.new("RGB", (4, 4), (index % 256, (index // 256) % 256, 90))
    buffer = BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def build_catalog(folder: Path, images: int, seed: int = 1
                  ) -> tuple[SqliteCatalog, list[str], list[bytes]]:
    """A catalogue of Pixiv works (1-4 pages), 30 tags an image, OCR on one in ten."""
    rng = random.Random(seed)
    salt = f"{time.time_ns()}"
    vocabulary = [f"tag_{n}" for n in range(2000)] + ["^_^", "character:someone_else"]
    catalog = SqliteCatalog(folder / "catalog.sqlite3")
    root = catalog.ensure_root("library", str(folder / "library"))
    blobs = [_png(n, salt) for n in range(images)]
    shas = [hashlib.sha256(blob).hexdigest() for blob in blobs]
    batch = ScanBatch(root)
    n, work = 0, 10**7
    while n < images:
        user, pages = rng.randrange(1, 60), rng.randint(1, 4)
        work += 1
        for page in range(min(pages, images - n)):
            batch.new_content.append(NewContent(shas[n], 1000, "png", 4, 4, 1, False, None,
                                                False, 0))
            batch.files.append(FileRecord(str(folder / "library" / f"{user}_{work}_p{page}.png"),
                                          1000, 0, "ok", shas[n]))
            n += 1
    catalog.apply_scan_batch(batch)
    ids = catalog.content_ids(shas)
    catalog.set_model_tags_many(
        (ids[sha], MODEL, {**{tag: rng.uniform(0.35, 1.0)
                              for tag in rng.sample(vocabulary, 30)}, "rating:general": 0.9})
        for sha in shas)
    for sha in shas[::10]:
        catalog.set_ocr(ids[sha], "rapidocr", [(f"text on image {sha[:6]}", None, 0.95)])
    return catalog, shas, blobs


def import_files(url: str, key: str, blobs: list[bytes]) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=60,
                      headers={"Hydrus-Client-API-Access-Key": key}) as http:
        for blob in blobs:
            http.post("/add_files/add_file", content=blob,
                      headers={"Content-Type": "application/octet-stream"}).raise_for_status()


def baseline_push(catalog: SqliteCatalog, client: HydrusClient, service_key: str
                  ) -> tuple[int, int]:
    """The push before batching: per file one add_tags and one associate_url (and
    its note). (files pushed, requests)."""
    requests = client.requests
    done = 0
    for ids in all_images(catalog)[1]:
        payloads = read_payloads(catalog, ids, PayloadOptions())
        held = client.held([p.sha256 for p in payloads])
        for payload in payloads:
            if payload.sha256 not in held:
                continue
            client.add_tags([payload.sha256], service_key, add=payload.tags)
            client.associate_urls(payload.sha256, payload.urls)
            if payload.note:
                client.set_notes(payload.sha256, {NOTE_NAME: payload.note})
            done += 1
    return done, client.requests - requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--url", default="", help="a real Hydrus client's Client API")
    parser.add_argument("--key", default="", help="its access key (every permission)")
    parser.add_argument("--service", default="PxIMSE")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-hydrus-"))
    fake = None if args.url else FakeHydrus().start()
    try:
        url, key = (args.url, args.key) if args.url else (fake.url, KEY)  # type: ignore[union-attr]
        if fake is not None:
            fake.add_key(KEY)
            fake.add_tag_service(args.service)
            fake.add_tag_service(f"{args.service}-baseline")
        progress(f"catalogue of {args.images} images in Pixiv works, 30 tags each")
        catalog, shas, blobs = build_catalog(work, args.images)
        client = HydrusClient(url, key)
        if fake is not None:
            for sha in shas:
                fake.add_file(sha256=sha)
        else:
            progress("importing the images into Hydrus")
            import_files(url, key, blobs)
        print(machine_line() + (f"; real Hydrus at {url}" if args.url else
                                "; the tests' fake Hydrus (a real HTTP server)"))

        progress("before: one tags and one URLs request per file")
        started = time.perf_counter()
        before_files, before_requests = baseline_push(
            catalog, client, client.tag_service(f"{args.service}-baseline").key)
        before_s = time.perf_counter() - started
        print(f"before: {before_files} files, {before_requests} requests, {before_s:.2f} s, "
              f"{before_files / before_s:.1f} files/s")

        ledger = Ledger(work / "hydrus.sqlite3")
        pusher = Pusher(catalog, client, ledger, client.tag_service(args.service),
                        PayloadOptions())

        def timed(label: str) -> tuple[float, PushReport]:
            started = time.perf_counter()
            report = pusher.push(all_images(catalog)[1])
            seconds = time.perf_counter() - started
            print(f"{label}: {report.updated} images updated, {report.requests} requests, "
                  f"{seconds:.2f} s")
            return seconds, report

        after_s, after = timed("after: PxIMSE's push (batched, committed, read back)")
        ratio = (args.images / after_s) / (before_files / before_s)
        print(f"files/s: before {before_files / before_s:.1f}, after {args.images / after_s:.1f}"
              f" ({ratio:.2f}x); requests: before {before_requests}, after {after.requests}")
        again_s, again = timed("nothing changed")
        ids = catalog.content_ids(shas[: max(1, args.images // 100)])
        catalog.set_model_tags_many((cid, MODEL, {"tag_1": 0.9, "rating:general": 0.9})
                                    for cid in ids.values())
        changed_s, changed = timed("1% changed")
        lines = [
            verdict("batching sends fewer requests than one per file and part",
                    after.requests < before_requests,
                    f"{after.requests} against {before_requests}"),
            verdict("every image pushed and committed", after.updated == args.images
                    and after.committed is True and after.repaired == 0,
                    f"{after.updated} updated, committed={after.committed}"),
            verdict("unchanged push sends nothing", again.requests == 0,
                    f"{again.requests} requests"),
            verdict("a 1% change sends about 1%",
                    changed.updated == len(ids)
                    and changed.requests <= len(ids) + 2 * -(-len(ids) // 256) + 2,
                    f"{changed.updated} updated in {changed.requests} requests"),
        ]
        ok = all(line.startswith("PASS") for line in lines)
        emit_result({
            "pass": ok, "images": args.images, "real_hydrus": bool(args.url),
            "before_requests": before_requests, "before_s": round(before_s, 2),
            "before_files_per_s": round(before_files / before_s, 1),
            "after_requests": after.requests, "after_s": round(after_s, 2),
            "after_files_per_s": round(args.images / after_s, 1),
            "files_per_s_ratio": round(ratio, 2),
            "unchanged_s": round(again_s, 3), "changed_s": round(changed_s, 3),
            "changed_requests": changed.requests, "verdicts": lines,
        })
        client.close()
        ledger.close()
        catalog.close()
        return 0 if ok else 1
    finally:
        if fake is not None:
            fake.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
