"""XMP sidecar write-back from the MongoDB catalogue (mongomock), held to the
SQLite one: the same scan and model writes must give the same sidecars, the
follower must pick up a later change from the write generation, and the
``pximse xmp`` commands must work on it."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import mongomock
import pytest
from click.testing import CliRunner
from helpers.mongo_tee import TeeCatalog
from helpers.xmp_tools import MODEL, exiv2_xmp, needs_tools

from pximse.cli import main
from pximse.config import load_config
from pximse.integrations.digikam.catalog_images import (
    XmpSettings,
    all_content_ids,
    changed_content_ids,
    sidecar_jobs,
    supports,
    write_generation,
)
from pximse.integrations.digikam.follower import STATE_FILE, SidecarFollower, follower_thread
from pximse.library.scan import scan_roots
from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.mongo.database import MongoDatabase
from pximse.store.sqlite.catalog import SqliteCatalog

THRESHOLD = 0.35


class ScanTee(TeeCatalog):
    """The tee, for the scanner too: it hands some calls a generator, which
    both catalogues must see."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        both = super().__getattr__(name)
        if not callable(both):
            return both

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            args = tuple(a if isinstance(a, str | bytes | dict | list | tuple | set) or
                         not hasattr(a, "__next__") else list(a) for a in args)
            return both(*args, **kwargs)

        return call


@pytest.fixture
def roots(tmp_path: Path, make_image) -> tuple[Path, Path]:
    """Two roots: ``lib`` writes sidecars, ``quiet`` (xmp = false) does not."""
    lib, quiet = tmp_path / "lib", tmp_path / "quiet"
    make_image(lib / "a.png", seed=1)
    make_image(lib / "copy of a.png", seed=1)  # the same content twice in one root
    make_image(lib / "sub" / "b.jpg", seed=2)
    make_image(lib / "c.png", seed=3)
    make_image(lib / "12345_67890123_p0.png", seed=5)  # Pixiv, by user id
    make_image(lib / "ウサギ-123456" / "98765432_p1-夏の日.png", seed=6)  # Pixiv, artist name
    make_image(lib / "yande.re 431721 breasts christmas.png", seed=7)  # source tags
    make_image(quiet / "d.png", seed=4)
    make_image(quiet / "a again.png", seed=1)  # a's content in a root that writes none
    return lib, quiet


def write_config(tmp_path: Path, lib: Path, quiet: Path, *, backend: str = "embedded"):  # type: ignore[no-untyped-def]
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{lib}"\n\n'
        f'[[library.roots]]\nname = "quiet"\npath = "{quiet}"\nxmp = false\n\n'
        f'[backend]\nkind = "{backend}"\n\n'
        f"[xmp]\nwrite = true\nocr_description = true\n",
        encoding="utf-8",
    )
    return load_config(config_file, tmp_path / "data", env={})


def mongo_catalog(client: mongomock.MongoClient) -> MongoCatalog:
    return MongoCatalog(MongoDatabase(client, "pximse"), tag_threshold=THRESHOLD)


def content_of(catalog, path: Path) -> int:  # type: ignore[no-untyped-def]
    """The content id of a file, read from either catalogue the way it stores it."""
    if hasattr(catalog, "mdb"):
        return int(catalog.mdb.files.find_one({"path": str(path)})["content_id"])
    row = catalog.db.reader().execute(
        "SELECT content_id FROM file WHERE path = ?", (str(path),)).fetchone()
    return int(row[0])


