"""File-name source parsers: a table of real-looking names, a property, the docs."""

from __future__ import annotations

import doctest
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pximse.store import names
from pximse.store.names import RULES, SOURCES, SourceInfo, parse_name

MD5 = "0123456789abcdef0123456789abcdef"
GEL_MD5 = "cf589d62afe26ede34c2f4fa802ff70c"

# (name, folder, expected)
CASES: list[tuple[str, str | None, SourceInfo]] = [
    # --- Pixiv: the site's own names ---------------------------------------------
    ("12345_67890123_p0.png", None,
     SourceInfo("pixiv", user_id="12345", post_id="67890123", page=0)),
    ("67890123_p0.jpg", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    ("67890123_p12_master1200.jpg", None, SourceInfo("pixiv", post_id="67890123", page=12)),
    ("67890123_p3_square1200.jpg", None, SourceInfo("pixiv", post_id="67890123", page=3)),
    ("67890123_p0_custom1200.jpg", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    ("67890123_ugoira0.jpg", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    ("67890123_ugoira1920x1080.zip", None, SourceInfo("pixiv", post_id="67890123")),
    ("67890123_ugoira600x600", None, SourceInfo("pixiv", post_id="67890123")),
    ("67890123_ugoira.gif", None, SourceInfo("pixiv", post_id="67890123")),
    ("1234567_big_p2.jpg", None, SourceInfo("pixiv", post_id="1234567", page=2)),
    # no extension, upper case, a Windows path, a browser's duplicate marker
    ("67890123_p1", None, SourceInfo("pixiv", post_id="67890123", page=1)),
    ("67890123_P1_MASTER1200.JPG", None, SourceInfo("pixiv", post_id="67890123", page=1)),
    ("C:\\Users\\me\\Pictures\\67890123_p4.png", None,
     SourceInfo("pixiv", post_id="67890123", page=4)),
    ("/home/me/Downloads/67890123_p0 (1).png", None,
     SourceInfo("pixiv", post_id="67890123", page=0)),
    ("67890123_p0(2).png", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    ("67890123_p0 - Copy.png", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    # zero-padded page (PixivBatchDownloader option)
    ("67890123_p007.jpg", None, SourceInfo("pixiv", post_id="67890123", page=7)),
    # --- PixivBatchDownloader: pixiv/{user}-{user_id}/{id}-{title} ------------------
    ("pixiv/ウサギ-123456/98765432_p1-夏の日.jpg", None,
     SourceInfo("pixiv", user_id="123456", user_name="ウサギ", post_id="98765432", page=1,
                title="夏の日")),
    ("98765432_p0-夏の日.jpg", "D:/pixiv/ウサギ-123456",
     SourceInfo("pixiv", user_id="123456", user_name="ウサギ", post_id="98765432", page=0,
                title="夏の日")),
    # a user name with a dash, a title with dashes and dots
    ("98765432_p0-Ver.2 - 完成版.png", "pixiv/Mika-Pikazo-1039353",
     SourceInfo("pixiv", user_id="1039353", user_name="Mika-Pikazo", post_id="98765432",
                page=0, title="Ver.2 - 完成版")),
    # the title was empty
    ("98765432_p0-.jpg", None, SourceInfo("pixiv", post_id="98765432", page=0)),
    # ugoira: {id} has no page; recognised inside an artist's folder only
    ("pixiv/ウサギ-123456/98765432-うごくよ.gif", None,
     SourceInfo("pixiv", user_id="123456", user_name="ウサギ", post_id="98765432",
                title="うごくよ")),
    ("98765432-うごくよ.gif", None, SourceInfo("other")),
    # "one folder per work" puts the work's id between artist and file
    ("pixiv/米山舞-2188232/98765432/98765432_p3-title.png", None,
     SourceInfo("pixiv", user_id="2188232", user_name="米山舞", post_id="98765432", page=3,
                title="title")),
    # a date folder is not an artist
    ("2024-05/67890123_p0.jpg", None, SourceInfo("pixiv", post_id="67890123", page=0)),
    # the folder's artist disagrees with the name's: the name wins
    ("12345_67890123_p0.png", "someone-999",
     SourceInfo("pixiv", user_id="12345", post_id="67890123", page=0)),
    ("12345_67890123_p0.png", "小鳥-12345",
     SourceInfo("pixiv", user_id="12345", user_name="小鳥", post_id="67890123", page=0)),
    # --- PixEZ: {illust_id}_p{part}, folder {user_name}_{user_id} ---------------------
    ("104458829_p0.png", None, SourceInfo("pixiv", post_id="104458829", page=0)),
    ("Pictures/PixEz/画师_小明_8888888/104458829_p2.jpg", None,
     SourceInfo("pixiv", user_id="8888888", user_name="画师_小明", post_id="104458829",
                page=2)),
    # --- PixivUtil2: %artist% (%member_id%)/%urlFilename% - %title% -------------------
    ("らくがき (2188232)/98765432_p0 - 桜の下で.jpg", None,
     SourceInfo("pixiv", user_id="2188232", user_name="らくがき", post_id="98765432", page=0,
                title="桜の下で")),
    ("98765432_ugoira1920x1080 - 動く.zip", None,
     SourceInfo("pixiv", post_id="98765432", title="動く")),
    # --- Twitter Media Downloader --------------------------------------------------
    ("twitter_初音ミク(@cfm_miku)_20200131-235959_1223344556677889900_photo.jpg", None,
     SourceInfo("twitter", user_id="cfm_miku", user_name="初音ミク",
                post_id="1223344556677889900", page=0, posted="2020-01-31T23:59:59")),
    ("twitter_初音ミク(@cfm_miku)_20200131-235959_1223344556677889900_photo-2.jpg", None,
     SourceInfo("twitter", user_id="cfm_miku", user_name="初音ミク",
                post_id="1223344556677889900", page=2, posted="2020-01-31T23:59:59")),
    # display names with spaces, underscores, parentheses, an @ and Chinese
    ("twitter_Some Artist_ (commissions open)(@some_artist01)"
     "_20231105-081502_1721043325170012345_photo-0.png", None,
     SourceInfo("twitter", user_id="some_artist01", user_name="Some Artist_ (commissions open)",
                post_id="1721043325170012345", page=0, posted="2023-11-05T08:15:02")),
    ("twitter_画画的阿猫@C103(@amao_draw)_20231230-120000_1740999999999999999_photo_1", None,
     SourceInfo("twitter", user_id="amao_draw", user_name="画画的阿猫@C103",
                post_id="1740999999999999999", page=1, posted="2023-12-30T12:00:00")),
    ("twitter_ほげ(@hoge)_20220101-000000_1477000000000000000_video.mp4", None,
     SourceInfo("twitter", user_id="hoge", user_name="ほげ", post_id="1477000000000000000",
                page=0, posted="2022-01-01T00:00:00")),
    ("twitter_ほげ(@hoge)_20220101-000000_1477000000000000000_gif.mp4", None,
     SourceInfo("twitter", user_id="hoge", user_name="ほげ", post_id="1477000000000000000",
                page=0, posted="2022-01-01T00:00:00")),
    # an impossible date keeps the rest
    ("twitter_x(@x)_20221301-000000_1477000000000000000_photo.jpg", None,
     SourceInfo("twitter", user_id="x", user_name="x", post_id="1477000000000000000", page=0)),
    # --- gallery-dl Twitter: {tweet_id}_{num}, the date from the snowflake ------------
    ("1223344556677889900_1.jpg", None,
     SourceInfo("twitter", post_id="1223344556677889900", page=0,
                posted="2020-01-31T20:37:25")),
    ("1223344556677889900_0.jpg", None, SourceInfo("other")),
    # --- yande.re ------------------------------------------------------------------
    ("yande.re 431721 ass breasts cameltoe christmas no_bra tenzeru thighhighs.jpg", None,
     SourceInfo("yandere", post_id="431721",
                tags=("ass", "breasts", "cameltoe", "christmas", "no_bra", "tenzeru",
                      "thighhighs"))),
    ("yande.re 12345.jpg", None, SourceInfo("yandere", post_id="12345")),
    ("yande.re 12345", None, SourceInfo("yandere", post_id="12345")),
    ("yande.re 455798 sample animal_ears djibril no_game_no_life wings.jpg", None,
     SourceInfo("yandere", post_id="455798",
                tags=("animal_ears", "djibril", "no_game_no_life", "wings"))),
    ("yande.re%20292092%20hatsune_miku%20tid%20vocaloid.jpg", None,
     SourceInfo("yandere", post_id="292092", tags=("hatsune_miku", "tid", "vocaloid"))),
    ("Yande.re 1000 東方 博麗霊夢.PNG", None,
     SourceInfo("yandere", post_id="1000", tags=("東方", "博麗霊夢"))),
    # --- Danbooru (no tag list: see VOCABULARY_CASES for names taken apart) -----------
    (f"__hatsune_miku_vocaloid_drawn_by_xyz__{MD5}.png", None,
     SourceInfo("danbooru", user_name="xyz", tags=("artist:xyz",), md5=MD5,
                title="hatsune_miku_vocaloid")),
    (f"__original_drawn_by_kantoku__sample-{MD5}.jpg", None,
     SourceInfo("danbooru", user_name="kantoku", tags=("artist:kantoku",), md5=MD5,
                title="original")),
    (f"__hakurei_reimu_touhou__{MD5}.jpg", None,
     SourceInfo("danbooru", md5=MD5, title="hakurei_reimu_touhou")),
    (f"__drawn_by_ningen_mame__{MD5}", None,
     SourceInfo("danbooru", user_name="ningen_mame", tags=("artist:ningen_mame",), md5=MD5)),
    (f"hatsune miku (vocaloid) drawn by xyz - {MD5}.png", None,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:hatsune_miku", "copyright:vocaloid", "artist:xyz"), md5=MD5)),
    (f"hatsune_miku, kagamine_rin, and kagamine_len (vocaloid) drawn by abc and def_ghi"
     f" - {MD5}.jpg", None,
     SourceInfo("danbooru", user_name="abc",
                tags=("character:hatsune_miku", "character:kagamine_rin",
                      "character:kagamine_len", "copyright:vocaloid", "artist:abc",
                      "artist:def_ghi"),
                md5=MD5)),
    (f"saber and 3 more (fate and 1 more) drawn by takeuchi takashi - {MD5.upper()}.jpg", None,
     SourceInfo("danbooru", user_name="takeuchi_takashi",
                tags=("character:saber", "copyright:fate", "artist:takeuchi_takashi"),
                md5=MD5)),
    (f"touhou - {MD5}.jpg", None, SourceInfo("danbooru", md5=MD5, title="touhou")),
    (f"sample-{MD5}.jpg", None, SourceInfo("danbooru", md5=MD5)),
    # --- Gelbooru --------------------------------------------------------------------
    (f"sample_{GEL_MD5}.jpg", None, SourceInfo("gelbooru", md5=GEL_MD5)),
    (f"thumbnail_{GEL_MD5}.jpg", None, SourceInfo("gelbooru", md5=GEL_MD5)),
    # --- gallery-dl boorus: {category}_{id}_{md5} ---------------------------------------
    (f"gelbooru_7222955_{GEL_MD5}.jpg", None,
     SourceInfo("gelbooru", post_id="7222955", md5=GEL_MD5)),
    (f"danbooru_5012345_{MD5}.png", None, SourceInfo("danbooru", post_id="5012345", md5=MD5)),
    (f"yandere_1000123_{MD5}.jpg", None, SourceInfo("yandere", post_id="1000123", md5=MD5)),
    # --- plain md5: site unknown ---------------------------------------------------------
    (f"{GEL_MD5}.jpeg", None, SourceInfo("other", md5=GEL_MD5)),
    (f"{GEL_MD5.upper()}", None, SourceInfo("other", md5=GEL_MD5)),
    # --- not a source name ------------------------------------------------------------------
    ("IMG_20240101_123456.jpg", None, SourceInfo("other")),
    ("holiday.jpg", None, SourceInfo("other")),
    ("67890123.jpg", None, SourceInfo("other")),
    ("", None, SourceInfo("other")),
    ("photos/", None, SourceInfo("other")),
    ("Konachan.com - 123456 long_hair.jpg", None, SourceInfo("other")),
]


@pytest.mark.parametrize(("name", "folder", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_names(name: str, folder: str | None, expected: SourceInfo) -> None:
    assert parse_name(name, folder=folder) == expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    # every rule is exercised by at least one case
    used = set()
    for name, _folder, _expected in CASES:
        for rule in RULES:
            stem = names._stem(names._components(name)[-1]) if names._components(name) else ""
            if rule.pattern.fullmatch(stem):
                used.add(rule.name)
                break
    assert used == {rule.name for rule in RULES}


def test_nfd_names_from_macos_are_normalised() -> None:
    nfd = "pixiv/ウサギ-123456/98765432_p0-ダンス.jpg"
    import unicodedata

    info = parse_name(unicodedata.normalize("NFD", nfd))
    assert info.title == "ダンス"
    assert info.user_name == "ウサギ"


# A tagger's tag list: WD14's selected_tags.csv has characters (category 4); a
# list with Danbooru's copyright category (3) too is used for copyrights.
WD14 = names.TagVocabulary.from_tags([
    ("hatsune_miku", "character", 100), ("kagamine_rin", "character", 50),
    ("kagamine_len", "character", 40), ("hakurei_reimu", "character", 90),
    ("saber_(fate)", "character", 80), ("saber_(fate/extra)", "character", 10),
    ("artoria_pendragon_(fate)", "character", 70), ("miku", "character", 1),
    ("long_hair", "general", 1000),
])
WITH_COPYRIGHTS = names.TagVocabulary.from_tags([
    *[(name, "character", n) for n, name in enumerate(WD14.characters.values())],
    ("vocaloid", "copyright", 10), ("touhou", "copyright", 10), ("original", "copyright", 10),
    ("fate/grand_order", "copyright", 10),
])

QUALIFIED = names.TagVocabulary.from_tags([
    ("2b_(nier:automata)", "character", 90), ("a2_(nier:automata)", "character", 30),
    ("kafka_(honkai:_star_rail)", "character", 40), ("kafka_(arknights)", "character", 5),
])

VOCABULARY_CASES: list[tuple[str, names.TagVocabulary, SourceInfo]] = [
    (f"__hatsune_miku_vocaloid_drawn_by_xyz__{MD5}.png", WD14,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:hatsune_miku", "copyright:vocaloid", "artist:xyz"), md5=MD5)),
    # several characters ("a, b, and c"), a copyright with "and 1 more"
    (f"__hatsune_miku_kagamine_rin_and_kagamine_len_vocaloid_and_1_more_drawn_by_abc__{MD5}",
     WD14,
     SourceInfo("danbooru", user_name="abc",
                tags=("character:hatsune_miku", "character:kagamine_rin",
                      "character:kagamine_len", "copyright:vocaloid", "artist:abc"), md5=MD5)),
    # the longest known name wins ("hatsune_miku", not "miku"); qualifiers come back
    (f"__saber_artoria_pendragon_fate_grand_order_drawn_by_takeuchi_takashi__{MD5}.jpg",
     WITH_COPYRIGHTS,
     SourceInfo("danbooru", user_name="takeuchi_takashi",
                tags=("character:saber_(fate)", "character:artoria_pendragon_(fate)",
                      "copyright:fate/grand_order", "artist:takeuchi_takashi"), md5=MD5)),
    # characters and "3 more", no copyright
    (f"__hakurei_reimu_and_3_more_drawn_by_zun__{MD5}.png", WD14,
     SourceInfo("danbooru", user_name="zun", tags=("character:hakurei_reimu", "artist:zun"),
                md5=MD5)),
    # a copyright alone: known as one, or left as the title when the list cannot say
    (f"__original_drawn_by_kantoku__sample-{MD5}.jpg", WITH_COPYRIGHTS,
     SourceInfo("danbooru", user_name="kantoku", tags=("copyright:original", "artist:kantoku"),
                md5=MD5)),
    (f"__original_drawn_by_kantoku__sample-{MD5}.jpg", WD14,
     SourceInfo("danbooru", user_name="kantoku", tags=("artist:kantoku",), md5=MD5,
                title="original")),
    # a character the list does not know stays unread
    (f"__someone_new_vocaloid__{MD5}.png", WD14,
     SourceInfo("danbooru", md5=MD5, title="someone_new_vocaloid")),
    # the download button's form: qualifiers back, and a list without parentheses sorted
    (f"saber and 3 more (fate and 1 more) drawn by takeuchi takashi - {MD5}.jpg", WD14,
     SourceInfo("danbooru", user_name="takeuchi_takashi",
                tags=("character:saber_(fate)", "copyright:fate", "artist:takeuchi_takashi"),
                md5=MD5)),
    (f"touhou - {MD5}.jpg", WD14,
     SourceInfo("danbooru", tags=("copyright:touhou",), md5=MD5)),
    (f"hatsune miku drawn by xyz - {MD5}.jpg", WD14,
     SourceInfo("danbooru", user_name="xyz", tags=("character:hatsune_miku", "artist:xyz"),
                md5=MD5)),
    # a list without copyrights spells one as the characters' qualifiers do
    (f"__2b_and_a2_nier_automata_drawn_by_xyz__{MD5}.png", QUALIFIED,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:2b_(nier:automata)", "character:a2_(nier:automata)",
                      "copyright:nier:automata", "artist:xyz"), md5=MD5)),
    (f"__kafka_honkai_star_rail_drawn_by_xyz__{MD5}.png", QUALIFIED,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:kafka_(honkai:_star_rail)", "copyright:honkai:_star_rail",
                      "artist:xyz"), md5=MD5)),
    (f"kafka (honkai star rail) drawn by xyz - {MD5}.jpg", QUALIFIED,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:kafka_(honkai:_star_rail)", "copyright:honkai:_star_rail",
                      "artist:xyz"), md5=MD5)),
    # no qualifier spells it: the slug's own form
    (f"__2b_fate_stay_night_drawn_by_xyz__{MD5}.png", QUALIFIED,
     SourceInfo("danbooru", user_name="xyz",
                tags=("character:2b_(nier:automata)", "copyright:fate_stay_night",
                      "artist:xyz"), md5=MD5)),
]


@pytest.mark.parametrize(("name", "vocabulary", "expected"), VOCABULARY_CASES,
                         ids=[f"{c[0][:50]}-{len(c[1].copyrights)}" for c in VOCABULARY_CASES])
def test_danbooru_names_are_taken_apart_with_the_taggers_tag_list(
        name: str, vocabulary: names.TagVocabulary, expected: SourceInfo) -> None:
    assert parse_name(name, vocabulary=vocabulary) == expected


def test_the_default_tag_list_is_used_when_none_is_given() -> None:
    name = f"__hatsune_miku_vocaloid_drawn_by_xyz__{MD5}.png"
    assert parse_name(name).title == "hatsune_miku_vocaloid"
    names.set_default_vocabulary(WD14)
    try:
        assert parse_name(name).tags[0] == "character:hatsune_miku"
    finally:
        names.set_default_vocabulary(None)


def test_work_key_groups_pages() -> None:
    pages = [parse_name(f"67890123_p{n}_master1200.jpg") for n in range(3)]
    pages.append(parse_name("12345_67890123_p3.png"))
    assert {p.work_key for p in pages} == {"pixiv:67890123"}
    assert parse_name("yande.re 12345 tag.jpg").work_key == "yandere:12345"
    assert parse_name(f"gelbooru_7222955_{GEL_MD5}.jpg").work_key == "gelbooru:7222955"
    assert parse_name(f"{GEL_MD5}.jpg").work_key is None
    assert parse_name(f"__a_drawn_by_b__{MD5}.jpg").work_key is None
    assert parse_name("holiday.jpg").work_key is None


def test_to_json_keys() -> None:
    info = parse_name("yande.re 431721 breasts christmas.jpg")
    data = info.to_json()
    assert list(data) == [
        "source", "user_id", "user_name", "post_id", "page", "posted", "tags", "md5", "title",
    ]
    assert data["tags"] == ["breasts", "christmas"]
    assert data["source"] == "yandere"
    assert SourceInfo("other").to_json() == {
        "source": "other", "user_id": None, "user_name": None, "post_id": None, "page": None,
        "posted": None, "tags": [], "md5": None, "title": None,
    }


def _check(info: SourceInfo) -> None:
    assert isinstance(info, SourceInfo)
    assert info.source in SOURCES
    assert isinstance(info.tags, tuple)
    assert info.page is None or info.page >= 0
    if info.posted is not None:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", info.posted)
    if info.md5 is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", info.md5)
    info.to_json()
    _ = info.work_key


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(st.text(), st.none() | st.text())
def test_any_string_gives_a_source_info(name: str, folder: str | None) -> None:
    _check(parse_name(name, folder=folder))


# Near misses: text built from the pieces the rules look for.
_PIECES = st.sampled_from([
    "_", "-", " ", " - ", "(", ")", "(@", "@", "__", "_p", "_ugoira", "x", "_master1200",
    "twitter_", "yande.re ", "yande.re%20", "sample", "sample-", "sample_", " drawn by ",
    " and ", ", ", "gelbooru_", "/", "\\", ".jpg", "%", "%ZZ", "0", "9", "12345678",
    "1223344556677889900", "20200131-235959", "99999999-999999", MD5, "ウサギ", "\u0301",
    "\ud800", "\x00", "9" * 30,
])


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(
    st.lists(_PIECES, max_size=12).map("".join),
    st.none() | st.lists(_PIECES, max_size=6).map("".join),
)
def test_near_misses_give_a_source_info(name: str, folder: str | None) -> None:
    _check(parse_name(name, folder=folder))


def test_long_names_stay_fast() -> None:
    nasty = [
        "twitter_" + "(@a)_" * 2000,
        "a - " * 3000 + "0" * 31,
        "1_" * 5000 + "p0",
        "yande.re 1 " + "x " * 5000,
        "(" * 5000,
    ]
    start = time.perf_counter()
    for name in nasty:
        _check(parse_name(name, folder=name))
    assert time.perf_counter() - start < 2.0


def test_docstring_examples() -> None:
    result = doctest.testmod(names, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_doc_names_every_rule() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "filenames.md"
    text = doc.read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule.name}`" in text, f"docs/filenames.md does not document {rule.name}"
    for source in SOURCES:
        assert f"`{source}`" in text


def test_a_danbooru_download_reaches_digikam_and_hydrus_in_its_categories(
        tmp_path: Path, make_image, make_config) -> None:
    """End to end: the configured tagger's selected_tags.csv in its model folder,
    a scan through the catalogue the configuration opens, then what a sidecar and
    Hydrus get: each name once, in its category, and the post linked by md5."""
    from pximse.integrations.digikam.catalog_images import XmpSettings, sidecar_jobs
    from pximse.integrations.hydrus.payload import PayloadOptions, read_payloads
    from pximse.library.scan import scan_roots
    from pximse.store.backends import open_catalog

    library = tmp_path / "library"
    image = make_image(library / f"__hatsune_miku_vocaloid_drawn_by_xyz__{MD5}.png", seed=3)
    config = make_config({"lib": library}, "[xmp]\nwrite = true\n")
    folder = config.data_dir / "models" / config.models.tagger
    folder.mkdir(parents=True)
    (folder / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n1,general,9,10\n2,long_hair,0,99\n"
        "3,hatsune_miku,4,50\n4,miku,4,1\n", encoding="utf-8")
    catalog = open_catalog(config)
    try:
        scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
        sha = __import__("hashlib").sha256(image.read_bytes()).hexdigest()
        content_id = catalog.content_ids([sha])[sha]
        (job,) = sidecar_jobs(catalog, [content_id], XmpSettings.from_config(config))
        assert job.keywords.tags_list == (
            "PxIMSE/character/hatsune miku", "PxIMSE/copyright/vocaloid", "PxIMSE/artist/xyz",
            "PxIMSE/source/danbooru")
        (payload,) = read_payloads(catalog, [content_id], PayloadOptions())
        assert {"character:hatsune miku", "series:vocaloid", "creator:xyz"} <= payload.tags
        assert not {"hatsune miku", "vocaloid", "xyz"} & payload.tags  # never as general
        assert payload.urls == (f"https://danbooru.donmai.us/posts?md5={MD5}",)
    finally:
        catalog.close()
        names.set_default_vocabulary(None)


def test_the_taggers_list_is_picked_up_once_it_is_downloaded(tmp_path: Path, make_config,
                                                             monkeypatch) -> None:
    from pximse.store import name_vocabulary

    monkeypatch.setattr(name_vocabulary, "RECHECK_S", 0.0)
    config = make_config({})
    name = f"__hatsune_miku_vocaloid_drawn_by_xyz__{MD5}.png"
    try:
        assert name_vocabulary.use_tag_vocabulary(config) is None
        assert parse_name(name).title == "hatsune_miku_vocaloid"  # no list yet: the title
        folder = name_vocabulary.tagger_folder(config)
        folder.mkdir(parents=True)
        (folder / "selected_tags.csv").write_text(
            "tag_id,name,category,count\n1,hatsune_miku,4,5\n", encoding="utf-8")
        assert parse_name(name).tags == ("character:hatsune_miku", "copyright:vocaloid",
                                         "artist:xyz")
        # DeepDanbooru's list of characters serves the same way.
        (folder / "selected_tags.csv").unlink()
        (folder / "tags-character.txt").write_text("kagamine_rin\n", encoding="utf-8")
        assert parse_name(f"__kagamine_rin_vocaloid__{MD5}").tags == (
            "character:kagamine_rin", "copyright:vocaloid")
    finally:
        names.set_default_vocabulary(None)
