"""XMP sidecars for digiKam, written by the real exiftool and read back by exiv2
(the library digiKam itself uses), so that what is checked is what digiKam sees."""

from __future__ import annotations

import doctest
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from helpers.xmp_tools import (
    content_id,
    exiftool,
    exiv2_xmp,
    invoke,
    library_builder,
    needs_tools,
    tag,
)

from pximse.config import ConfigError
from pximse.integrations.digikam import keyword_merge, tag_paths
from pximse.integrations.digikam.follower import SidecarFollower
from pximse.integrations.digikam.keyword_merge import SidecarKeywords, merge_keywords
from pximse.integrations.digikam.tag_paths import ImageKeywords, TagOptions, image_keywords
from pximse.integrations.digikam.xmp_packet import read_packet
from pximse.library.scan import scan_roots

# -- reading sidecars back, independently ------------------------------------------


# -- a real library and catalogue ---------------------------------------------------------


@pytest.fixture
def setup(library: Path, make_image, make_config):
    return library_builder(library, make_image, make_config)


# -- what goes into a sidecar ---------------------------------------------------------------


def test_module_examples() -> None:
    for module in (tag_paths, keyword_merge):
        assert doctest.testmod(module).failed == 0


def test_keywords_threshold_categories_and_names() -> None:
    tags = [
        ("long_hair", 0, 0.9), ("smile", 0, 0.49), ("character:hatsune_miku", 0, 0.8),
        ("character:kagamine_rin", 0, 0.9), ("rating:general", 0, 0.3),
        ("rating:sensitive", 0, 0.6), ("^_^", 0, 0.7), ("AC/DC", 1, 1.0),
        ("初音ミク", 1, 1.0), ("copyright:vocaloid", 2, 1.0), ("meta:highres", 0, 0.9),
    ]
    words = image_keywords(tags, source="pixiv", user_name="some_artist", options=TagOptions())
    assert words.tags_list == (
        "PxIMSE/general/AC／DC", "PxIMSE/general/^_^", "PxIMSE/general/long hair",
        "PxIMSE/general/初音ミク", "PxIMSE/character/kagamine rin",
        "PxIMSE/copyright/vocaloid", "PxIMSE/artist/some artist",
        "PxIMSE/rating/sensitive", "PxIMSE/source/pixiv",
    )
    assert words.hierarchical[0] == "PxIMSE|general|AC／DC"
    assert words.subjects[:3] == ("AC／DC", "^_^", "long hair")
    few = image_keywords(tags, source="other", user_name=None, options=TagOptions(
        root="Auto", threshold=0.4, categories=("general", "source")))
    assert few.tags_list == ("Auto/general/AC／DC", "Auto/general/^_^",
                             "Auto/general/long hair", "Auto/general/smile",
                             "Auto/general/初音ミク")


def test_merge_keeps_user_entries_in_place_and_is_idempotent() -> None:
    current = SidecarKeywords(
        tags_list=("People/Ann", "PxIMSE/general/smile", "Places/Sea", "PxIMSE/general/sky"),
        hierarchical=("People|Ann", "PxIMSE|general|smile"),
        subjects=("Ann", "smile", "Sea", "sky"),
        last_keywords=(),
    )
    # "sky" is also one of the user's own keywords (Nature/sky): it must stay.
    current = merge_keywords(current, ImageKeywords(), "PxIMSE")
    assert current.tags_list == ("People/Ann", "Places/Sea")
    assert current.subjects == ("Ann", "Sea")
    user_sky = SidecarKeywords(tags_list=("Nature/sky", "PxIMSE/general/sky"),
                               subjects=("sky",))
    assert merge_keywords(user_sky, ImageKeywords(), "PxIMSE").subjects == ("sky",)
    ours = ImageKeywords(("PxIMSE/general/cat",), ("PxIMSE|general|cat",), ("cat",))
    once = merge_keywords(current, ours, "PxIMSE")
    assert once.tags_list == ("People/Ann", "Places/Sea", "PxIMSE/general/cat")
    assert once.hierarchical == ("People|Ann", "PxIMSE|general|cat")
    assert once.subjects == ("Ann", "Sea", "cat")
    assert merge_keywords(once, ours, "PxIMSE") == once
    # A root that only starts like ours ("PxIMSE2") is the user's.
    other = SidecarKeywords(tags_list=("PxIMSE2/x", "PxIMSE/general/cat"), subjects=("x", "cat"))
    assert merge_keywords(other, ImageKeywords(), "PxIMSE").tags_list == ("PxIMSE2/x",)


