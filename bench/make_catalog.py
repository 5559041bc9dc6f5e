"""Generate a synthetic catalogue (default 1M images) straight into the SQLite schema.

The schema comes from ``pximse.store.sqlite.schema.migrate`` (so the file is a
real catalogue that ``SqliteCatalog`` opens as is); rows are bulk-inserted with
``executemany`` in large transactions, with the indexes dropped around the
load and recreated from the schema's own DDL, then ``ANALYZE``.

What the data looks like (seeded, so every build is the same):

- a vocabulary of ``--tags`` (20k) model tags: ~130 real head tags with
  Danbooru-like frequencies (``1girl`` 60%, ``solo`` 50%, ``long_hair`` 40%,
  ``highres`` 40%, ``smile`` 30%, ...) and a Zipf (1/rank) tail scaled so
  that an image has ~30 model tags; each posting has a score in 0.35..1.0
  (about 11% below the default 0.5 threshold), origin ``wd14-v3:test``,
  kind 0. Tags are drawn independently of each other, except that most
  ``monochrome`` images are also ``greyscale``.
- source tags (kind 1): half of the Pixiv images have 3-10 Pixiv tags
  (origin ``pixiv``, a separate ~2k Japanese-style vocabulary), every
  yande.re image has booru tags from the same vocabulary as the model
  (origin ``yandere``).
- content: lognormal file size (median ~1.2 MB, mean ~1.5 MB), typical
  widths and aspect ratios, dates spread over 10 years (2015-2024), source
  pixiv 60% / twitter 20% / yandere 10% / other 10%, 30k artists with
  p(rank) ~ 1/(rank + 50) (the busiest has ~0.3% of the library),
  post ids, pages; ~1% of contents are gone (state -1), ~1% offline.
- one ``file`` row per present content, with a downloader-style path.
- ``tag.count`` and ``content.tagcount`` computed exactly as the catalogue
  defines them; ``content.gen`` and ``tag.gen`` are 0, the ``meta.gen`` of a
  catalogue no write has touched yet (the in-memory query index reloads rows
  whose gen is above the one it loaded).

The result is cached (``bench/data/catalog_<n>.sqlite3``); it is rebuilt only
when missing, made by another version of this script, or asked with
``--rebuild``. A cached file from an older schema is migrated in place (as
PxIMSE itself does on open) and analysed again.

    .venv/bin/python bench/make_catalog.py [--images 1000000] [--tags 20000] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
from _common import ensure_data_dir, progress

GENERATOR_VERSION = 4
MODEL_ORIGIN = "wd14-v3:test"
ORIGINS = ("pixiv", MODEL_ORIGIN, "yandere")  # in string order: the image_tag key order
ORIGIN_PIXIV, ORIGIN_MODEL, ORIGIN_YANDERE = 0, 1, 2
TAG_THRESHOLD = 0.5
MODEL_TAGS_PER_IMAGE = 30.0
EPOCH_2015 = 1420070400
EPOCH_2025 = 1735689600

# Head tags and the share of images a tagger gives them (roughly Danbooru's shape).
HEAD_TAGS: tuple[tuple[str, float], ...] = (
    ("1girl", 0.60), ("solo", 0.50), ("long_hair", 0.40), ("highres", 0.40),
    ("looking_at_viewer", 0.33), ("smile", 0.30), ("breasts", 0.28), ("blush", 0.27),
    ("short_hair", 0.22), ("open_mouth", 0.22), ("bangs", 0.20), ("absurdres", 0.15),
    ("blue_eyes", 0.15), ("simple_background", 0.15), ("multiple_girls", 0.15),
    ("black_hair", 0.13), ("skirt", 0.13), ("hair_ornament", 0.13), ("brown_hair", 0.12),
    ("shirt", 0.12), ("blonde_hair", 0.11), ("red_eyes", 0.11), ("white_background", 0.11),
    ("long_sleeves", 0.11), ("large_breasts", 0.10), ("thighhighs", 0.10), ("dress", 0.10),
    ("1boy", 0.10), ("gloves", 0.09), ("hat", 0.09), ("bow", 0.09), ("holding", 0.09),
    ("jewelry", 0.08), ("ribbon", 0.08), ("navel", 0.08), ("closed_mouth", 0.08),
    ("hair_between_eyes", 0.08), ("cleavage", 0.07), ("animal_ears", 0.07),
    ("school_uniform", 0.07), ("very_long_hair", 0.07), ("jacket", 0.07),
    ("upper_body", 0.07), ("monochrome", 0.06), ("sitting", 0.06), ("purple_eyes", 0.06),
    ("green_eyes", 0.06), ("twintails", 0.06), ("standing", 0.06), ("2girls", 0.06),
    ("greyscale", 0.05), ("full_body", 0.05), ("braid", 0.05), ("ponytail", 0.05),
    ("closed_eyes", 0.05), ("weapon", 0.05), ("outdoors", 0.05), ("sky", 0.05),
    ("flower", 0.05), ("tail", 0.05), ("white_hair", 0.05), ("touhou", 0.05),
    ("signature", 0.04), ("cloud", 0.04), ("glasses", 0.04), ("red_hair", 0.04),
    ("pink_hair", 0.04), ("blue_hair", 0.04), ("day", 0.04), ("pantyhose", 0.04),
    ("night", 0.03), ("sword", 0.03), ("swimsuit", 0.03), ("wings", 0.03), ("horns", 0.03),
    ("no_humans", 0.03), ("silver_hair", 0.03), ("hairband", 0.03), ("boots", 0.03),
    ("bikini", 0.025), ("cat_ears", 0.025), ("water", 0.025), ("tree", 0.025),
    ("grey_hair", 0.02), ("halo", 0.02), ("maid", 0.02), ("kimono", 0.02), ("food", 0.02),
    ("sketch", 0.02), ("comic", 0.02), ("yuri", 0.02), ("from_behind", 0.02),
    ("english_text", 0.02), ("twitter_username", 0.02), ("book", 0.02),
    ("holding_weapon", 0.018), ("dark_skin", 0.015), ("3girls", 0.015), ("cup", 0.015),
    ("scenery", 0.015), ("indoors", 0.015), ("fox_ears", 0.012), ("umbrella", 0.012),
    ("witch_hat", 0.01), ("chibi", 0.01), ("heterochromia", 0.01), ("glowing_eyes", 0.01),
    ("translated", 0.01), ("rain", 0.01), ("cat", 0.01), ("bird", 0.01), ("snow", 0.01),
    ("katana", 0.008), ("hatsune_miku", 0.008), ("headphones", 0.008), ("crown", 0.007),
    ("hakurei_reimu", 0.006), ("yukata", 0.006), ("kirisame_marisa", 0.005),
    ("guitar", 0.004), ("wolf_ears", 0.004), ("cherry_blossoms", 0.004),
    ("bunny_ears", 0.004), ("fireworks", 0.003), ("sunflower", 0.003),
    ("lighthouse", 0.001), ("origami", 0.0005), ("abacus", 0.0002),
)

_WORDS = (
    "red blue green black white pink purple yellow orange brown grey silver gold dark light "
    "long short small large open closed holding wearing striped frilled torn wet floating "
    "hair eyes ears tail wings hat ribbon bow dress skirt shirt jacket coat scarf gloves "
    "boots shoes socks sleeves collar necklace earrings bracelet belt bag umbrella sword "
    "gun staff book flower leaf tree moon star sun cloud rain snow water fire ice smoke "
    "sky sea beach forest city street room window door bed chair table cup bottle cake "
    "fruit fish cat dog bird fox wolf rabbit dragon robot mask glasses crown halo horns "
    "armor uniform kimono apron bikini hoodie sweater cape veil helmet tattoo scar bandage"
).split()

_PIXIV_WORDS = (
    "オリジナル 女の子 東方 艦これ 初音ミク VOCALOID ロリ 落書き 創作 ファンタジー 制服 "
    "猫耳 獣耳 天使 悪魔 魔法少女 メイド 水着 着物 浴衣 夏 冬 春 秋 夜 空 海 花 桜 雨 雪 "
    "ブルーアーカイブ 原神 ホロライブ ウマ娘 アークナイツ FGO ポケモン 刀剣乱舞 にじさんじ "
    "百合 眼鏡 ツインテール ポニーテール 銀髪 金髪 黒髪 赤目 青目 オッドアイ 笑顔 泣き顔"
).split()


def build_vocabulary(rng: np.random.Generator, size: int) -> tuple[list[str], np.ndarray]:
    """Tag keys by rank and the share of images a tagger gives each one."""
    names = [name for name, _ in HEAD_TAGS]
    freqs = [freq for _, freq in HEAD_TAGS]
    taken = set(names)
    order = rng.permutation(len(_WORDS) ** 2)
    i = 0
    while len(names) < size:
        a, b = divmod(int(order[i % len(order)]), len(_WORDS))
        suffix = "" if i < len(order) else f"_{i // len(order) + 1}"
        i += 1
        name = f"{_WORDS[a]}_{_WORDS[b]}{suffix}"
        if a == b or name in taken:
            continue
        taken.add(name)
        names.append(name)
    head = len(HEAD_TAGS)
    ranks = np.arange(head + 1, size + 1, dtype=np.float64)
    tail_share = max(MODEL_TAGS_PER_IMAGE - sum(freqs), 0.0)
    tail = tail_share * (1.0 / ranks) / (1.0 / ranks).sum()
    return names, np.concatenate([np.array(freqs), np.minimum(tail, 0.02)])


def sample_ids(rng: np.random.Generator, population: np.ndarray, share: float) -> np.ndarray:
    """A random subset of ``population`` (sorted), each member kept with probability ``share``."""
    n = len(population)
    if share >= 0.02:
        return population[rng.random(n) < share]
    k = int(rng.binomial(n, share))
    if k == 0:
        return population[:0]
    return np.sort(population[rng.choice(n, k, replace=False)])


def generate_postings(
    rng: np.random.Generator, n: int, freqs: np.ndarray, source: np.ndarray, pixiv_tag_count: int
) -> dict[str, np.ndarray]:
    """Every image_tag row as columns: tag id, content id, origin code, kind, score."""
    ids = np.arange(1, n + 1, dtype=np.int32)
    tag_cols, content_cols, origin_cols = [], [], []
    greyscale_id = [name for name, _ in HEAD_TAGS].index("greyscale") + 1
    monochrome_id = [name for name, _ in HEAD_TAGS].index("monochrome") + 1
    monochrome_set: np.ndarray | None = None
    started = time.perf_counter()
    for rank, share in enumerate(freqs, start=1):
        if rank == greyscale_id and monochrome_set is not None:
            # Most monochrome images are greyscale too; a few greyscale ones are not monochrome.
            chosen = np.union1d(
                monochrome_set[rng.random(len(monochrome_set)) < 0.8],
                sample_ids(rng, ids, 0.004),
            ).astype(np.int32)
        else:
            chosen = sample_ids(rng, ids, float(share))
        if rank == monochrome_id:
            monochrome_set = chosen
        tag_cols.append(np.full(len(chosen), rank, dtype=np.int32))
        content_cols.append(chosen)
        origin_cols.append(np.full(len(chosen), ORIGIN_MODEL, dtype=np.int8))
        if rank % 2000 == 0:
            progress(f"model tags: {rank}/{len(freqs)}")
    progress(f"model postings: {sum(map(len, tag_cols))} in {time.perf_counter() - started:.1f}s")

    # yande.re images carry booru tags from the same vocabulary (about as many as a tagger gives).
    yandere_ids = ids[source == 3]
    for rank, share in enumerate(freqs, start=1):
        chosen = sample_ids(rng, yandere_ids, min(float(share) * 0.7, 0.9))
        tag_cols.append(np.full(len(chosen), rank, dtype=np.int32))
        content_cols.append(chosen)
        origin_cols.append(np.full(len(chosen), ORIGIN_YANDERE, dtype=np.int8))

    # Half of the Pixiv images have their Pixiv tags (3-10 each, Zipf over the Pixiv vocabulary).
    pixiv_ids = ids[source == 1]
    pixiv_ids = pixiv_ids[rng.random(len(pixiv_ids)) < 0.5]
    per_image = rng.integers(3, 11, len(pixiv_ids))
    owners = np.repeat(pixiv_ids, per_image)
    weights = 1.0 / np.arange(1, pixiv_tag_count + 1)
    first_pixiv = len(freqs) + 1
    picks = rng.choice(pixiv_tag_count, len(owners), p=weights / weights.sum()) + first_pixiv
    tag_cols.append(picks.astype(np.int32))
    content_cols.append(owners.astype(np.int32))
    origin_cols.append(np.full(len(owners), ORIGIN_PIXIV, dtype=np.int8))

    tag = np.concatenate(tag_cols)
    content = np.concatenate(content_cols)
    origin = np.concatenate(origin_cols)
    progress(f"sorting {len(tag)} postings into key order")
    order = np.lexsort((origin, content, tag))
    tag, content, origin = tag[order], content[order], origin[order]
    # A repeated Pixiv tag on one image would break the primary key: keep the first.
    keep = np.ones(len(tag), dtype=bool)
    keep[1:] = (tag[1:] != tag[:-1]) | (content[1:] != content[:-1]) | (origin[1:] != origin[:-1])
    tag, content, origin = tag[keep], content[keep], origin[keep]
    kind = np.where(origin == ORIGIN_MODEL, 0, 1).astype(np.int8)
    score = np.where(
        kind == 0, 0.35 + 0.65 * rng.beta(1.5, 1.0, len(tag)), 1.0
    ).round(4)
    return {"tag": tag, "content": content, "origin": origin, "kind": kind, "score": score}


def tag_and_image_counts(
    postings: dict[str, np.ndarray], n_tags: int, n_images: int
) -> tuple[np.ndarray, np.ndarray]:
    """``tag.count`` (distinct images per tag, any score) and ``content.tagcount``
    (distinct tags per image that count: source tags, or model tags at the threshold)."""
    tag, content = postings["tag"], postings["content"]
    new_pair = np.ones(len(tag), dtype=bool)
    new_pair[1:] = (tag[1:] != tag[:-1]) | (content[1:] != content[:-1])
    tag_count = np.bincount(tag[new_pair], minlength=n_tags + 1)
    counts = (postings["kind"] != 0) | (postings["score"] >= TAG_THRESHOLD)
    # Pairs are adjacent in key order, so a qualifying pair is counted once per (tag, content).
    tc, cc = tag[counts], content[counts]
    first = np.ones(len(tc), dtype=bool)
    first[1:] = (tc[1:] != tc[:-1]) | (cc[1:] != cc[:-1])
    tagcount = np.bincount(cc[first], minlength=n_images + 1)
    return tag_count, tagcount


def generate_content(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    source = rng.choice(4, n, p=[0.6, 0.2, 0.1, 0.1]) + 1  # 1 pixiv 2 twitter 3 yandere 4 other
    fmt = rng.choice(4, n, p=[0.55, 0.40, 0.03, 0.02])  # png jpeg gif webp
    filesize = np.clip(rng.lognormal(np.log(1.2e6), 0.7, n), 20_000, 60_000_000).astype(np.int64)
    filesize = np.where(fmt == 1, filesize * 0.6, filesize).astype(np.int64)
    width = np.clip(rng.lognormal(np.log(1500), 0.35, n), 200, 12000).astype(np.int64)
    shape = rng.choice(3, n, p=[0.6, 0.25, 0.15])
    aspect = np.choose(shape, [rng.normal(0.72, 0.06, n), rng.normal(1.6, 0.15, n),
                               np.ones(n)])
    height = np.clip(width / np.clip(aspect, 0.3, 3.0), 200, 16000).astype(np.int64)
    date = rng.integers(EPOCH_2015, EPOCH_2025, n)
    animated = (fmt == 2) & (rng.random(n) < 0.5)
    frames = np.where(animated, rng.integers(2, 60, n), 1)
    state = rng.choice(3, n, p=[0.01, 0.01, 0.98]) - 1  # -1 gone, 0 offline, 1 present
    # Artists: p(rank) ~ 1/(rank + 50) over 30k, so the busiest has ~0.3% of the library.
    weights = 1.0 / (np.arange(1, 30_001) + 50.0)
    user = rng.choice(30_000, n, p=weights / weights.sum()).astype(np.int64) + 1
    page = np.minimum(rng.geometric(0.6, n) - 1, 40)
    return {"source": source, "format": fmt, "filesize": filesize, "width": width,
            "height": height, "date": date, "animated": animated, "frames": frames,
            "state": state, "user": user, "page": page}


def content_rows(rng: np.random.Generator, cols: dict[str, np.ndarray], tagcount: np.ndarray,
                 start: int, stop: int, now: int):  # type: ignore[no-untyped-def]
    formats = ("png", "jpeg", "gif", "webp")
    exts = ("png", "jpg", "gif", "webp")
    sha = rng.bytes(32 * (stop - start))
    phash = rng.integers(-(2**63), 2**63 - 1, stop - start, dtype=np.int64).tolist()
    c = {k: v[start:stop].tolist() for k, v in cols.items()}
    content, files = [], []
    for i in range(stop - start):
        cid = start + i + 1
        src = c["source"][i]
        user = c["user"][i]
        page = c["page"][i]
        date = c["date"][i]
        user_id = user_name = post_id = title = work_key = posted = None
        page_no = None
        ext = exts[c["format"][i]]
        if src == 1:
            source = "pixiv"
            user_id = str(1_000_000 + user * 37)
            user_name = f"artist{user}"
            post_id = str(40_000_000 + cid * 3)
            page_no = page
            posted = date - (cid * 7919) % 86400
            title = f"作品{cid % 5000}"
            work_key = f"pixiv:{post_id}"
            folder = f"/library/pixiv/{user_name}-{user_id}"
            name = f"{post_id}_p{page}.{ext}"
        elif src == 2:
            source = "twitter"
            user_id = f"tw_user{user}"
            user_name = f"Twitter User {user}"
            post_id = str(((date - 1288834974) * 1000) << 22 | (cid & 0x3FFFFF))
            posted = date
            work_key = f"twitter:{post_id}"
            folder = f"/library/twitter/{user_id}"
            name = f"twitter_{user_name}(@{user_id})_{post_id}_photo.{ext}"
        elif src == 3:
            source = "yandere"
            post_id = str(100_000 + cid)
            work_key = f"yandere:{post_id}"
            folder = f"/library/yandere/{date // 31_536_000 + 1970}"
            name = f"yande.re {post_id}.{ext}"
        else:
            source = "other"
            folder = f"/library/misc/{cid % 300:03d}"
            name = f"IMG_{cid:07d}.{ext}"
        w, h = c["width"][i], c["height"][i]
        content.append((
            cid, sha[32 * i : 32 * i + 32].hex(), c["filesize"][i], w, h, w / h, w * h,
            formats[c["format"][i]], c["frames"][i], int(c["animated"][i]), phash[i], date,
            source, user_id, user_name, post_id, page_no, posted, title, work_key,
            int(tagcount[cid]), None, c["state"][i], 1, now, 0,
        ))
        if c["state"][i] >= 0:
            path = f"{folder}/{name}"
            files.append((cid, 1, path, folder, name, c["filesize"][i], date * 1_000_000_000,
                          cid, "ok" if c["state"][i] == 1 else "offline", now))
    return content, files


def build(path: Path, images: int, n_tags: int, seed: int) -> dict[str, object]:
    from pximse.store.sqlite.schema import SCHEMA_VERSION, migrate

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    migrate(conn)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")

    names, freqs = build_vocabulary(rng, n_tags)
    pixiv_names = [f"{word}" for word in _PIXIV_WORDS]
    i = 0
    while len(pixiv_names) < 2000:
        pixiv_names.append(f"{_PIXIV_WORDS[i % len(_PIXIV_WORDS)]}{i // len(_PIXIV_WORDS) + 1}"
                           f"{'users入り' if i % 50 == 0 else ''}")
        i += 1
    pixiv_names = list(dict.fromkeys(pixiv_names))
    cols = generate_content(rng, images)
    postings = generate_postings(rng, images, freqs, cols["source"], len(pixiv_names))
    all_names = names + pixiv_names
    tag_count, tagcount = tag_and_image_counts(postings, len(all_names), images)
    now = time.time_ns()

    progress("inserting tags, root")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO root (id, name, path, last_scan_ns) VALUES (1, 'library',"
                 " '/library', ?)", (now,))
    conn.executemany(
        "INSERT INTO tag (id, key, name, count, gen) VALUES (?,?,?,?,?)",
        [(i, key, key, int(tag_count[i]), 0) for i, key in enumerate(all_names, start=1)],
    )
    conn.execute("COMMIT")

    chunk = 100_000
    for start in range(0, images, chunk):
        stop = min(start + chunk, images)
        content, files = content_rows(rng, cols, tagcount, start, stop, now)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO content (id, sha256, filesize, width, height, ratio, pixels, format,"
            " frames, animated, phash, date, source, user_id, user_name, post_id, page, posted,"
            " title, work_key, tagcount, textlen, state, thumbnail, added_ns, gen)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            content,
        )
        conn.executemany(
            "INSERT INTO file (id, root_id, path, folder, name, size, mtime_ns, content_id,"
            " state, seen_ns) VALUES (?,?,?,?,?,?,?,?,?,?)",
            files,
        )
        conn.execute("COMMIT")
        progress(f"content + file rows: {stop}/{images}")

    total = len(postings["tag"])
    chunk = 2_000_000
    t0 = time.perf_counter()
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        origin_names = [ORIGINS[o] for o in postings["origin"][start:stop].tolist()]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO image_tag (tag_id, content_id, origin, kind, score) VALUES (?,?,?,?,?)",
            zip(
                postings["tag"][start:stop].tolist(),
                postings["content"][start:stop].tolist(),
                origin_names,
                postings["kind"][start:stop].tolist(),
                postings["score"][start:stop].tolist(),
                strict=True,
            ),
        )
        conn.execute("COMMIT")
        rate = stop / (time.perf_counter() - t0)
        progress(f"image_tag rows: {stop}/{total} ({rate:.0f} rows/s)")

    for name, sql in indexes:
        t0 = time.perf_counter()
        conn.execute(sql)
        progress(f"index {name}: {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    analyse(conn)
    progress(f"ANALYZE: {time.perf_counter() - t0:.1f}s")
    info = {
        "generator": GENERATOR_VERSION,
        "schema": SCHEMA_VERSION,
        "images": images,
        "tags": len(all_names),
        "seed": seed,
        "postings": total,
        "model_postings": int((postings["kind"] == 0).sum()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    conn.execute("INSERT INTO meta (key, value) VALUES ('bench_catalog', ?)", (json.dumps(info),))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    os.replace(tmp, path)
    return info


def analyse(conn: sqlite3.Connection) -> None:
    """SQLite's statistics from a sample of each index (``analysis_limit``, as
    SQLite advises for big databases): a full ANALYZE of 33M tag rows took over
    an hour on a loaded 2-core machine."""
    conn.execute("PRAGMA analysis_limit = 2000")
    conn.execute("ANALYZE")


def catalog_info(path: Path) -> dict[str, object] | None:
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'bench_catalog'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def upgrade_in_place(path: Path, info: dict[str, object]) -> dict[str, object]:
    """Run the catalogue's newer migrations on the cached file, as PxIMSE does on open
    (new migrations so far add indexes; a new column would get its default)."""
    from pximse.store.sqlite.schema import SCHEMA_VERSION, migrate

    progress(f"migrating {path.name} from schema {info.get('schema')} to {SCHEMA_VERSION}")
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn)
        analyse(conn)
        info = {**info, "schema": SCHEMA_VERSION}
        conn.execute("UPDATE meta SET value = ? WHERE key = 'bench_catalog'", (json.dumps(info),))
    finally:
        conn.close()
    progress(f"migrated and analysed in {time.perf_counter() - t0:.1f}s")
    return info


def ensure_catalog(images: int = 1_000_000, n_tags: int = 20_000, seed: int = 1,
                   rebuild: bool = False) -> tuple[Path, dict[str, object]]:
    """The cached catalogue for these parameters, built when missing or stale."""
    from pximse.store.sqlite.schema import SCHEMA_VERSION

    path = ensure_data_dir() / f"catalog_{images}.sqlite3"
    info = catalog_info(path)
    wanted = {"generator": GENERATOR_VERSION, "images": images, "seed": seed}
    if not rebuild and info and all(info.get(k) == v for k, v in wanted.items()) and (
        info.get("tags", 0) >= n_tags  # type: ignore[operator]
    ):
        if info.get("schema") != SCHEMA_VERSION:
            info = upgrade_in_place(path, info)
        progress(f"reusing {path} (--rebuild to make a new one)")
        return path, info
    progress(f"building {path}: {images} images, {n_tags} model tags (takes a few minutes)")
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path, build(path, images, n_tags, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path, info = ensure_catalog(args.images, args.tags, args.seed, args.rebuild)
    size = path.stat().st_size / 2**20
    print(f"{path}: {size:.0f} MiB, {json.dumps(info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
