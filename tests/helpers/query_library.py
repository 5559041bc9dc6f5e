"""A synthetic library for the query engines' tests, written through the catalogue's API.

Scan batches, tags of every origin, OCR rows and Pixiv works built from seeded
random facts, so no image is decoded; :class:`Library` says what was written.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pximse.store.records import PixivTag, PixivWork
from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog

MODEL = "wd14:test"
OTHER_MODEL = "wd14:other"
THRESHOLD = 0.5
MODEL_TAGS = [
    "1girl", "Long Hair", "short_hair", "blue_eyes", "smile", "solo", "monochrome", "cat",
    "dog", "初音ミク", "outdoors", "School Uniform", "red_eyes", "skirt", "flower",
]
PIXIV_TAGS = ["オリジナル", "cat", "初音ミク", "風景", "girl", "Smile"]
YANDERE_TAGS = ["breasts", "thighhighs", "cat", "long_hair", "初音ミク", "school_uniform", "dress"]
MANUAL_TAGS = ["favourite", "cat", "wallpaper"]
SCORES = [0.2, 0.25, 0.35, 0.4999, 0.5, 0.5, 0.5001, 0.6, 0.75, 0.8, 0.9, 0.95, 1.0]
OCR_TEXTS = [
    "Hello World", "hello again", "THANK YOU", "ありがとう", "ありがとうございます",
    "Mixed 日本語 and English", "", "100% off", "a_b literal", "  spaced out  ",
    "SALE ends today", "夏の日",
]
PIXIV_USERS = [("1001", "Alice"), ("1002", "Bob"), ("20003", "Émile"), ("123456", "ウサギ"),
               ("777", None)]
TWITTER_USERS = [("ALICE", "alice_tw"), ("bob", "bob99"), ("ミク", "cfm_miku")]
PLAIN_FOLDERS = [
    "/lib/main/photos/2021", "/lib/main/misc/a_b", "/lib/main/misc/axb", "/lib/main/misc/100%",
    "/lib/main/misc/100x", "/lib/main/日本語/絵", "/lib/main/Wallpapers",
]
SIZES = [(1920, 1080), (1080, 1920), (1000, 1000), (800, 600), (600, 800), (2048, 1536),
         (3000, 2000), (500, 500), (1200, 1700), (64, 48), (4096, 2160)]
FORMAT_OF_EXT = {"png": "png", "jpg": "jpeg", "gif": "gif", "webp": "webp", "tif": "tiff",
                 "bmp": "bmp", "avif": "avif"}
SECOND = 1_000_000_000
TWITTER_EPOCH_MS = 1288834974657


@dataclass(repr=False)
class Library:
    """What the builder made, for tests that change it afterwards."""

    main_root: int
    second_root: int
    extra_root: int
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256


def sha_for(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _moment(rng: random.Random) -> datetime:
    start = datetime(2015, 1, 1, tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(0, 10 * 365 * 86400))


def _file_name(i: int, rng: random.Random) -> tuple[str, str]:
    """(folder, name) for image ``i``: pixiv, yande.re, twitter, booru or a plain name."""
    kind = i % 10
    ext = rng.choice(["png", "jpg"])
    if kind in (0, 1, 2):
        user_id, user_name = rng.choice(PIXIV_USERS)
        folder = "/lib/main/pixiv"
        if user_name is not None:
            folder += f"/{user_name}_{user_id}"
        illust = 5_000_000 + i // 3
        if rng.random() < 0.3:
            return folder, f"{illust}_p{i % 3}.{ext}"
        return folder, f"{user_id}_{illust}_p{i % 3}.{ext}"
    if kind == 3:
        tags = " ".join(sorted(rng.sample(YANDERE_TAGS, rng.randint(0, 3))))
        return "/lib/main/yandere", f"yande.re {400_000 + i} {tags}".rstrip() + ".jpg"
    if kind == 4:
        name, screen = rng.choice(TWITTER_USERS)
        moment = _moment(rng).strftime("%Y%m%d-%H%M%S")
        media = rng.choice(["", "-1", "-2"])
        tweet = 1_200_000_000_000_000_000 + i
        return "/lib/main/twitter", f"twitter_{name}(@{screen})_{moment}_{tweet}_photo{media}.jpg"
    if kind == 5:
        ms = int(_moment(rng).timestamp() * 1000)
        tweet = (ms - TWITTER_EPOCH_MS) << 22
        return "/lib/main/twitter/gallery-dl", f"{tweet}_{rng.randint(1, 3)}.jpg"
    if kind == 6:
        return "/lib/main/booru", f"danbooru_{700_000 + i}_{sha_for(str(i))[:32]}.png"
    folder = rng.choice(PLAIN_FOLDERS)
    name = rng.choice([f"IMG_{i:04d}", f"holiday photo {i}", f"Scan {i}", f"wall_{i}",
                       f"anim_{i}"])
    return folder, f"{name}.{rng.choice(['png', 'jpg', 'gif', 'webp', 'tif', 'bmp', 'avif'])}"


def content_facts(sha: str, ext: str, rng: random.Random, mtime_ns: int) -> NewContent:
    fmt = FORMAT_OF_EXT.get(ext.lower(), "png")
    if rng.random() < 0.1:
        fmt = rng.choice(list(FORMAT_OF_EXT.values()))
    frames = rng.choice([2, 12, 60]) if fmt in ("gif", "webp", "png") and rng.random() < 0.25 else 1
    if rng.random() < 0.1:
        width, height = rng.randint(32, 5000), rng.randint(32, 5000)
    else:
        width, height = rng.choice(SIZES)
    filesize = rng.choice([1024, 1048576, 2097152]) if rng.random() < 0.15 else \
        rng.randint(5_000, 25_000_000)
    return NewContent(sha, filesize, fmt, width, height, frames, frames > 1, _phash(rng), False,
                      mtime_ns)
_PHASH_BASES = [random.Random(n).getrandbits(64) for n in range(12)]


def _phash(rng: random.Random) -> int | None:
    """Perceptual hashes in clusters (a few bits flipped from one of a few
    pictures), as a collection of re-encodes and variants has them; signed, as stored."""
    if rng.random() < 0.1:
        return None
    value = rng.choice(_PHASH_BASES)
    for bit in rng.sample(range(64), rng.choice([0, 0, 1, 2, 3, 4, 5, 8, 20])):
        value ^= 1 << bit
    return value - (1 << 64) if value >= 1 << 63 else value


def random_mtime(rng: random.Random) -> int:
    if rng.random() < 0.1:
        return 1_600_000_000 * SECOND  # a shared second: ties in the date sort
    return int(_moment(rng).timestamp()) * SECOND + rng.randrange(SECOND)


def add_images(catalog: SqliteCatalog, root_id: int, items: list[tuple[str, str, NewContent]]
               ) -> None:
    """Scan-batch ``(path, sha256, content)`` triples in, as the scanner would."""
    catalog.apply_scan_batch(ScanBatch(
        root_id,
        new_content=[content for _, _, content in items],
        files=[FileRecord(path, content.filesize, content.mtime_ns, "ok", sha)
               for path, sha, content in items],
    ))


def write_ocr(catalog: SqliteCatalog, texts: dict[int, str]) -> None:
    """OCR results (text, ``content.textlen``, the n-gram index) in one write."""
    catalog.set_ocr_many([(content_id, "test-ocr", text) for content_id, text in texts.items()])


def _tag_variant(name: str, rng: random.Random) -> str:
    """The same tag as different taggers write it (one tag key)."""
    return rng.choice([name, name.lower(), name.replace(" ", "_"), name.upper()])


def build_library(catalog: SqliteCatalog, *, n: int = 300, seed: int = 7) -> Library:
    rng = random.Random(seed)
    library = Library(
        catalog.ensure_root("main", "/lib/main"),
        catalog.ensure_root("second", "/lib/second"),
        catalog.ensure_root("extra", "/lib/extra"),
    )
    batch: list[tuple[str, str, NewContent]] = []
    for i in range(n):
        folder, name = _file_name(i, rng)
        sha = sha_for(f"content-{seed}-{i}")
        content = content_facts(sha, name.rsplit(".", 1)[-1], rng, random_mtime(rng))
        batch.append((f"{folder}/{name}", sha, content))
        if rng.random() < 0.04:  # a second copy of the same content
            batch.append((f"/lib/main/copies/copy_{i}.png", sha, content))
    for start in range(0, len(batch), 64):
        add_images(catalog, library.main_root, batch[start:start + 64])
    library.files.update((path, sha) for path, sha, _ in batch)
    catalog.apply_scan_batch(ScanBatch(library.main_root, files=[
        FileRecord("/lib/main/broken/bad_1.png", 10, SECOND, "error", None, "truncated", "boom"),
        FileRecord("/lib/main/broken/notes.txt", 10, SECOND, "skipped", None, "not an image"),
    ]))

    # A second root: copies of main content and content found nowhere else.
    second: list[tuple[str, str, NewContent]] = []
    for k, (_path, sha, content) in enumerate(batch[5:65:10]):
        second.append((f"/lib/second/backup/backup_{k}.png", sha, content))
    for k in range(6):
        sha = sha_for(f"second-{seed}-{k}")
        second.append((f"/lib/second/pixiv/Bob_1002/1002_{6_000_000 + k}_p0.png", sha,
                       content_facts(sha, "png", rng, random_mtime(rng))))
    add_images(catalog, library.second_root, second)
    extra = [(f"/lib/extra/1001_{6_100_000 + k}_p0.jpg", sha_for(f"extra-{seed}-{k}"))
             for k in range(4)]
    add_images(catalog, library.extra_root,
               [(path, sha, content_facts(sha, "jpg", rng, random_mtime(rng)))
                for path, sha in extra])
    library.files.update((path, sha) for path, sha, _ in second)
    library.files.update(extra)

    ids = catalog.content_ids(set(library.files.values()))
    for sha, content_id in sorted(ids.items()):
        if rng.random() < 0.85:
            chosen = rng.sample(MODEL_TAGS, rng.randint(0, 6))
            scores = {_tag_variant(tag, rng): rng.choice(SCORES) if rng.random() < 0.5
                      else round(rng.uniform(0.2, 1.0), 4) for tag in chosen}
            catalog.set_tags(content_id, MODEL, 0, scores)
        if rng.random() < 0.08:
            catalog.set_tags(content_id, OTHER_MODEL, 0,
                             {tag: rng.choice(SCORES) for tag in rng.sample(MODEL_TAGS, 2)})
        paths = [path for path, s in library.files.items() if s == sha]
        if any("/pixiv/" in path for path in paths) and rng.random() < 0.7:
            catalog.set_tags(content_id, "pixiv", 1,
                             {tag: 1.0 for tag in rng.sample(PIXIV_TAGS, rng.randint(1, 3))})
        if rng.random() < 0.04:
            catalog.set_tags(content_id, "manual", 2, {tag: 1.0 for tag in MANUAL_TAGS[:2]})
    write_ocr(catalog, {content_id: rng.choice(OCR_TEXTS)
                        for content_id in rng.sample(sorted(ids.values()), 60)})
    add_pixiv_works(catalog, rng)

    # Files removed from disk (content gone unless another copy is left) and
    # a root that went missing (its only-copies become offline, still found).
    known = file_ids(catalog, library.main_root)
    removed = [known[path] for path, _, _ in batch[::19] if path in known]
    catalog.apply_scan_batch(ScanBatch(library.main_root, removed=removed))
    for path, file_id in known.items():
        if file_id in removed:
            library.files.pop(path, None)
    catalog.set_root_online(library.second_root, False)
    return library
PIXIV_TITLES = ["夏の日", "Summer Day", "SUMMER night", "桜の下で", "Straße", "", "a_b 100%"]
PIXIV_TRANSLATIONS = {"オリジナル": "original", "風景": "scenery", "初音ミク": "Hatsune Miku"}


def pixiv_work(illust_id: str, rng: random.Random, *, state: str = "ok",
               fetched_at: int = 1_700_000_000) -> PixivWork:
    """A work as a fetch would record it (``ok``: every field; else none)."""
    if state != "ok":
        return PixivWork(illust_id, state, rng.choice(["app", "ajax"]), fetched_at)
    via = rng.choice(["app", "ajax"])
    tags = [PixivTag(name, PIXIV_TRANSLATIONS.get(name))
            for name in rng.sample(PIXIV_TAGS, rng.randint(0, 3))]
    return PixivWork(
        illust_id, "ok", via, fetched_at, title=rng.choice(PIXIV_TITLES),
        caption="a caption", created=int(_moment(rng).timestamp()),
        views=rng.choice([0, 10, 150, rng.randint(0, 100_000)]),
        bookmarks=rng.choice([0, 5, 500, rng.randint(0, 20_000)]),
        likes=rng.randint(0, 5000) if via == "ajax" else None,
        comments=rng.randint(0, 50), user_id=rng.choice(["1001", "777", "5555"]),
        user_name=rng.choice(["Alice", "Seven", "新しい名前"]), ai=rng.random() < 0.2,
        r18=rng.random() < 0.2, x_restrict=0, pages=rng.randint(1, 3), tags=tags)


def add_pixiv_works(catalog: SqliteCatalog, rng: random.Random) -> None:
    """What fetches would have stored: most works ok, some deleted (a few after
    an earlier ok, so they keep what was known), some private, some never asked."""
    posts = sorted(row[0] for row in catalog.db.reader().execute(
        "SELECT DISTINCT post_id FROM content WHERE source = 'pixiv' AND post_id IS NOT NULL"))
    for illust_id in posts:
        roll = rng.random()
        if roll < 0.55:
            catalog.record_pixiv_work(pixiv_work(illust_id, rng))
        elif roll < 0.7:
            if rng.random() < 0.5:
                catalog.record_pixiv_work(pixiv_work(illust_id, rng, fetched_at=1_600_000_000))
            catalog.record_pixiv_work(pixiv_work(illust_id, rng, state="deleted"))
        elif roll < 0.78:
            catalog.record_pixiv_work(pixiv_work(illust_id, rng, state="private"))


def file_ids(catalog: SqliteCatalog, root_id: int) -> dict[str, int]:
    """Path -> file id of every file under a root."""
    rows = catalog.db.reader().execute("SELECT path, id FROM file WHERE root_id = ?", (root_id,))
    return dict(rows)