def test_config_checks_the_xmp_keys(make_config) -> None:
    for extra, key in [
        ('[xmp]\ntag_root = "A/B"\n', "xmp.tag_root"),
        ('[xmp]\ntag_root = ""\n', "xmp.tag_root"),
        ('[xmp]\ncategories = ["general", "people"]\n', "xmp.categories[1]"),
        ("[xmp]\nthreshold = 2\n", "xmp.threshold"),
    ]:
        with pytest.raises(ConfigError) as info:
            make_config({}, extra)
        assert info.value.key == key
    config = make_config({}, '[xmp]\ncategories = ["rating"]\nocr_description = true\n')
    assert config.xmp.categories == ("rating",) and config.xmp.ocr_description


# -- writing, against real exiftool and exiv2 -------------------------------------------------


@needs_tools
def test_write_creates_exact_sidecars_and_rewrites_nothing_unchanged(setup, library) -> None:
    config, catalog = setup()
    tag(catalog, library / "a.png", {"long_hair": 0.9, "smile": 0.2, "rating:general": 0.8,
                                      "character:hatsune_miku": 0.95})
    code, output = invoke(config, "write", "--json")
    assert code == 0, output
    report = json.loads(output)
    # c.png and b.jpg have no tags: no sidecar for them.
    assert (report["created"], report["updated"], report["nothing"]) == (1, 0, 2)
    sidecar = library / "a.png.xmp"
    keys = exiv2_xmp(sidecar)
    assert keys["Xmp.digiKam.TagsList"] == [
        "PxIMSE/general/long hair", "PxIMSE/character/hatsune miku", "PxIMSE/rating/general"]
    assert keys["Xmp.lr.hierarchicalSubject"] == [
        "PxIMSE|general|long hair", "PxIMSE|character|hatsune miku", "PxIMSE|rating|general"]
    assert keys["Xmp.dc.subject"] == ["long hair", "hatsune miku", "general"]
    assert not (library / "c.png.xmp").exists()

    before = sidecar.stat().st_mtime_ns
    os.utime(sidecar, ns=(before - 10**9, before - 10**9))  # any write would move it
    before = sidecar.stat().st_mtime_ns
    code, output = invoke(config, "write", "--json")
    assert json.loads(output)["unchanged"] == 1 and json.loads(output)["updated"] == 0
    assert sidecar.stat().st_mtime_ns == before
    assert not [p for p in library.iterdir() if ".pximse-" in p.name]  # no temp files left
    catalog.close()


@pytest.mark.slow
@needs_tools
def test_update_touches_only_pximse_entries(setup, library) -> None:
    config, catalog = setup()
    image = library / "a.png"
    tag(catalog, image, {"long_hair": 0.9, "smile": 0.9})
    assert invoke(config, "write")[0] == 0
    sidecar = library / "a.png.xmp"
    # The user tags the image in digiKam: their own paths, a shared leaf, a rating,
    # a caption, something in a namespace PxIMSE knows nothing about.
    exiftool("-overwrite_original", "-XMP-digiKam:TagsList+=People/Ann",
             "-XMP-digiKam:TagsList+=Mood/smile", "-XMP-dc:Subject+=Ann",
             "-XMP-lr:HierarchicalSubject+=People|Ann", "-XMP-xmp:Rating=4",
             "-XMP-dc:Description=my caption", str(sidecar))
    user_before = {k: v for k, v in exiv2_xmp(sidecar).items()
                   if k not in ("Xmp.digiKam.TagsList", "Xmp.lr.hierarchicalSubject",
                                "Xmp.dc.subject")}
    tag(catalog, image, {"long_hair": 0.9, "blue_eyes": 0.8})  # smile gone, blue eyes new
    code, output = invoke(config, "write", "--json")
    assert json.loads(output)["updated"] == 1, output
    keys = exiv2_xmp(sidecar)
    assert keys["Xmp.digiKam.TagsList"] == [
        "PxIMSE/general/long hair", "People/Ann", "Mood/smile", "PxIMSE/general/blue eyes"]
    assert keys["Xmp.lr.hierarchicalSubject"] == [
        "PxIMSE|general|long hair", "People|Ann", "PxIMSE|general|blue eyes"]
    # "smile" stays: the user's Mood/smile claims it.
    assert keys["Xmp.dc.subject"] == ["long hair", "smile", "Ann", "blue eyes"]
    assert {k: v for k, v in keys.items() if k in user_before} == user_before
    assert keys["Xmp.xmp.Rating"] == "4" and keys["Xmp.dc.description"] == "my caption"
    catalog.close()