def sidecars(*folders: Path) -> dict[str, dict[str, list[str] | str]]:
    """Every sidecar under the folders, read back by exiv2, by relative path."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.xmp")):
            found[f"{folder.name}/{path.relative_to(folder)}"] = exiv2_xmp(path)
    return found


def feed(catalog, lib: Path) -> None:  # type: ignore[no-untyped-def]
    """The model writes: taggers' tags (two models, one replacing the other),
    a manual tag, OCR text."""
    a, b, c = content_of(catalog, lib / "a.png"), content_of(catalog, lib / "sub" / "b.jpg"), \
        content_of(catalog, lib / "c.png")
    pixiv = content_of(catalog, lib / "ウサギ-123456" / "98765432_p1-夏の日.png")
    catalog.set_model_tags_many([
        (a, "old-model", {"cat": 0.9}),
        (b, MODEL, {"dog": 0.9}),
    ])
    catalog.set_model_tags_many([
        (a, MODEL, {"Long Hair": 0.9, "smile": 0.2, "rating:general": 0.8,
                    "rating:sensitive": 0.3, "character:hatsune_miku": 0.95,
                    "character:kagamine_rin": 0.5, "copyright:vocaloid": 0.7}),
        (pixiv, MODEL, {"long_hair": 0.6, "outdoors": 0.4}),
    ])
    catalog.set_tags(a, "manual", 2, {"Favourite Scene": 1.0, "long hair": 1.0})
    catalog.set_tags(c, "manual", 2, {"to sort": 1.0})
    catalog.set_ocr_many([(a, "ocr-test", "ありがとう & <3\nline two"), (b, "ocr-test", "  ")])


@needs_tools
def test_the_same_writes_give_the_same_sidecars_on_both_catalogues(tmp_path, roots) -> None:
    lib, quiet = roots
    config = write_config(tmp_path, lib, quiet)
    sqlite = SqliteCatalog(tmp_path / "catalog.db", tag_threshold=THRESHOLD)
    mongo = mongo_catalog(mongomock.MongoClient())
    tee = ScanTee(sqlite, mongo)
    scan_roots(tee, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    feed(tee, lib)
    (lib / "c.png").unlink()  # gone: its content is offline, no sidecar
    scan_roots(tee, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    assert supports(sqlite) and supports(mongo)

    settings = XmpSettings.from_config(config)
    ids = all_content_ids(sqlite)
    assert all_content_ids(mongo) == ids and len(ids) == 6  # c.png is gone
    assert changed_content_ids(mongo, 0) == changed_content_ids(sqlite, 0) == ids
    for every_root, with_ocr in ((False, None), (True, True), (True, False)):
        jobs = sidecar_jobs(sqlite, ids, settings, every_root=every_root, with_ocr=with_ocr)
        assert sidecar_jobs(mongo, ids, settings, every_root=every_root,
                            with_ocr=with_ocr) == jobs
    assert len(sidecar_jobs(sqlite, ids, settings, every_root=True)) == 8

    written = {}
    for catalog in (sqlite, mongo):
        follower = SidecarFollower(catalog, config)
        try:
            report = follower.run_once(full=True, log_failures=False)
        finally:
            follower.close()
        assert (report.created, report.failed) == (6, []), report
        written[type(catalog).__name__] = sidecars(lib, quiet)
        for path in [*lib.rglob("*.xmp"), *quiet.rglob("*.xmp")]:
            path.unlink()
        (config.data_dir / STATE_FILE).unlink()
    assert written["MongoCatalog"] == written["SqliteCatalog"]
    got = written["MongoCatalog"]
    assert sorted(got) == [
        "lib/12345_67890123_p0.png.xmp", "lib/a.png.xmp", "lib/copy of a.png.xmp",
        "lib/sub/b.jpg.xmp", "lib/yande.re 431721 breasts christmas.png.xmp",
        "lib/ウサギ-123456/98765432_p1-夏の日.png.xmp"]
    a = got["lib/a.png.xmp"]
    # "Long Hair" is how the tag was first written, whichever origin wrote it later.
    assert a["Xmp.digiKam.TagsList"] == [
        "PxIMSE/general/Favourite Scene", "PxIMSE/general/Long Hair",
        "PxIMSE/character/hatsune miku", "PxIMSE/copyright/vocaloid",
        "PxIMSE/rating/general"]
    assert a["Xmp.dc.description"] == "ありがとう & <3\nline two"
    assert got["lib/copy of a.png.xmp"] == a
    assert got["lib/sub/b.jpg.xmp"]["Xmp.dc.subject"] == ["dog"]
    assert "Xmp.dc.description" not in got["lib/sub/b.jpg.xmp"]
    assert got["lib/12345_67890123_p0.png.xmp"]["Xmp.digiKam.TagsList"] == [
        "PxIMSE/source/pixiv"]
    assert got["lib/yande.re 431721 breasts christmas.png.xmp"]["Xmp.dc.subject"] == [
        "breasts", "christmas", "yandere"]
    assert got["lib/ウサギ-123456/98765432_p1-夏の日.png.xmp"]["Xmp.digiKam.TagsList"] == [
        "PxIMSE/general/Long Hair", "PxIMSE/artist/ウサギ", "PxIMSE/source/pixiv"]
    sqlite.close()


@needs_tools
def test_the_follower_on_mongodb_rewrites_only_what_changed(tmp_path, roots, monkeypatch) -> None:
    lib, quiet = roots
    config = write_config(tmp_path, lib, quiet, backend="mongodb")
    catalog = mongo_catalog(mongomock.MongoClient())
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    a_sidecar, b_sidecar = lib / "a.png.xmp", lib / "sub" / "b.jpg.xmp"
    a, b = content_of(catalog, lib / "a.png"), content_of(catalog, lib / "sub" / "b.jpg")
    catalog.set_tags(a, MODEL, 0, {"cat": 0.9})
    catalog.set_tags(b, MODEL, 0, {"cat": 0.9})
    follower = SidecarFollower(catalog, config)
    try:
        # a, its copy, b, and the three with tags from their file names
        assert follower.run_once(log_failures=False).created == 6
        assert follower.synced_generation() == write_generation(catalog) > 0
        assert follower.run_once().changed == 0
        assert follower.pending() == 0
        stamps = {}
        for sidecar in lib.rglob("*.xmp"):  # any write would move them
            old = sidecar.stat().st_mtime_ns - 10**9
            os.utime(sidecar, ns=(old, old))
            stamps[sidecar] = old
        catalog.set_tags(a, MODEL, 0, {"dog": 0.9})
        assert follower.pending() == 1
        report = follower.run_once()
        assert (report.updated, report.unchanged, report.created) == (2, 0, 0)
        assert follower.run_once().changed == 0
        assert follower.pending() == 0
        moved = sorted(p.name for p, old in stamps.items() if p.stat().st_mtime_ns != old)
        assert moved == ["a.png.xmp", "copy of a.png.xmp"]
        assert exiv2_xmp(a_sidecar)["Xmp.dc.subject"] == ["dog"]
        assert exiv2_xmp(b_sidecar)["Xmp.dc.subject"] == ["cat"]
    finally:
        follower.close()

    # The daemon's thread does the same on MongoDB (no longer refused).
    stop, wake = threading.Event(), threading.Event()
    thread = follower_thread(catalog, config, stop, interval_s=0.05, wake=wake)
    assert thread is not None
    try:
        catalog.set_ocr_many([(b, "ocr-test", "written later")])
        wake.set()
        for _ in range(3000):
            if exiv2_xmp(b_sidecar).get("Xmp.dc.description") == "written later":
                break
            threading.Event().wait(0.02)
        assert exiv2_xmp(b_sidecar)["Xmp.dc.description"] == "written later"
    finally:
        stop.set()
        wake.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


@needs_tools
def test_a_write_another_process_is_still_making_is_not_missed(
    tmp_path, roots, monkeypatch
) -> None:
    """The model worker writes tags from a process of its own: its generation
    can be read while it is still updating documents."""
    lib, quiet = roots
    config = write_config(tmp_path, lib, quiet, backend="mongodb")
    client = mongomock.MongoClient()
    catalog = mongo_catalog(client)
    worker = mongo_catalog(client)  # another process's connection: a lock of its own
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    a, b = content_of(catalog, lib / "a.png"), content_of(catalog, lib / "sub" / "b.jpg")
    follower = SidecarFollower(catalog, config)
    try:
        follower.run_once(log_failures=False)
        with worker.mdb.write():  # one write call of the worker, half done
            worker._replace_tags(a, MODEL, 0, {"cat": 0.9})
            assert follower.run_once().changed == 0  # not read while under way
            worker._replace_tags(b, MODEL, 0, {"cat": 0.9})
        report = follower.run_once()  # finished: all of it
        assert (report.created, report.updated) == (3, 0)  # a, its copy, and b
        assert exiv2_xmp(lib / "sub" / "b.jpg.xmp")["Xmp.dc.subject"] == ["cat"]
        assert follower.synced_generation() == write_generation(catalog)
        assert follower.pending() == 0
    finally:
        follower.close()


def test_the_generation_read_leaves_out_a_write_in_progress() -> None:
    """MongoDB has no transactions: a write takes its generation and then updates
    documents one by one, so the generation the sidecars follow is the last one
    every write up to which has finished."""
    catalog = mongo_catalog(mongomock.MongoClient())
    with catalog.mdb.write():
        pass
    with catalog.mdb.write():
        assert write_generation(catalog) == catalog.mdb.gen - 1 > 0
    assert write_generation(catalog) == catalog.mdb.gen == catalog.mdb.counter("gen")


@pytest.mark.slow
@needs_tools
def test_the_xmp_commands_on_a_mongodb_catalogue(tmp_path, roots, monkeypatch) -> None:
    lib, quiet = roots
    config = write_config(tmp_path, lib, quiet, backend="mongodb")
    client = mongomock.MongoClient()
    # The commands open the catalogue [backend] names; here, that MongoDB on mongomock.
    monkeypatch.setattr("pximse.store.backends.open_catalog",
                        lambda config, **_options: mongo_catalog(client))
    catalog = mongo_catalog(client)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    catalog.set_tags(content_of(catalog, lib / "a.png"), MODEL, 0, {"cat": 0.9})
    catalog.set_tags(content_of(catalog, lib / "c.png"), MODEL, 0, {"dog": 0.9})

    def invoke(*args: str) -> dict:  # type: ignore[type-arg]
        result = CliRunner().invoke(
            main, ["xmp", args[0], "--config", str(config.config_path), "--data-dir",
                   str(config.data_dir), "--json", *args[1:]], env={}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    status = invoke("status")
    assert status["roots"] == {"lib": True, "quiet": False}
    assert status["generation"] == catalog.mdb.counter("gen")
    assert status["check"]["would_create"] == 6 and status["synced_generation"] == 0
    assert invoke("write", "tag:dog")["created"] == 1
    assert exiv2_xmp(lib / "c.png.xmp")["Xmp.dc.subject"] == ["dog"]
    assert not (lib / "a.png.xmp").exists()
    report = invoke("write")
    assert (report["created"], report["unchanged"]) == (5, 1)
    assert exiv2_xmp(lib / "copy of a.png.xmp")["Xmp.dc.subject"] == ["cat"]
    report = invoke("write")
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 6)
    status = invoke("status")
    assert status["check"]["up_to_date"] == 6
    assert status["synced_generation"] == status["generation"]
    assert status["images_changed_since"] == 0
    assert invoke("write", "--root", "quiet", "tag:cat")["created"] == 1
    assert exiv2_xmp(quiet / "a again.png.xmp")["Xmp.dc.subject"] == ["cat"]
    report = invoke("remove")
    assert (report["deleted"], report["failed"]) == (7, 0)
    assert not list(lib.rglob("*.xmp")) and not list(quiet.rglob("*.xmp"))


@pytest.mark.slow
@needs_tools
def test_the_daemon_on_mongodb_keeps_sidecars_current(tmp_path, roots) -> None:
    from pximse.api.app import create_app

    lib, quiet = roots
    config = write_config(tmp_path, lib, quiet, backend="mongodb")
    catalog = mongo_catalog(mongomock.MongoClient())
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)  # type: ignore[arg-type]
    a = content_of(catalog, lib / "a.png")
    catalog.set_tags(a, MODEL, 0, {"cat": 0.9})
    daemon = create_app(config, catalog).state.daemon
    daemon.start(scan=False, models=False, watch=False)
    sidecar = lib / "a.png.xmp"
    try:
        for _ in range(3000):
            if sidecar.exists() and exiv2_xmp(sidecar).get("Xmp.dc.subject") == ["cat"]:
                break
            threading.Event().wait(0.01)
        assert exiv2_xmp(sidecar)["Xmp.dc.subject"] == ["cat"]
        catalog.set_tags(a, MODEL, 0, {"dog": 0.9})
        for _ in range(3000):  # the next round, a few seconds later
            if exiv2_xmp(sidecar).get("Xmp.dc.subject") == ["dog"]:
                break
            threading.Event().wait(0.02)
        assert exiv2_xmp(sidecar)["Xmp.dc.subject"] == ["dog"]
    finally:
        daemon.stop()
    follower = daemon.loops.get("xmp sidecars")
    assert follower is not None
    follower.join(timeout=30)
    assert not follower.is_alive()
