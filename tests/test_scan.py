"""Scanning a library into the catalogue: what a user sees after indexing,
renaming, copying, deleting, unplugging a drive and dropping bad files in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pximse.config import RootConfig, ScanConfig
from pximse.library import identify, probe, scan
from pximse.library.scan import scan_roots
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog


def run_scan(catalog: SqliteCatalog, root: Path, tmp_path: Path, **kw: object) -> scan.ScanReport:
    return scan_roots(
        catalog,
        [RootConfig(name="lib", path=root, **kw)],  # type: ignore[arg-type]
        thumbnail_dir=tmp_path / "thumbs",
        config=ScanConfig(workers=1),
    )


def paths(catalog: SqliteCatalog, query: str = "") -> set[str]:
    page = catalog.search(parse_query(query), limit=1000)
    return {item.path for item in page.items if item.path}


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make the scan fail loudly if it reads (``identify_file``, ``read_new_file``)
    or decodes (``decode``) a file."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the scan called {names} on {args}")

    for name in names:
        if name == "decode":
            monkeypatch.setattr(probe, "_decode", boom)
        else:
            monkeypatch.setattr(scan, name, boom)


def test_first_scan_records_every_image_with_its_facts(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "a.png", seed=1, size=(120, 80))
    make_image(library / "sub" / "b.jpg", seed=2, size=(50, 100), quality=90)
    make_image(library / "sub" / "c.webp", seed=3)
    (library / "notes.txt").write_text("not an image")

    report = run_scan(catalog, library, tmp_path)

    assert (report.new_images, report.skipped, report.errors) == (3, 1, 0)
    page = catalog.search(parse_query("order:filesize"), limit=10)
    assert page.total == 3
    by_name = {Path(item.path).name: item for item in page.items}
    assert (by_name["a.png"].width, by_name["a.png"].height, by_name["a.png"].format) == (
        120, 80, "png")
    assert (by_name["b.jpg"].format, by_name["b.jpg"].height) == ("jpeg", 100)
    assert by_name["c.webp"].format == "webp"
    detail = catalog.image(by_name["a.png"].id)
    assert detail is not None and detail.phash is not None
    assert by_name["a.png"].filesize == (library / "a.png").stat().st_size
    import hashlib

    assert by_name["a.png"].id == hashlib.sha256((library / "a.png").read_bytes()).hexdigest()
    thumbs = list((tmp_path / "thumbs").rglob("*.webp"))
    assert len(thumbs) == 3


def test_unchanged_rescan_reads_no_file(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(5):
        make_image(library / f"{i}.png", seed=i)
    run_scan(catalog, library, tmp_path)
    forbid(monkeypatch, "identify_file", "read_new_file", "probe_for_catalog")

    report = run_scan(catalog, library, tmp_path)

    assert (report.unchanged, report.new_images, report.linked, report.removed) == (5, 0, 0, 0)


def test_rename_move_and_copy_are_linked_by_hash_without_decoding(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_image(library / "one.png", seed=1)
    make_image(library / "two.png", seed=2)
    run_scan(catalog, library, tmp_path)
    before = {item.id for item in catalog.search(parse_query(""), limit=10).items}

    os.rename(library / "one.png", library / "renamed.png")
    (library / "moved").mkdir()
    os.rename(library / "two.png", library / "moved" / "two.png")
    shutil.copy(library / "renamed.png", library / "copy.png")
    forbid(monkeypatch, "probe_for_catalog", "decode")

    report = run_scan(catalog, library, tmp_path)

    assert (report.new_images, report.linked, report.removed) == (0, 3, 2)
    assert {item.id for item in catalog.search(parse_query(""), limit=10).items} == before
    copied = catalog.image(next(iter(
        i.id for i in catalog.search(parse_query("path:copy.png"), limit=10).items)))
    assert copied is not None
    assert sorted(Path(p.path).name for p in copied.paths) == ["copy.png", "renamed.png"]


def test_deleted_files_leave_the_catalogue(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "keep.png", seed=1)
    make_image(library / "drop.png", seed=2)
    run_scan(catalog, library, tmp_path)
    (library / "drop.png").unlink()

    report = run_scan(catalog, library, tmp_path)

    assert report.removed == 1
    assert paths(catalog) == {str(library / "keep.png")}
    assert catalog.status()["files"] == 1


def test_missing_root_marks_offline_and_returns_without_reindexing(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_image(library / "a.png", seed=1)
    make_image(library / "b.png", seed=2)
    run_scan(catalog, library, tmp_path)
    unplugged = tmp_path / "unplugged"
    os.rename(library, unplugged)

    report = run_scan(catalog, library, tmp_path)

    assert report.offline_roots == ["lib"]
    page = catalog.search(parse_query(""), limit=10)
    assert page.total == 2 and all(item.offline for item in page.items)
    assert catalog.status()["images_offline"] == 2

    os.rename(unplugged, library)
    forbid(monkeypatch, "identify_file", "read_new_file", "probe_for_catalog")
    report = run_scan(catalog, library, tmp_path)

    assert (report.restored, report.new_images, report.removed) == (2, 0, 0)
    assert not any(item.offline for item in catalog.search(parse_query(""), limit=10).items)


def test_bad_files_are_recorded_with_a_reason_and_the_scan_goes_on(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "good.png", seed=1)
    (library / "empty.png").write_bytes(b"")
    (library / "page.jpg").write_text("<html>429 Too Many Requests</html>")
    good_jpeg = make_image(tmp_path / "whole.jpg", seed=2, size=(200, 200), quality=95)
    data = good_jpeg.read_bytes()
    (library / "cut.jpg").write_bytes(data[: len(data) // 2])
    make_image(library / "really-a-png.jpg", seed=3, fmt="PNG")

    report = run_scan(catalog, library, tmp_path)

    assert report.new_images == 2
    errors = {Path(e["path"]).name: e for e in catalog.status()["recent_errors"]}
    assert errors["empty.png"]["reason"] == "empty"
    assert errors["page.jpg"]["reason"] == "not-image"
    assert errors["cut.jpg"]["reason"] == "truncated"
    assert all(e["message"] for e in errors.values())
    [mislabelled] = catalog.search(parse_query("path:really"), limit=5).items
    assert mislabelled.format == "png"


def test_a_failed_file_is_not_retried_until_it_changes(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (library / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    first = run_scan(catalog, library, tmp_path)
    assert first.errors == 1
    calls: list[object] = []
    real = identify.read_new_file
    monkeypatch.setattr(scan, "read_new_file", lambda job: calls.append(job) or real(job))

    run_scan(catalog, library, tmp_path)
    assert calls == []

    make_image(library / "broken.png", seed=4)
    report = run_scan(catalog, library, tmp_path)
    assert (report.changed, report.new_images) == (1, 1)
    assert catalog.status()["errors"] == 0


def test_changed_content_at_the_same_path_replaces_the_old(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "x.png", seed=1)
    run_scan(catalog, library, tmp_path)
    old = catalog.search(parse_query(""), limit=5).items[0].id
    make_image(library / "x.png", seed=99, size=(70, 70))
    os.utime(library / "x.png", ns=(1, 1_000_000_000))

    run_scan(catalog, library, tmp_path)

    [item] = catalog.search(parse_query(""), limit=5).items
    assert item.id != old and item.width == 70
    assert catalog.image(old) is not None  # kept (results reusable) but not searchable


def test_decompression_bomb_is_refused_without_decoding(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "huge.png", seed=1, size=(400, 300))
    report = scan_roots(
        catalog, [RootConfig(name="lib", path=library)], thumbnail_dir=tmp_path / "t",
        config=ScanConfig(workers=1, max_image_pixels=10_000),
    )
    assert report.errors == 1
    [error] = catalog.status()["recent_errors"]
    assert error["reason"] == "too-large"


def test_filename_sources_become_searchable_fields_and_tags(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "12345_67890123_p1.png", seed=1)
    make_image(library / "67890123_p0_master1200.jpg", seed=2)
    make_image(library / "yande.re 424242 hatsune_miku long_hair thighhighs.jpg", seed=3)
    make_image(library / "yande.re 5555.png", seed=4)
    make_image(library / "holiday.png", seed=5)

    run_scan(catalog, library, tmp_path)

    pixiv = catalog.search(parse_query("source:pixiv order:+page"), limit=10).items
    assert [(i.post_id, i.page) for i in pixiv] == [("67890123", 0), ("67890123", 1)]
    assert {i.work_key for i in pixiv} == {"pixiv:67890123"}
    assert paths(catalog, "userid:12345") == {str(library / "12345_67890123_p1.png")}
    assert paths(catalog, "hatsune_miku long_hair") == {
        str(library / "yande.re 424242 hatsune_miku long_hair thighhighs.jpg")}
    assert paths(catalog, "tags1:thighhighs") == paths(catalog, "hatsune_miku")
    assert paths(catalog, "tags.thighhighs") == set()  # a source tag is not a model tag
    assert len(paths(catalog, "source:yandere")) == 2
    assert paths(catalog, "source:other") == {str(library / "holiday.png")}
    assert [t for t, _ in catalog.tags_with_prefix("hat")] == ["hatsune_miku"]


def test_include_and_exclude_patterns(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "keep" / "a.png", seed=1)
    make_image(library / "skip" / "b.png", seed=2)
    make_image(library / ".hidden" / "c.png", seed=3)
    make_image(library / "keep" / "d.jpg", seed=4)

    run_scan(catalog, library, tmp_path, include=("*.png",), exclude=("skip/", ".*"))

    assert paths(catalog) == {str(library / "keep" / "a.png")}


def test_many_files_use_the_process_pool(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    for i in range(24):
        make_image(library / f"f{i:02}.png", seed=i)
    make_image(library / "dup.png", seed=0)
    report = scan_roots(
        catalog, [RootConfig(name="lib", path=library)], thumbnail_dir=tmp_path / "t",
        config=ScanConfig(workers=2, batch_size=5),
    )
    assert (report.new_images, report.linked) == (24, 1)
    assert catalog.search(parse_query(""), limit=100).total == 24


def test_rescans_see_in_place_edits_deleted_folders_and_new_excludes(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    make_image(library / "a" / "one.png", seed=1)
    make_image(library / "a" / "two.png", seed=2)
    make_image(library / "b" / "three.png", seed=3)
    make_image(library / "b" / "deep" / "four.png", seed=4)
    run_scan(catalog, library, tmp_path)
    assert run_scan(catalog, library, tmp_path).unchanged == 4

    # Same name, same size, new bytes and a new mtime: the folder's own mtime
    # does not move, its files' stat sum does.
    old = (library / "a" / "one.png").read_bytes()
    edited = bytearray(old)
    edited[-20] ^= 0xFF
    (library / "a" / "one.png").write_bytes(bytes(edited))
    os.utime(library / "a" / "one.png", ns=(10**18, 10**18))
    report = run_scan(catalog, library, tmp_path)
    assert (report.changed, report.unchanged) == (1, 3)

    shutil.rmtree(library / "b" / "deep")
    report = run_scan(catalog, library, tmp_path)
    assert report.removed == 1 and paths(catalog, "path:four") == set()

    report = run_scan(catalog, library, tmp_path, exclude=("two.png",))
    assert report.removed == 1 and paths(catalog, "path:two") == set()


def test_names_swapped_within_a_folder_are_noticed(
    catalog: SqliteCatalog, library: Path, make_image, tmp_path: Path
) -> None:
    first = make_image(library / "x.png", seed=1)
    second = make_image(library / "y.png", seed=2)
    os.utime(first, ns=(10**18, 10**18))
    os.utime(second, ns=(10**18, 10**18))
    run_scan(catalog, library, tmp_path)
    before = {Path(i.path).name: i.id for i in catalog.search(parse_query(""), limit=5).items}
    os.rename(first, library / "tmp.png")
    os.rename(second, first)
    os.rename(library / "tmp.png", second)

    run_scan(catalog, library, tmp_path)

    after = {Path(i.path).name: i.id for i in catalog.search(parse_query(""), limit=5).items}
    assert after == {"x.png": before["y.png"], "y.png": before["x.png"]}