@needs_tools
def test_new_sidecar_carries_the_images_own_keywords(setup, library) -> None:
    config, catalog = setup()
    image = library / "sub" / "b.jpg"
    exiftool("-overwrite_original", "-XMP-dc:Subject=embedded", "-XMP-dc:Subject=shared",
             "-IPTC:Keywords=iptc only", "-IPTC:Keywords=shared", "-XMP-dc:Title=A title",
             str(image))
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)  # new hash
    tag(catalog, image, {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    keys = exiv2_xmp(library / "sub" / "b.jpg.xmp")
    assert keys["Xmp.digiKam.TagsList"] == ["embedded", "shared", "iptc only",
                                            "PxIMSE/general/cat"]
    assert keys["Xmp.dc.subject"] == ["embedded", "shared", "iptc only", "cat"]
    assert keys["Xmp.lr.hierarchicalSubject"] == ["PxIMSE|general|cat"]
    assert keys["Xmp.dc.title"] == "A title"  # the image's XMP comes along
    catalog.close()


@needs_tools
def test_existing_image_xmp_is_updated_instead(setup, library) -> None:
    config, catalog = setup()
    short = library / "a.xmp"
    exiftool("-o", str(short), "-XMP-digiKam:TagsList=People/Bob", "-XMP-dc:Subject=Bob",
             str(library / "a.png"))
    tag(catalog, library / "a.png", {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    assert not (library / "a.png.xmp").exists()
    keys = exiv2_xmp(short)
    assert keys["Xmp.digiKam.TagsList"] == ["People/Bob", "PxIMSE/general/cat"]
    assert keys["Xmp.dc.subject"] == ["Bob", "cat"]
    catalog.close()


@needs_tools
def test_unparseable_sidecar_is_left_alone_and_reported(setup, library) -> None:
    config, catalog = setup()
    broken = library / "a.png.xmp"
    broken.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    os.utime(broken, ns=(10**18, 10**18))
    tag(catalog, library / "a.png", {"cat": 0.9})
    tag(catalog, library / "c.png", {"dog": 0.9})
    code, output = invoke(config, "write", "--json")
    report = json.loads(output)
    assert report["failed"] == 1 and report["created"] == 1
    assert report["failures"][0]["path"] == str(broken)
    assert "not well-formed" in report["failures"][0]["reason"]
    assert broken.read_bytes() == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"
    assert broken.stat().st_mtime_ns == 10**18
    code, output = invoke(config, "write")
    assert code == 1 and str(broken) in output
    catalog.close()


@pytest.mark.slow
@needs_tools
def test_ocr_text_fills_only_an_empty_description(setup, library) -> None:
    config, catalog = setup("[xmp]\nwrite = true\nocr_description = true\n")
    a, c, b = library / "a.png", library / "c.png", library / "sub" / "b.jpg"
    exiftool("-overwrite_original", "-IPTC:Caption-Abstract=the user's caption", str(b))
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
    for image in (a, b, c):
        tag(catalog, image, {"cat": 0.9})
        catalog.set_ocr(content_id(catalog, image), "ocr-test", "ありがとう & <3\nline two")
    exiftool("-o", str(library / "c.png.xmp"), "-XMP-dc:Description=written by hand", str(c))
    assert invoke(config, "write")[0] == 0
    assert exiv2_xmp(library / "a.png.xmp")["Xmp.dc.description"] == "ありがとう & <3\nline two"
    assert exiv2_xmp(library / "c.png.xmp")["Xmp.dc.description"] == "written by hand"
    assert "Xmp.dc.description" not in exiv2_xmp(library / "sub" / "b.jpg.xmp")
    catalog.close()


@pytest.mark.slow
@needs_tools
def test_remove_keeps_user_entries_and_deletes_what_pximse_made(setup, library) -> None:
    config, catalog = setup("[xmp]\nwrite = true\nocr_description = true\n")
    a, b, c = library / "a.png", library / "sub" / "b.jpg", library / "c.png"
    user_made = library / "c.png.xmp"
    exiftool("-o", str(user_made), "-XMP-digiKam:TagsList=People/Cy", "-XMP-dc:Subject=Cy",
             str(c))
    for image in (a, b, c):
        tag(catalog, image, {"cat": 0.9})
    catalog.set_ocr(content_id(catalog, a), "ocr-test", "some text")
    assert invoke(config, "write")[0] == 0
    # The user adds a keyword of their own to b's sidecar (created by PxIMSE).
    exiftool("-overwrite_original", "-XMP-digiKam:TagsList+=People/Bea",
             "-XMP-dc:Subject+=Bea", str(library / "sub" / "b.jpg.xmp"))
    code, output = invoke(config, "remove", "--json")
    report = json.loads(output)
    assert (report["deleted"], report["updated"], report["failed"]) == (1, 2, 0), output
    assert not (library / "a.png.xmp").exists()  # PxIMSE's own, nothing else in it
    keys = exiv2_xmp(library / "sub" / "b.jpg.xmp")
    assert keys["Xmp.digiKam.TagsList"] == ["People/Bea"]
    assert keys["Xmp.dc.subject"] == ["Bea"]
    assert "Xmp.lr.hierarchicalSubject" not in keys
    keys = exiv2_xmp(user_made)
    assert keys["Xmp.digiKam.TagsList"] == ["People/Cy"] and keys["Xmp.dc.subject"] == ["Cy"]
    # Nothing of PxIMSE's left: a second remove changes nothing.
    assert json.loads(invoke(config, "remove", "--json")[1])["unchanged"] == 2
    catalog.close()


@pytest.mark.slow
@needs_tools
def test_root_switch_and_query(setup, library, tmp_path, make_image) -> None:
    other = tmp_path / "other"
    make_image(other / "d.png", seed=4)
    config, catalog = setup(
        "[xmp]\nwrite = false\n",
        roots={"lib": library, "other": other},
    )
    for image in (library / "a.png", library / "c.png", other / "d.png"):
        tag(catalog, image, {"cat": 0.9})
    code, output = invoke(config, "write")
    assert code != 0 and "no library root writes XMP sidecars" in output
    code, output = invoke(config, "write", "--root", "other", "--json")
    assert json.loads(output)["created"] == 1 and (other / "d.png.xmp").exists()
    assert not (library / "a.png.xmp").exists()
    code, output = invoke(config, "write", "--root", "lib", "--json", "width:<1")
    assert json.loads(output)["created"] == 0
    code, output = invoke(config, "write", "--root", "nope")
    assert code != 0 and "no library root named 'nope'" in output
    code, output = invoke(config, "write", "--root", "lib", "width:>abc")
    assert code != 0 and "width:>abc" in output and not (library / "a.png.xmp").exists()
    catalog.close()


@needs_tools
def test_follower_catches_up_from_the_write_generation(setup, library) -> None:
    config, catalog = setup()
    follower = SidecarFollower(catalog, config)
    try:
        tag(catalog, library / "a.png", {"cat": 0.9})
        report = follower.run_once()
        assert report.created == 1 and follower.synced_generation() > 0
        assert follower.pending() == 0
        sidecar = library / "a.png.xmp"
        assert exiv2_xmp(sidecar)["Xmp.dc.subject"] == ["cat"]
        # Nothing changed: nothing read, nothing written.
        assert follower.run_once().changed == 0
        tag(catalog, library / "a.png", {"dog": 0.9})
        tag(catalog, library / "c.png", {"dog": 0.2})  # below the threshold
        assert follower.pending() == 2
        report = follower.run_once()
        assert (report.updated, report.nothing) == (1, 1)
        assert exiv2_xmp(sidecar)["Xmp.dc.subject"] == ["dog"]
        # The state survives a restart; other settings start over.
        again = SidecarFollower(catalog, config)
        assert again.synced_generation() == follower.synced_generation()
        code, output = invoke(config, "status", "--json")
        status = json.loads(output)
        assert status["images_changed_since"] == 0 and status["roots"] == {"lib": True}
        assert status["check"]["up_to_date"] == 1 and status["check"]["would_update"] == 0
    finally:
        follower.close()
    config_file = Path(config.config_path)
    config_file.write_text(config_file.read_text() + "threshold = 0.1\n")
    changed = SidecarFollower(catalog, type(config)(**{**config.__dict__, "xmp": type(
        config.xmp)(write=True, threshold=0.1)}))
    assert changed.synced_generation() == 0
    catalog.close()


@needs_tools
def test_fast_reader_agrees_with_exiftool(tmp_path: Path) -> None:
    from pximse.integrations.digikam.exiftool_session import ExiftoolSession
    from pximse.integrations.digikam.sidecar_writer import _SIDECAR_TAGS, keywords_of

    plain = tmp_path / "plain.xmp"
    exiftool("-o", str(plain), "-XMP-digiKam:TagsList=A/b & c", "-XMP-digiKam:TagsList=1.50",
             "-XMP-dc:Subject=b & c", "-XMP-dc:Subject=1.50", "-XMP-dc:Subject= spaced ",
             "-XMP-lr:HierarchicalSubject=A|b & c", "-XMP-microsoft:LastKeywordXMP=A/b & c",
             "-XMP-dc:Description=<caption>", "-XMP-dc:Description-de=Titel", "-XMP-xmp:Rating=3")
    # exiv2, which digiKam uses, writes the same properties its own way.
    by_exiv2 = tmp_path / "exiv2.xmp"
    subprocess.run(["exiv2", "-M", "set Xmp.digiKam.TagsList XmpSeq X/y",
                    "-M", "set Xmp.dc.subject XmpBag y", str(by_exiv2)], check=False)
    if not by_exiv2.exists():  # older exiv2 cannot create a bare .xmp: copy one in
        shutil.copy(plain, by_exiv2)
        subprocess.run(["exiv2", "-M", "set Xmp.digiKam.TagsList XmpSeq X/y",
                        str(by_exiv2)], check=True)
    with ExiftoolSession() as session:
        records = session.read([str(plain), str(by_exiv2)], _SIDECAR_TAGS)
    for path in (plain, by_exiv2):
        packet = read_packet(str(path))
        assert packet.exact and packet.error is None
        assert packet.keywords == keywords_of(records[str(path)]), path
    assert read_packet(str(plain)).keywords.tags_list == ("A/b & c", "1.50")
    # A shape the fast reader does not take on (a qualified item) goes to exiftool.
    odd = tmp_path / "odd.xmp"
    odd.write_text(plain.read_text("utf-8").replace(
        "<rdf:li>1.50</rdf:li>", '<rdf:li rdf:parseType="Resource"><rdf:value>1.50</rdf:value>'
        "</rdf:li>", 1), "utf-8")
    assert not read_packet(str(odd)).exact
    assert read_packet(str(tmp_path / "missing.xmp")).error is not None


@pytest.mark.slow
@needs_tools
def test_the_daemon_keeps_sidecars_current_when_write_back_is_on(setup, library) -> None:
    from pximse.api.app import create_app

    config, catalog = setup()
    tag(catalog, library / "a.png", {"cat": 0.9})
    daemon = create_app(config, catalog).state.daemon
    daemon.start(scan=False, models=False, watch=False)
    sidecar = library / "a.png.xmp"
    try:
        for _ in range(3000):
            if sidecar.exists():
                break
            threading.Event().wait(0.01)
        assert exiv2_xmp(sidecar)["Xmp.dc.subject"] == ["cat"]
        tag(catalog, library / "a.png", {"dog": 0.9})
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
    catalog.close()


def test_the_daemon_starts_no_follower_when_write_back_is_off(setup) -> None:
    from pximse.api.app import create_app

    config, catalog = setup("")
    daemon = create_app(config, catalog).state.daemon
    daemon.start(scan=False, models=False, watch=False)
    try:
        for _ in range(500):
            if not any(t.name == "start" and t.is_alive() for t in daemon._threads):
                break
            threading.Event().wait(0.01)
        assert daemon.loops.get("xmp sidecars") is None
    finally:
        daemon.stop()
    catalog.close()


def test_a_catalogue_other_than_sqlite_is_refused_clearly(setup) -> None:
    from pximse.integrations.digikam.catalog_images import CatalogUnsupported, write_generation
    from pximse.integrations.digikam.follower import follower_thread

    config, catalog = setup()
    catalog.close()

    class ServerCatalog:  # what a server-mode catalogue looks like from here: no SQLite
        pass

    with pytest.raises(CatalogUnsupported, match="ServerCatalog is not supported"):
        write_generation(ServerCatalog())
    assert follower_thread(ServerCatalog(), config, threading.Event()) is None


DARKTABLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="3"
   darktable:xmp_version="5"
   darktable:history_end="2">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Ann</rdf:li>
     <rdf:li>beach</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>People|Ann</rdf:li>
     <rdf:li>Places|beach</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"
      darktable:params="0000000000000000"/>
     <rdf:li darktable:num="1" darktable:operation="colorin" darktable:enabled="1"
      darktable:params="gz48eJzjZBgFowABAAQQAAE="/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@needs_tools
def test_a_lightroom_or_darktable_sidecar_keeps_everything(setup, library) -> None:
    config, catalog = setup()
    sidecar = library / "a.xmp"  # darktable's and Lightroom's naming
    sidecar.write_text(DARKTABLE_SIDECAR, "utf-8")
    before = exiv2_xmp(sidecar)
    tag(catalog, library / "a.png", {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    after = exiv2_xmp(sidecar)
    # No TagsList before: digiKam read the user's hierarchicalSubject. The new
    # TagsList starts with those paths, so digiKam still shows them.
    assert after["Xmp.digiKam.TagsList"] == ["People/Ann", "Places/beach", "PxIMSE/general/cat"]
    assert after["Xmp.lr.hierarchicalSubject"] == ["People|Ann", "Places|beach",
                                                   "PxIMSE|general|cat"]
    assert after["Xmp.dc.subject"] == ["Ann", "beach", "cat"]
    ours = {"Xmp.digiKam.TagsList", "Xmp.lr.hierarchicalSubject", "Xmp.dc.subject"}
    assert {k: v for k, v in after.items() if k not in ours} == {
        k: v for k, v in before.items() if k not in ours}
    assert any(k.startswith("Xmp.darktable.history") for k in after)
    # And out again: the user's lists as they were, darktable's history untouched.
    assert invoke(config, "remove")[0] == 0
    again = exiv2_xmp(sidecar)
    assert again["Xmp.lr.hierarchicalSubject"] == before["Xmp.lr.hierarchicalSubject"]
    assert again["Xmp.dc.subject"] == before["Xmp.dc.subject"]
    assert again["Xmp.digiKam.TagsList"] == ["People/Ann", "Places/beach"]
    assert {k: v for k, v in again.items() if k not in ours} == {
        k: v for k, v in before.items() if k not in ours}
    catalog.close()


def test_a_sidecar_changed_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    from pximse.integrations.digikam.sidecar_files import commit_new, commit_replace, stamp

    sidecar, temp = tmp_path / "a.png.xmp", tmp_path / ".a.png.xmp.tmp.xmp"
    sidecar.write_text("old", "utf-8")
    read = stamp(str(sidecar))
    sidecar.write_text("changed by digiKam", "utf-8")
    temp.write_text("new", "utf-8")
    assert "changed while" in (commit_replace(str(temp), str(sidecar), read) or "")
    assert sidecar.read_text("utf-8") == "changed by digiKam" and not temp.exists()
    temp.write_text("new", "utf-8")
    assert commit_replace(str(temp), str(sidecar), stamp(str(sidecar))) is None
    assert sidecar.read_text("utf-8") == "new" and not temp.exists()
    temp.write_text("newer", "utf-8")
    assert "appeared" in (commit_new(str(temp), str(sidecar)) or "")
    assert sidecar.read_text("utf-8") == "new" and not temp.exists()


def test_seeding_does_not_take_pximse_leaves_for_the_users() -> None:
    from pximse.integrations.digikam.keyword_merge import seed_keywords

    # A sidecar whose TagsList another program dropped, PxIMSE's other lists left.
    dropped = SidecarKeywords(hierarchical=("PxIMSE|general|cat",), subjects=("Ann", "cat"))
    assert seed_keywords(dropped, root="PxIMSE").tags_list == ("Ann",)
    lightroom = SidecarKeywords(hierarchical=("People|Ann", "PxIMSE|general|cat"),
                                subjects=("Ann", "cat"))
    assert seed_keywords(lightroom, root="PxIMSE").tags_list == ("People/Ann",)


@needs_tools
def test_the_follower_retries_a_sidecar_left_alone_and_logs_it_once(
    setup, library, caplog, monkeypatch
) -> None:
    from pximse.integrations.digikam import follower as follower_module

    config, catalog = setup()
    broken = library / "a.png.xmp"
    broken.write_text("<x:xmpmeta", "utf-8")
    tag(catalog, library / "a.png", {"cat": 0.9})
    follower = SidecarFollower(catalog, config)
    try:
        with caplog.at_level("WARNING"):
            assert len(follower.run_once().failed) == 1
            assert follower.run_once().changed == 0  # the retry is not due for a minute
            monkeypatch.setattr(follower_module, "RETRY_S", 0.0)
            state = json.loads(follower.state_path.read_text("utf-8"))
            follower.state_path.write_text(json.dumps({**state, "retry_at": 0}), "utf-8")
            assert len(follower.run_once().failed) == 1  # retried, still broken
            assert len(follower.run_once().failed) == 1
        assert sum("not well-formed" in r.getMessage() for r in caplog.records) == 1
        # The user repairs the sidecar; nothing changes in the catalogue, yet the
        # next round after the retry delay writes it.
        exiftool("-o", str(library / "repaired.xmp"), "-XMP-dc:Subject=mine",
                 str(library / "a.png"))
        os.replace(library / "repaired.xmp", broken)
        report = follower.run_once()
        assert report.updated == 1 and not report.failed
        assert exiv2_xmp(broken)["Xmp.dc.subject"] == ["mine", "cat"]
        assert follower.run_once().changed == 0  # nothing left to retry
    finally:
        follower.close()
        catalog.close()


@needs_tools
def test_a_new_tag_root_takes_the_old_roots_entries_away(setup, library) -> None:
    config, catalog = setup()
    tag(catalog, library / "a.png", {"cat": 0.9})
    assert invoke(config, "write")[0] == 0
    sidecar = library / "a.png.xmp"
    exiftool("-overwrite_original", "-XMP-digiKam:TagsList+=People/Ann",
             "-XMP-dc:Subject+=Ann", str(sidecar))
    config_file = Path(config.config_path)
    config_file.write_text(config_file.read_text("utf-8").replace(
        "write = true", 'write = true\ntag_root = "Auto"'), "utf-8")
    code, output = invoke(config, "write", "--json")
    assert json.loads(output)["updated"] == 1, output
    keys = exiv2_xmp(sidecar)
    assert keys["Xmp.digiKam.TagsList"] == ["People/Ann", "Auto/general/cat"]
    assert keys["Xmp.lr.hierarchicalSubject"] == ["Auto|general|cat"]
    assert keys["Xmp.dc.subject"] == ["cat", "Ann"]  # the leaf stays where it was
    assert json.loads(invoke(config, "remove", "--json")[1])["updated"] == 1
    assert exiv2_xmp(sidecar)["Xmp.digiKam.TagsList"] == ["People/Ann"]
    catalog.close()
