"""The scan's read path: each new file is opened, read and hashed once, and the
same bytes are decoded only when the catalogue does not know the content; the
pHash is taken from the thumbnail-sized decode and carries its version, and
hashes of the two versions still find each other as near-duplicates."""

from __future__ import annotations

import builtins
import hashlib
import os
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pximse.config import RootConfig, ScanConfig
from pximse.library import probe
from pximse.library.scan import scan_roots
from pximse.library.thumbnails import thumbnail_path
from pximse.query.parse import parse_query
from pximse.store.duplicates import PHASH_DRIFT, find_groups, hash_neighbours, hash_pairs
from pximse.store.sqlite.catalog import SqliteCatalog


def run_scan(catalog: SqliteCatalog, root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return scan_roots(catalog, [RootConfig(name="lib", path=root)],
                      thumbnail_dir=tmp_path / "thumbs", config=ScanConfig(workers=1))


def facts(catalog: SqliteCatalog) -> dict[str, tuple[object, ...]]:
    return {row[0]: tuple(row[1:]) for row in catalog.db.reader().execute(
        "SELECT sha256, filesize, width, height, format, frames, phash, phash_version"
        " FROM content")}


def test_a_new_file_is_read_and_hashed_once(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_image(library / "a.png", seed=1, size=(900, 700))
    make_image(library / "b.jpg", seed=2, size=(1200, 800), quality=90)
    make_image(library / "c.webp", seed=3, size=(600, 900))
    opened: Counter[str] = Counter()
    hashed: list[int] = []
    decoded: list[str] = []
    real_open, real_os_open = builtins.open, os.open
    real_sha256, real_decode = hashlib.sha256, probe._decode

    def counting_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file).startswith(str(library)):
            opened[Path(file).name] += 1
        return real_open(file, *args, **kwargs)

    def counting_os_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file).startswith(str(library)):
            opened[Path(file).name] += 1
        return real_os_open(file, *args, **kwargs)

    def counting_sha256(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args and len(args[0]) > 1000:  # a file's bytes, not a small key
            hashed.append(len(args[0]))
        return real_sha256(*args, **kwargs)

    def counting_decode(source, name, *args):  # type: ignore[no-untyped-def]
        decoded.append(Path(name).name)
        return real_decode(source, name, *args)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(os, "open", counting_os_open)  # files are opened with O_NONBLOCK
    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    monkeypatch.setattr(probe, "_decode", counting_decode)
    report = run_scan(catalog, library, tmp_path)

    assert report.new_images == 3
    assert opened == {"a.png": 1, "b.jpg": 1, "c.webp": 1}
    assert len(hashed) == 3
    assert sorted(decoded) == ["a.png", "b.jpg", "c.webp"]
    assert len(list((tmp_path / "thumbs").rglob("*.webp"))) == 3


def test_copies_in_one_scan_make_one_content(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "a.png", seed=1)
    (library / "copy-a.png").write_bytes((library / "a.png").read_bytes())
    report = run_scan(catalog, library, tmp_path)
    assert (report.new_images, report.linked) == (1, 1)
    [detail] = [catalog.image(sha) for sha in facts(catalog)]
    assert detail is not None and len(detail.paths) == 2


def test_content_the_worker_took_for_known_is_still_decoded(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hash the lookup knew but the catalogue no longer has when the scan writes
    (it changed between the two looks) is decoded then, in a second read."""

    class KnowsEverything:
        def knows(self, sha256: str) -> bool:
            return True

    make_image(library / "a.png", seed=1)
    make_image(library / "b.jpg", seed=2, quality=90)
    monkeypatch.setattr(catalog, "content_lookup", lambda: KnowsEverything())
    report = run_scan(catalog, library, tmp_path)
    assert report.new_images == 2
    assert len(list((tmp_path / "thumbs").rglob("*.webp"))) == 2


def test_the_two_read_path_records_the_same_facts(
    library: Path, make_image, tmp_path: Path
) -> None:
    """A catalogue without a lookup (hash all, then decode the new) ends the same."""
    make_image(library / "a.png", seed=1, size=(800, 600))
    make_image(library / "b.jpg", seed=2, size=(1000, 1400), quality=90)
    (library / "notes.txt").write_text("not an image")
    (library / "empty.png").write_bytes(b"")
    one = SqliteCatalog(tmp_path / "one" / "catalog.sqlite3")
    two = SqliteCatalog(tmp_path / "two" / "catalog.sqlite3")
    two.content_lookup = lambda: None  # type: ignore[method-assign]
    try:
        reports = [run_scan(cat, library, tmp_path / name)
                   for cat, name in ((one, "one"), (two, "two"))]
        assert reports[0].to_json() | {"seconds": 0} == reports[1].to_json() | {"seconds": 0}
        assert facts(one) == facts(two)
        assert one.status()["recent_errors"] == two.status()["recent_errors"]
    finally:
        one.close()
        two.close()


def test_new_content_carries_the_phash_version_and_old_rows_read_as_one(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "a.png", seed=1)
    make_image(library / "b.png", seed=2)
    run_scan(catalog, library, tmp_path)
    assert {row[-1] for row in facts(catalog).values()} == {probe.PHASH_VERSION}
    # a row from before the column (NULL) is version 1
    with catalog.db.write() as conn:
        conn.execute("UPDATE content SET phash_version = NULL WHERE sha256 = ?",
                     (next(iter(facts(catalog))),))
    ids, hashes, versions = catalog.phashes()
    assert sorted(versions.tolist()) == [1, probe.PHASH_VERSION]
    assert len(ids) == len(hashes) == 2


def test_phash_comes_from_the_thumbnail_sized_decode(tmp_path: Path, make_image) -> None:
    path = make_image(tmp_path / "big.jpg", seed=5, size=(2400, 1600), quality=92)
    found = probe.probe_image(path, tmp_path / "thumbs", thumbnail_size=256)
    assert isinstance(found, probe.ImageFacts)
    decoded = probe.decode_image(path, preview_size=256)
    assert isinstance(decoded, probe.DecodedImage)
    assert decoded.preview.size == (256, 171)
    assert found.phash == probe._phash(decoded.preview)
    assert found.phash_version == probe.PHASH_VERSION
    assert probe._fit(2400, 1600, 256) == (256, 171)
    assert probe._fit(100, 50, 256) == (100, 50)  # never enlarged


def test_a_schema_upgrade_keeps_old_hashes_as_version_one(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    SqliteCatalog(path).close()
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(content)")}
    conn.close()
    assert "phash_version" in columns


def hashes_near(base: int, bits: list[int]) -> int:
    for bit in bits:
        base ^= 1 << bit
    return base - (1 << 64) if base >= 1 << 63 else base


def test_hashes_of_the_two_versions_are_allowed_the_drift_between_them() -> None:
    base = 0x5A5A_F0F0_1234_8765
    hashes = np.array([base, hashes_near(base, [1, 9, 17, 33, 40]),
                       hashes_near(base, [2, 3, 50, 51, 52, 53, 60, 61, 62])],
                      dtype=np.int64)
    ids = np.array([10, 11, 12])
    # one version: 5 bits apart is beyond a distance of 4
    assert list(hash_neighbours(ids, hashes, 10, 4)) == [10]
    assert len(hash_pairs(hashes, 4)) == 0
    # 10 hashed the old way, 11 and 12 the new: up to 4 + PHASH_DRIFT bits (12 is 9
    # bits from 10, beyond it)
    versions = np.array([1, 2, 2], dtype=np.int8)
    assert 1 <= PHASH_DRIFT <= 4
    assert list(hash_neighbours(ids, hashes, 10, 4, versions)) == [10, 11]
    assert [list(p) for p in hash_pairs(hashes, 4, versions)] == [[0, 1]]
    # between two new ones, only the distance counts (11 and 12 are 14 bits apart)
    assert list(hash_neighbours(ids, hashes, 11, 4, versions)) == [10, 11]
    assert [g.tolist() for g in find_groups(ids, hashes, 4, versions=versions)] == [[10, 11]]
    # three versions in one catalogue: any two that differ get the allowance
    three = np.array([1, 2, 3], dtype=np.int8)
    assert list(hash_neighbours(ids, hashes, 11, 4, three)) == [10, 11]
    assert list(hash_neighbours(ids, hashes, 10, 4, three)) == [10, 11]
    assert [list(p) for p in hash_pairs(hashes, 4, three)] == [[0, 1]]


def test_equal_hashes_of_two_versions_are_one_group() -> None:
    hashes = np.array([7, 7, 7], dtype=np.int64)
    versions = np.array([1, 2, 2], dtype=np.int8)
    pairs = hash_pairs(hashes, 0, versions)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 2)]  # via first holders
    groups = find_groups(np.array([4, 5, 6]), hashes, 0, versions=versions)
    assert [g.tolist() for g in groups] == [[4, 5, 6]]


def older_phash(path: Path, reducing_gap: float) -> int:
    """The pHash of a whole-decoded PNG as version 2 took it: the picture shrunk
    to the thumbnail's size with LANCZOS and the given reducing gap."""
    with Image.open(path) as image:
        frame = image.convert("RGB")
    frame = frame.resize(probe._fit(*frame.size, 256), Image.Resampling.LANCZOS,
                         reducing_gap=reducing_gap)
    return probe._phash(frame)


def bits_apart(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def test_a_big_png_is_hashed_as_the_current_version_close_to_the_previous_one(
    tmp_path: Path, make_image
) -> None:
    # 2400 px: no draft for a PNG, so the preview shrinks it by a large factor
    path = make_image(tmp_path / "big.png", seed=11, size=(2400, 1600))
    found = probe.probe_image(path, tmp_path / "thumbs", thumbnail_size=256)
    assert isinstance(found, probe.ImageFacts)
    assert found.phash_version == probe.PHASH_VERSION == 3
    assert found.phash == older_phash(path, probe.THUMBNAIL_REDUCING_GAP)
    assert bits_apart(found.phash, older_phash(path, 3.0)) <= PHASH_DRIFT
    with Image.open(thumbnail := thumbnail_path(tmp_path / "thumbs", found.sha256)) as thumb:
        assert thumb.size == (256, 171), thumbnail


def test_a_row_an_older_version_hashed_still_finds_its_copies_by_dupes(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    original = make_image(library / "original.png", seed=12, size=(1800, 1200))
    with Image.open(original) as image:
        image.convert("RGB").resize((900, 600)).save(library / "copy.jpg", quality=88)
    make_image(library / "other.png", seed=13, size=(1800, 1200))
    run_scan(catalog, library, tmp_path)
    shas = {Path(path).name: sha for sha, path in catalog.db.reader().execute(
        "SELECT c.sha256, f.path FROM file f JOIN content c ON c.id = f.content_id")}
    rows = facts(catalog)
    copy_hash = int(rows[shas["copy.jpg"]][5])  # type: ignore[call-overload]
    assert bits_apart(copy_hash, int(rows[shas["original.png"]][5])) <= 2  # type: ignore[call-overload]
    # The original as an older scan left it: its hash a few bits further from the
    # copy's than the distance allows within one version.
    moved = copy_hash
    for bit in (3, 17, 29, 41, 55, 60):  # 6 bits: beyond 4, within 4 + PHASH_DRIFT
        moved ^= 1 << bit
    moved = moved - (1 << 64) if moved >= 1 << 63 else moved
    with catalog.db.write() as conn:
        conn.execute("UPDATE content SET phash = ?, phash_version = 2 WHERE sha256 = ?",
                     (moved, shas["original.png"]))

    def dupes_of(name: str) -> set[str]:
        page = catalog.search(parse_query(f"dupes:{shas[name][:12]}"), limit=10)
        by_sha = {sha: key for key, sha in shas.items()}
        return {by_sha[item.id] for item in page.items}

    assert dupes_of("original.png") == {"original.png", "copy.jpg"}
    assert dupes_of("copy.jpg") == {"original.png", "copy.jpg"}
    # the same hash recorded as the current version is too far for the distance
    with catalog.db.write() as conn:
        conn.execute("UPDATE content SET phash_version = ? WHERE sha256 = ?",
                     (probe.PHASH_VERSION, shas["original.png"]))
    assert dupes_of("copy.jpg") == {"copy.jpg"}
