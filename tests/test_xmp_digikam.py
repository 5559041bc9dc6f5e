"""PxIMSE against sidecars that digiKam itself wrote (tests/fixtures/digikam, made
by digiKam 7.9's metadata engine): every keyword field digiKam reads is kept in
step, its bare sidecar is taken for the empty packet it is, and what cannot be
written is reported. Results are read back with exiv2, the library digiKam uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.xmp_tools import exiftool, exiv2_xmp, invoke, library_builder, needs_tools, tag

from pximse.integrations.digikam.acdsee_categories import from_categories, to_categories
from pximse.integrations.digikam.keyword_merge import (
    SidecarKeywords,
    merge_keywords,
    strip_keywords,
)
from pximse.integrations.digikam.tag_paths import ImageKeywords
from pximse.integrations.digikam.xmp_packet import read_packet

FIXTURES = Path(__file__).parent / "fixtures" / "digikam"
KEYWORD_FIELDS = ("Xmp.digiKam.TagsList", "Xmp.MicrosoftPhoto.LastKeywordXMP",
                  "Xmp.lr.hierarchicalSubject", "Xmp.mediapro.CatalogSets")


@pytest.fixture
def setup(library: Path, make_image, make_config):
    return library_builder(library, make_image, make_config)


def place(name: str, sidecar: Path) -> Path:
    shutil.copy(FIXTURES / name, sidecar)
    return sidecar


def fields(sidecar: Path) -> dict[str, list[str]]:
    """The keyword fields digiKam reads, as exiv2 reads them; ACDSee's tree as paths."""
    keys = exiv2_xmp(sidecar)
    found: dict[str, list[str]] = {key: list(keys.get(key, [])) for key in KEYWORD_FIELDS}
    found["Xmp.dc.subject"] = list(keys.get("Xmp.dc.subject", []))
    found["Xmp.acdsee.categories"] = list(from_categories(str(keys.get(
        "Xmp.acdsee.categories", ""))))
    return found


