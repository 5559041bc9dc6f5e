"""A root that is not there is offline, whatever the mount table says: an
unmounted drive (its empty mount point left behind), another drive mounted in
its place, a root whose every file vanished at once. Nothing is deleted, and
when the drive returns nothing is hashed again.

The drive is a real tmpfs, bind-mounted on the root (a tmpfs loses its files
when unmounted; the bind mount comes and goes while the "drive" keeps them).
Mounting needs privileges: those tests are skipped, with the reason, where the
sandbox does not allow it (CI without root)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import Mounts
from helpers.pictures import png_bytes
from helpers.waiting import wait_for
from helpers.watched import Watched

from pximse.config import RootConfig, ScanConfig
from pximse.library import scan as scan_module
from pximse.library.presence import VANISHED_MIN_FILES, mount_point
from pximse.library.scan import ScanReport, scan_roots
from pximse.store.sqlite.catalog import SqliteCatalog


@pytest.fixture
def drive(tmp_path: Path, mounts: Mounts) -> tuple[Path, Path]:
    """(the drive, the root it is mounted on) with 12 images on the drive."""
    store = mounts.tmpfs(tmp_path / "drive")
    (store / "pixiv").mkdir()
    for i in range(12):
        (store / "pixiv" / f"{i}.png").write_bytes(png_bytes(i))
    root = tmp_path / "lib"
    root.mkdir()
    mounts.bind(store, root)
    return store, root


def scan(catalog: SqliteCatalog, root: Path, tmp_path: Path) -> ScanReport:
    return scan_roots(catalog, [RootConfig(name="lib", path=root)],
                      thumbnail_dir=tmp_path / "thumbs", config=ScanConfig(workers=1))


def forbid_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise AssertionError(f"a file was read again: {args}")

    monkeypatch.setattr(scan_module, "identify_file", boom)
    monkeypatch.setattr(scan_module, "probe_for_catalog", boom)


def files_by_state(catalog: SqliteCatalog) -> dict[str, int]:
    return dict(catalog.db.reader().execute("SELECT state, count(*) FROM file GROUP BY state"))


def root_status(catalog: SqliteCatalog) -> dict[str, object]:
    [root] = catalog.status()["roots"]
    return root  # type: ignore[no-any-return]


def test_an_unmounted_drive_is_offline_and_nothing_is_deleted(
    catalog: SqliteCatalog, tmp_path: Path, mounts: Mounts, drive: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, root = drive
    assert scan(catalog, root, tmp_path).new_images == 12
    assert catalog.root_identity(1) == (os.stat(root).st_dev, str(root))

    mounts.unmount(root)  # the empty mount point is left behind
    (root / "left behind.png").write_bytes(png_bytes(99))  # and may even hold a file
    report = scan(catalog, root, tmp_path)
    assert report.offline_roots == ["lib"] and report.removed == 0
    assert f"nothing is mounted at {root}" in report.offline_why["lib"]
    assert files_by_state(catalog) == {"offline": 12}
    status = root_status(catalog)
    assert status["online"] is False and "nothing is mounted" in str(status["offline_reason"])
    assert catalog.status()["images_offline"] == 12

    (root / "left behind.png").unlink()
    mounts.bind(store, root)  # the drive is back
    forbid_reading(monkeypatch)
    report = scan(catalog, root, tmp_path)
    assert (report.restored, report.new_images, report.removed) == (12, 0, 0)
    assert files_by_state(catalog) == {"ok": 12}
    assert root_status(catalog)["offline_reason"] is None


def test_another_drive_in_its_place_is_offline_until_it_holds_the_files(
    catalog: SqliteCatalog, tmp_path: Path, mounts: Mounts, drive: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, root = drive
    scan(catalog, root, tmp_path)
    mounts.unmount(root)
    other = mounts.tmpfs(root)  # another (empty) drive mounted at the same place
    (other / "unrelated.png").write_bytes(png_bytes(50))
    report = scan(catalog, root, tmp_path)
    assert report.offline_roots == ["lib"] and report.removed == 0
    assert "another drive" in report.offline_why["lib"]
    assert files_by_state(catalog) == {"offline": 12}

    # The library copied onto the new drive (sizes and mtimes kept): the same library.
    shutil.copytree(store / "pixiv", other / "pixiv", copy_function=shutil.copy2)
    (other / "unrelated.png").unlink()
    forbid_reading(monkeypatch)
    report = scan(catalog, root, tmp_path)
    assert (report.restored, report.new_images, report.removed) == (12, 0, 0)
    assert catalog.root_identity(1) == (os.stat(other).st_dev, str(root))


def test_a_root_whose_every_file_vanished_is_offline(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    (library / "a").mkdir()
    for i in range(VANISHED_MIN_FILES + 2):
        (library / "a" / f"{i}.png").write_bytes(png_bytes(i))
    scan(catalog, library, tmp_path)
    for path in (library / "a").iterdir():  # a share that shows its folders, not its files
        path.unlink()
    report = scan(catalog, library, tmp_path)
    assert report.offline_roots == ["lib"] and report.removed == 0
    assert "every file it held is gone at once" in report.offline_why["lib"]
    assert files_by_state(catalog) == {"offline": VANISHED_MIN_FILES + 2}

    # Files arrive again: it is a real, emptied folder after all; the old ones go.
    (library / "a" / "new.png").write_bytes(png_bytes(100))
    report = scan(catalog, library, tmp_path)
    assert (report.new_images, report.removed) == (1, VANISHED_MIN_FILES + 2)
    assert files_by_state(catalog) == {"ok": 1}


def test_a_small_root_that_is_emptied_is_just_empty(
    catalog: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    for i in range(3):
        (library / f"{i}.png").write_bytes(png_bytes(i))
    scan(catalog, library, tmp_path)
    for path in library.iterdir():
        path.unlink()
    report = scan(catalog, library, tmp_path)
    assert report.offline_roots == [] and report.removed == 3


@pytest.mark.slow
def test_the_watcher_takes_an_unmount_for_offline_and_rearms_on_return(
    tmp_path: Path, mounts: Mounts, drive: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, root = drive
    watched = Watched(tmp_path, [RootConfig(name="lib", path=root)])
    try:
        assert watched.count("state = 'ok'") == 12
        images = watched.total("new_images")
        mounts.unmount(root)
        wait_for(lambda: watched.watcher.modes.get("lib") == "offline", timeout=30,
                 what="the root to go offline")
        assert any(mode == "offline" and "nothing is mounted" in (why or "")
                   for _, mode, why in watched.modes)
        wait_for(lambda: watched.count("state = 'offline'") == 12, what="offline files")
        (root / "decoy.png").write_bytes(png_bytes(77))  # on the bare mount point
        time.sleep(1.5)
        assert watched.count() == 12  # the mount point is not watched, nothing deleted
        (root / "decoy.png").unlink()

        from pximse.library import scan as scanning

        hashed: list[str] = []
        real = scanning.identify_file
        monkeypatch.setattr(scanning, "identify_file",
                            lambda job: hashed.append(job[0]) or real(job))
        mounts.bind(store, root)
        wait_for(lambda: watched.count("state = 'ok'") == 12, timeout=60,
                 what="the files back online")
        wait_for(lambda: watched.watcher.modes.get("lib") == "watching", what="watching again")
        assert hashed == [] and watched.total("new_images") == images
        (root / "pixiv" / "after.png").write_bytes(png_bytes(200))  # watched on the drive
        wait_for(lambda: watched.state(root / "pixiv" / "after.png") == "ok", timeout=30,
                 what="a file written after the return")
    finally:
        watched.close()


def test_mount_point_of_a_folder_inside_a_mount(tmp_path: Path, mounts: Mounts) -> None:
    drive = mounts.tmpfs(tmp_path / "m")
    (drive / "x" / "y").mkdir(parents=True)
    assert mount_point(str(drive / "x" / "y")) == str(drive)
    assert mount_point(str(drive)) == str(drive)