def pximse_entries(found: dict[str, list[str]]) -> list[str]:
    return [value for key, values in found.items() if key != "Xmp.dc.subject"
            for value in values if value.startswith("PxIMSE")]


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nothing can be written in or deleted from, for root too."""
    os.chmod(folder, 0o555)
    immutable = False
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True, check=False).returncode:
            os.chmod(folder, 0o755)
            pytest.skip("running as root on a file system without chattr +i")
        immutable = True
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        os.chmod(folder, 0o755)


# -- the fixtures as digiKam wrote them ----------------------------------------------


@needs_tools
def test_digikams_own_sidecars_read_the_same_fast_and_through_exiftool() -> None:
    from pximse.integrations.digikam.exiftool_session import ExiftoolSession
    from pximse.integrations.digikam.sidecar_writer import _SIDECAR_TAGS, keywords_of

    paths = [str(FIXTURES / name) for name in ("tagged.xmp", "pximse_only.xmp",
                                                 "japanese.xmp")]
    with ExiftoolSession() as session:
        records = session.read(paths, _SIDECAR_TAGS)
    for path in paths:
        packet = read_packet(path)
        assert packet.exact and packet.error is None, path
        assert packet.keywords == keywords_of(records[path]), path
    tagged = read_packet(str(FIXTURES / "tagged.xmp")).keywords
    assert tagged.last_keywords == tagged.tags_list  # all five fields, as digiKam wrote them
    assert tagged.catalog_sets == tagged.hierarchical
    assert {"People/Ann", "Mood/smile", "PxIMSE/character/hatsune miku"} <= set(tagged.acdsee)
    bare = read_packet(str(FIXTURES / "bare.xmp"))
    assert bare.error is None and bare.empty and bare.keywords == SidecarKeywords()
    # exiv2 and exiftool accept digiKam's bare sidecar too.
    assert exiv2_xmp(FIXTURES / "bare.xmp") == {}
    assert subprocess.run(["exiftool", "-q", str(FIXTURES / "bare.xmp")],
                          capture_output=True, check=False).returncode == 0


def test_acdsee_tree_round_trip() -> None:
    paths = ("PxIMSE/general/long hair", "PxIMSE/rating/general", "People/Ann", "People")
    assert set(from_categories(to_categories(paths))) == set(paths)
    assert to_categories(()) == ""


def test_pximse_entries_in_last_keyword_xmp_are_not_the_users() -> None:
    # digiKam fills LastKeywordXMP like TagsList: PxIMSE's paths in it are PxIMSE's.
    current = SidecarKeywords(tags_list=("PxIMSE/general/smile",),
                              last_keywords=("PxIMSE/general/smile",), subjects=("smile",))
    stripped = strip_keywords(current, "PxIMSE")
    assert stripped == SidecarKeywords()
    user = SidecarKeywords(last_keywords=("Mood/smile", "PxIMSE/general/smile"),
                           catalog_sets=("Mood|smile", "PxIMSE|general|smile"),
                           subjects=("smile",))
    stripped = strip_keywords(user, "PxIMSE")
    assert stripped.last_keywords == ("Mood/smile",) and stripped.subjects == ("smile",)
    assert stripped.catalog_sets == ("Mood|smile",)
    ours = ImageKeywords(("PxIMSE/general/cat",), ("PxIMSE|general|cat",), ("cat",))
    merged = merge_keywords(user, ours, "PxIMSE")
    assert merged.last_keywords == ("Mood/smile", "PxIMSE/general/cat")
    assert merged.catalog_sets == ("Mood|smile", "PxIMSE|general|cat")
    assert merged.acdsee == ()  # a field the sidecar lacks is not added


# -- writing and removing over digiKam's sidecars -------------------------------------


@needs_tools
def test_remove_takes_pximse_out_of_every_field_digikam_reads(setup, library) -> None:
    config, catalog = setup()
    only = place("pximse_only.xmp", library / "a.png.xmp")
    mixed = place("tagged.xmp", library / "c.png.xmp")
    code, output = invoke(config, "remove", "--json")
    assert code == 0, output
    assert json.loads(output)["updated"] == 2
    found = fields(only)
    assert pximse_entries(found) == [] and found["Xmp.dc.subject"] == []
    found = fields(mixed)
    assert pximse_entries(found) == []
    assert found["Xmp.digiKam.TagsList"] == ["People/Ann", "Mood/smile"]
    assert found["Xmp.MicrosoftPhoto.LastKeywordXMP"] == ["People/Ann", "Mood/smile"]
    assert found["Xmp.mediapro.CatalogSets"] == ["People|Ann", "Mood|smile"]
    assert set(found["Xmp.acdsee.categories"]) == {"People/Ann", "Mood/smile"}
    # "smile" stays: the user's Mood/smile claims it; PxIMSE's other words go.
    assert found["Xmp.dc.subject"] == ["Ann", "smile"]
    assert json.loads(invoke(config, "remove", "--json")[1])["unchanged"] == 2
    catalog.close()


@needs_tools
def test_a_dropped_tag_leaves_every_field_and_dc_subject(setup, library) -> None:
    config, catalog = setup()
    sidecar = place("pximse_only.xmp", library / "a.png.xmp")
    tag(catalog, library / "a.png", {"long_hair": 0.9, "rating:general": 0.9})  # smile gone
    code, output = invoke(config, "write", "--json")
    assert code == 0 and json.loads(output)["updated"] == 1, output
    found = fields(sidecar)
    for key in ("Xmp.digiKam.TagsList", "Xmp.MicrosoftPhoto.LastKeywordXMP"):
        assert found[key] == ["PxIMSE/general/long hair", "PxIMSE/rating/general"], key
    for key in ("Xmp.lr.hierarchicalSubject", "Xmp.mediapro.CatalogSets"):
        assert found[key] == ["PxIMSE|general|long hair", "PxIMSE|rating|general"], key
    assert set(found["Xmp.acdsee.categories"]) == {"PxIMSE/general/long hair",
                                                    "PxIMSE/rating/general"}
    assert found["Xmp.dc.subject"] == ["long hair", "general"]
    catalog.close()


@pytest.mark.slow
@needs_tools
def test_no_rewrite_when_tagslist_is_empty_and_last_keyword_xmp_holds_pximse(
    setup, library
) -> None:
    config, catalog = setup()
    sidecar = place("pximse_only.xmp", library / "a.png.xmp")
    exiftool("-overwrite_original", "-XMP-digiKam:TagsList=", str(sidecar))
    tag(catalog, library / "a.png", {"long_hair": 0.9, "smile": 0.9, "rating:general": 0.9})
    assert invoke(config, "write")[0] == 0
    assert fields(sidecar)["Xmp.digiKam.TagsList"] == [
        "PxIMSE/general/long hair", "PxIMSE/general/smile", "PxIMSE/rating/general"]
    for _ in range(2):
        os.utime(sidecar, ns=(10**18, 10**18))
        code, output = invoke(config, "write", "--json")
        assert code == 0 and json.loads(output)["unchanged"] == 1, output
        assert sidecar.stat().st_mtime_ns == 10**18  # same content: not written again
    catalog.close()


@needs_tools
def test_digikams_bare_sidecar_is_filled_not_called_malformed(setup, library) -> None:
    config, catalog = setup()
    sidecar = place("bare.xmp", library / "a.png.xmp")
    assert invoke(config, "write", "--json")[0] == 0  # nothing to write: left as it is
    assert sidecar.read_bytes() == (FIXTURES / "bare.xmp").read_bytes()
    tag(catalog, library / "a.png", {"long_hair": 0.9})
    code, output = invoke(config, "write", "--json")
    report = json.loads(output)
    assert code == 0 and report["updated"] == 1 and report["failed"] == 0, output
    assert fields(sidecar)["Xmp.digiKam.TagsList"] == ["PxIMSE/general/long hair"]
    assert "Xmp.pximse.Sidecar" not in exiv2_xmp(sidecar)  # digiKam's file, not PxIMSE's
    assert json.loads(invoke(config, "write", "--json")[1])["unchanged"] == 1
    code, output = invoke(config, "remove", "--json")
    assert code == 0 and json.loads(output)["updated"] == 1, output
    assert sidecar.exists() and pximse_entries(fields(sidecar)) == []
    place("bare.xmp", sidecar)
    code, output = invoke(config, "remove", "--json")
    assert code == 0 and json.loads(output)["unchanged"] == 1
    catalog.close()


@needs_tools
def test_japanese_paths_keep_the_users_own(setup, library) -> None:
    config, catalog = setup()
    sidecar = place("japanese.xmp", library / "a.png.xmp")
    code, output = invoke(config, "remove", "--json")
    assert code == 0, output
    found = fields(sidecar)
    assert found["Xmp.digiKam.TagsList"] == ["人物/初音ミク"]
    assert found["Xmp.dc.subject"] == ["初音ミク"]  # claimed by the user's path
    assert pximse_entries(found) == []
    catalog.close()


# -- what cannot be written is reported, file by file --------------------------------


@needs_tools
def test_a_read_only_folder_is_reported_not_a_traceback(setup, library, make_image) -> None:
    config, catalog = setup()
    folder = library / "読み取り専用"
    make_image(folder / "d.png", seed=7)
    make_image(folder / "e.png", seed=8)
    from pximse.library.scan import scan_roots

    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
    tag(catalog, folder / "d.png", {"cat": 0.9})
    tag(catalog, folder / "e.png", {"dog": 0.9})
    tag(catalog, library / "a.png", {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    place("tagged.xmp", folder / "e.png.xmp")  # digiKam's, to be updated in place
    with read_only(folder):
        code, output = invoke(config, "remove", "--json")
        report = json.loads(output)
        assert code == 1  # --json too: a sidecar was left alone
        assert report["deleted"] == 1 and report["failed"] == 2, output  # a.png's went
        failures = {Path(f["path"]).name: f["reason"] for f in report["failures"]}
        assert set(failures) == {"d.png.xmp", "e.png.xmp"}
        for reason in failures.values():
            assert "read-only" in reason and ".pximse-" not in reason and "&#x" not in reason
        assert "読み取り専用" in failures["e.png.xmp"]
        code, output = invoke(config, "remove")
        assert code == 1 and "Traceback" not in output
    assert invoke(config, "remove")[0] == 0  # writable again: done
    catalog.close()


@needs_tools
def test_an_image_gone_since_the_scan_is_reported_as_such(setup, library) -> None:
    config, catalog = setup()
    tag(catalog, library / "a.png", {"cat": 0.9})
    tag(catalog, library / "c.png", {"dog": 0.9})
    (library / "a.png").unlink()
    code, output = invoke(config, "write", "--json")
    report = json.loads(output)
    assert code == 1 and report["created"] == 1 and report["failed"] == 1, output
    failure = report["failures"][0]
    assert failure["path"] == str(library / "a.png")
    assert "gone" in failure["reason"] and ".pximse-" not in failure["reason"]
    assert (library / "c.png.xmp").exists()
    catalog.close()


@needs_tools
def test_touch_marks_sidecars_changed_so_digikam_reads_them_again(setup, library) -> None:
    config, catalog = setup()
    tag(catalog, library / "a.png", {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    made = library / "a.png.xmp"
    theirs = place("tagged.xmp", library / "c.png.xmp")
    for sidecar in (made, theirs):
        os.utime(sidecar, ns=(10**18, 10**18))
    content = theirs.read_bytes()
    code, output = invoke(config, "touch", "--json")
    assert code == 0 and json.loads(output)["touched"] == 2, output
    assert made.stat().st_mtime_ns != 10**18 and theirs.stat().st_mtime_ns != 10**18
    assert theirs.read_bytes() == content  # only the time moves
    for sidecar in (made, theirs):
        os.utime(sidecar, ns=(10**18, 10**18))
    code, output = invoke(config, "touch", "--json", "cat")  # a query: only a.png
    assert code == 0 and json.loads(output)["touched"] == 1, output
    assert made.stat().st_mtime_ns != 10**18 and theirs.stat().st_mtime_ns == 10**18
    catalog.close()
