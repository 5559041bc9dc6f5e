"""The query parsers shown by example: query text -> expected tree, and malformed
queries -> where the error points and what it says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from pximse.query import parse as parse_module
from pximse.query.ast import (
    And,
    Compare,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
    Words,
)
from pximse.query.errors import QueryError
from pximse.query.fields import FIELDS, HAS_EXTRA
from pximse.query.parse import detect_syntax, format_query, parse_query, parse_sort

DOCS = Path(__file__).resolve().parents[1] / "docs" / "query-language.md"


def model(name: str) -> Tag:
    return Tag(name, "model")


def source(name: str) -> Tag:
    return Tag(name, "source")


def span(field: str, start: str, end: str) -> And:
    return And((Compare(field, ">=", start), Compare(field, "<", end)))


# -- the original syntax ---------------------------------------------------------

LEGACY = [
    ("", MatchAll()),
    ("tags.long_hair", model("long_hair")),
    ("tags1:初音ミク", source("初音ミク")),
    ("tags.a,tags1:b", And((model("a"), source("b")))),
    (" tags.a , tags.b ", And((model("a"), model("b")))),
    ("tags.a,|tags1:b,|tags1:c", And((model("a"), Or((source("b"), source("c")))))),
    ("|tags1:b,tags.a,|tags1:c", And((Or((source("b"), source("c"))), model("a")))),
    ("|tags1:b", source("b")),
    ("|tags.a,|tags1:b", Or((model("a"), source("b")))),
    ("|!tags.a,|tags.b", Or((Not(model("a")), model("b")))),
    ("!tags.monochrome", Not(model("monochrome"))),
    ("!tags1:r-18", Not(source("r-18"))),
    ("!username", Not(Has("user"))),
    ("!tags", Not(Has("model_tags"))),
    ("tags1", Has("source_tags")),
    ("username", Has("user")),
    ("tags.;d", model(";d")),
    ("tags.;3", model(";3")),
    ('tags."long hair"', model("long hair")),
    ("filesize;>1000000", Compare("filesize", ">", 1000000)),
    ("filesize;>=2MB", Compare("filesize", ">=", 2 * 1024**2)),
    ("filesize; > 1000", Compare("filesize", ">", 1000)),
    ("width;<1000&>=500", And((Compare("width", "<", 1000), Compare("width", ">=", 500)))),
    ("date;>2000-01-01&<2010-01-01",
     And((Compare("date", ">=", "2000-01-02"), Compare("date", "<", "2010-01-01")))),
    ("date;>=2000-01-01&<2010-01-01",
     And((Compare("date", ">=", "2000-01-01"), Compare("date", "<", "2010-01-01")))),
    ("date;=2020-05-01", span("date", "2020-05-01", "2020-05-02")),
    ("date;!=2020", Or((Compare("date", "<", "2020-01-01"), Compare("date", ">=", "2021-01-01")))),
    ("date;>=2021-03-04 10:30", Compare("date", ">=", "2021-03-04T10:30:00")),
    ('userid;="12345"', Compare("userid", "=", "12345")),
    ("userid;=12345", Compare("userid", "=", "12345")),
    ("username;!='foo'", Compare("user", "!=", "foo")),
    ('user;="a, b&c"', Compare("user", "=", "a, b&c")),
    ("user;==x", Compare("user", "=", "x")),
    # A score is compared where the tag is present, as in the original's documents.
    ("tags.long_hair;<=0.9", And((model("long_hair"), TagScore("long_hair", "<=", 0.9)))),
    ("tags.long_hair;>0.5&<=0.9",
     And((model("long_hair"), TagScore("long_hair", ">", 0.5),
          TagScore("long_hair", "<=", 0.9)))),
    # textlen measures images that have text, as the original's did.
    ("textlen;>10", And((Has("ocr"), Compare("textlen", ">", 10)))),
    ("textlen;=null", Not(Has("textlen"))),
    ("text", Has("ocr")),
    ("!text", Not(Has("ocr"))),
    ("text;=null,tags1;!=null", And((Not(Has("ocr")), Has("source_tags")))),
    ("tags;=null", Not(Has("model_tags"))),
    ('filename;="12_34_p0.png"', Compare("filename", "=", "12_34_p0.png")),
    ("m;ありがとう", Words("ocr", "ありがとう")),
    ('m;"a, b"', Words("ocr", "a, b")),
    ("!m;spoiler", Not(Words("ocr", "spoiler"))),
    ("mt;miku", Words("meta", "miku")),
    ("m;hello world", Words("ocr", "hello world")),
    ("user;=null", Not(Has("user"))),
    ("posted;!=null", Has("posted")),
    ('type;="pixiv"', And((Compare("source", "=", "pixiv"),
                           Compare("filename", "=", "[0-9]*_[0-9]*_p[0-9]*")))),
    ('type;="pixiv1"', And((Compare("source", "=", "pixiv"),
                            Not(Compare("filename", "=", "[0-9]*_[0-9]*_p[0-9]*"))))),
    ('type;="twitter"', Compare("source", "=", "twitter")),
    ("type;!=yande.re", Not(Compare("source", "=", "yandere"))),
    ('type;="other"', Or(tuple(Compare("source", "=", site)
                               for site in ("other", "danbooru", "gelbooru")))),
    ("source;=pixiv", Compare("source", "=", "pixiv")),  # PxIMSE's own name: every Pixiv name
    ("illustid;=123", Compare("postid", "=", "123")),
    ("createDate;>=2020", Compare("posted", ">=", "2020-01-01")),
    ("likeCount;>100", Compare("likes", ">", 100)),
    ("bookmarkCount;>=1000&<5000",
     And((Compare("bookmarks", ">=", 1000), Compare("bookmarks", "<", 5000)))),
    ("viewCount;<10", Compare("views", "<", 10)),
    ('title;="夏"', Compare("title", "=", "夏")),
    ("animated;=true", Compare("animated", "=", True)),
    ("ratio;>16:9", Compare("ratio", ">", 16 / 9)),
    ("filesize;>1000000,tags.a,!tags1:b,|tags1:c,|tags1:d,m;x",
     And((Compare("filesize", ">", 1000000), model("a"), Not(source("b")),
          Or((source("c"), source("d"))), Words("ocr", "x")))),
]


BARE_WORDS = {"tags1", "username", "text"}
"""Original items that auto-detection leaves to the booru syntax, where they are tags."""


@pytest.mark.parametrize(("text", "expected"), LEGACY, ids=[row[0] or "empty" for row in LEGACY])
def test_original_syntax(text: str, expected: Node) -> None:
    assert parse_query(text, syntax="legacy") == Query(expected)
    if text.strip() and text not in BARE_WORDS:
        assert detect_syntax(text) == "legacy"
        assert parse_query(text) == Query(expected)


# -- the booru-style syntax --------------------------------------------------------

a, b, c, d = Tag("a"), Tag("b"), Tag("c"), Tag("d")

BOORU = [
    ("", MatchAll()),
    ("   ", MatchAll()),
    ("1girl", Tag("1girl")),
    ("初音ミク", Tag("初音ミク")),
    ("a b", And((a, b))),
    ("a\u3000b", And((a, b))),
    ("a -b", And((a, Not(b)))),
    ("~a ~b", Or((a, b))),
    ("~a ~b c", And((Or((a, b)), c))),
    ("c ~a ~b", And((c, Or((a, b))))),
    ("~a", a),
    ("~-a ~b", Or((Not(a), b))),
    ("a or b", Or((a, b))),
    ("a OR b", Or((a, b))),
    ("a and b", And((a, b))),
    ("a b or c", Or((And((a, b)), c))),
    ("a (b or c)", And((a, Or((b, c))))),
    ("(a or b) (c or d)", And((Or((a, b)), Or((c, d))))),
    ("-(a or b)", Not(Or((a, b)))),
    ("-(a b)", Not(And((a, b)))),
    ("--a", a),
    ("-(-a)", a),
    ("((a))", a),
    ("(a b) c", And((a, b, c))),
    ("a or (b or c)", Or((a, b, c))),
    ("~a ~b or ~c ~d", Or((a, b, c, d))),
    ("-a or b c", Or((Not(a), And((b, c))))),
    ("a -b ~c ~d (a or -b)", And((a, Not(b), Or((c, d)), Or((a, Not(b)))))),
    ("hatsune_miku_(cosplay)", Tag("hatsune_miku_(cosplay)")),
    ("(hatsune_miku_(cosplay) or :d)", Or((Tag("hatsune_miku_(cosplay)"), Tag(":d")))),
    (":d ^_^ re:zero", And((Tag(":d"), Tag("^_^"), Tag("re:zero")))),
    (":) >:(", And((Tag(":)"), Tag(">:(")))),
    ('(a ":)")', And((a, Tag(":)")))),
    ("character:hatsune_miku rating:general",
     And((Tag("character:hatsune_miku"), Tag("rating:general")))),
    ('"long hair"', Tag("long hair")),
    ('"width:100"', Tag("width:100")),
    ('"say \\"hi\\""', Tag('say "hi"')),
    ('-"long hair"', Not(Tag("long hair"))),
    ("tag:order:x", Tag("order:x")),
    ("model:long_hair", model("long_hair")),
    ("src:初音ミク", source("初音ミク")),
    ("model:re:0", model("re:0")),
    ("model:long_hair:>0.9", TagScore("long_hair", ">", 0.9)),
    ("model:long_hair:0.5..0.9",
     And((TagScore("long_hair", ">=", 0.5), TagScore("long_hair", "<=", 0.9)))),
    ('model:"long hair":>=0.5', TagScore("long hair", ">=", 0.5)),
    ("filesize:>2MB", Compare("filesize", ">", 2 * 1024**2)),
    ("filesize:>2mb", Compare("filesize", ">", 2 * 1024**2)),
    ("size:1.5MB..3MB",
     And((Compare("filesize", ">=", 1572864), Compare("filesize", "<=", 3 * 1024**2)))),
    ("size:<512KB", Compare("filesize", "<", 512 * 1024)),
    ("width:>=1920", Compare("width", ">=", 1920)),
    ("Width:1920", Compare("width", "=", 1920)),
    ("width:!=100", Compare("width", "!=", 100)),
    ("w:100..", Compare("width", ">=", 100)),
    ("h:..1080", Compare("height", "<=", 1080)),
    ("pixels:>2M", Compare("pixels", ">", 2_000_000)),
    ("pixels:1.5M..3000K",
     And((Compare("pixels", ">=", 1_500_000), Compare("pixels", "<=", 3_000_000)))),
    ("ratio:>1.5", Compare("ratio", ">", 1.5)),
    ("ratio:16:9", Compare("ratio", "=", 16 / 9)),
    ("date:2020", span("date", "2020-01-01", "2021-01-01")),
    ("date:2020-06", span("date", "2020-06-01", "2020-07-01")),
    ("date:2020-12", span("date", "2020-12-01", "2021-01-01")),
    ("date:2020-06-15", span("date", "2020-06-15", "2020-06-16")),
    ("date:2020..2021-06", span("date", "2020-01-01", "2021-07-01")),
    ("date:2020..", Compare("date", ">=", "2020-01-01")),
    ("date:..2020", Compare("date", "<", "2021-01-01")),
    ("date:>2020", Compare("date", ">=", "2021-01-01")),
    ("date:>=2020", Compare("date", ">=", "2020-01-01")),
    ("date:<2020-06-15", Compare("date", "<", "2020-06-15")),
    ("date:<=2020-06", Compare("date", "<", "2020-07-01")),
    ("date:!=2020", Or((Compare("date", "<", "2020-01-01"), Compare("date", ">=", "2021-01-01")))),
    ("posted:>=2021-03-04T10:00", Compare("posted", ">=", "2021-03-04T10:00:00")),
    ("mtime:2021-03-04T10", span("date", "2021-03-04T10:00:00", "2021-03-04T11:00:00")),
    ("date:2021-03-04T23:59:59Z", span("date", "2021-03-04T23:59:59", "2021-03-05")),
    ("animated:true", Compare("animated", "=", True)),
    ("animated:no", Compare("animated", "=", False)),
    ("animated:!=yes", Compare("animated", "!=", True)),
    ("source:pixiv", Compare("source", "=", "pixiv")),
    ("site:Yande.re", Compare("source", "=", "yandere")),
    ("format:jpg", Compare("format", "=", "jpeg")),
    ('user:"some one"', Compare("user", "=", "some one")),
    ('user:!="some one"', Compare("user", "!=", "some one")),
    ("artist:foo", Compare("user", "=", "foo")),
    ("user:!=foo", Compare("user", "!=", "foo")),
    ("userid:12345", Compare("userid", "=", "12345")),
    ("user:a..b", Compare("user", "=", "a..b")),
    ("pixiv:123", And((Compare("source", "=", "pixiv"), Compare("postid", "=", "123")))),
    ("-pixiv:123",
     Not(And((Compare("source", "=", "pixiv"), Compare("postid", "=", "123"))))),
    ("pixiv:deleted", Compare("pixiv_state", "=", "deleted")),
    ("-pixiv:Private", Not(Compare("pixiv_state", "=", "private"))),
    ("pixiv_state:ok", Compare("pixiv_state", "=", "ok")),
    ("bookmarks:>500", Compare("bookmarks", ">", 500)),
    ("views:1000..5000", And((Compare("views", ">=", 1000), Compare("views", "<=", 5000)))),
    ("likes:<=3 comments:0",
     And((Compare("likes", "<=", 3), Compare("comments", "=", 0)))),
    ("ai:true r18:no", And((Compare("ai", "=", True), Compare("r18", "=", False)))),
    ('title:"桜の下で"', Compare("title", "=", "桜の下で")),
    ("has:bookmarks", Has("bookmarks")),
    ("ocr:ありがとう", Text("ocr", "ありがとう")),
    ('ocr:"two words"', Text("ocr", "two words")),
    ("has:user", Has("user")),
    ("-has:posted", Not(Has("posted"))),
    ("has:ocr", Has("ocr")),
    ("has:tags", Or((Has("model_tags"), Has("source_tags")))),
    ("has:model", Has("model_tags")),
    ("path:*.png", Compare("path", "=", "*.png")),
    ('folder:"My Pictures"', Compare("folder", "=", "My Pictures")),
    ("id:ABCDEF12", Compare("id", "=", "abcdef12")),
    ("width:100 and height:100", And((Compare("width", "=", 100), Compare("height", "=", 100)))),
    ("1girl -monochrome bookmarked:yes ocr:ありがとう",
     And((Tag("1girl"), Not(Tag("monochrome")), Tag("bookmarked:yes"), Text("ocr", "ありがとう")))),
]


@pytest.mark.parametrize(("text", "expected"), BOORU, ids=[row[0] or "empty" for row in BOORU])
def test_booru_syntax(text: str, expected: Node) -> None:
    assert parse_query(text, syntax="booru") == Query(expected)
    assert detect_syntax(text) == "booru"
    assert parse_query(text) == Query(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("order:-date", Query(MatchAll(), (SortKey("date"),))),
    ("1girl order:filesize_asc order:random",
     Query(Tag("1girl"), (SortKey("filesize", False), SortKey("random")))),
    ("(a order:date) b", Query(And((a, b)), (SortKey("date"),))),
    ("sort:+width,height", Query(MatchAll(), (SortKey("width", False), SortKey("height")))),
])
def test_order_words_go_to_the_sort(text: str, expected: Query) -> None:
    assert parse_query(text) == expected


# -- sort lists ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("filesize;1", (SortKey("filesize", False),)),
    ("filesize;-1", (SortKey("filesize", True),)),
    ("filesize", (SortKey("filesize", True),)),
    ("-date", (SortKey("date", True),)),
    ("+date", (SortKey("date", False),)),
    ("date", (SortKey("date", True),)),
    ("date_asc", (SortKey("date", False),)),
    ("date_desc", (SortKey("date", True),)),
    ("order:-date", (SortKey("date", True),)),
    ("random", (SortKey("random"),)),
    ("random;1", (SortKey("random"),)),
    ("filesize;1,date", (SortKey("filesize", False), SortKey("date"))),
    ("size date_asc", (SortKey("filesize"), SortKey("date", False))),
    ("username;1, mtime", (SortKey("user", False), SortKey("date"))),
])
def test_parse_sort(text: str, expected: tuple[SortKey, ...]) -> None:
    assert parse_sort(text) == expected


ORIGINAL_SORT_CHIPS = [
    # Every key the original front end offers in its sort box, bare and with ;1.
    ("filename", "filename"), ("folder", "folder"), ("type", "source"), ("width", "width"),
    ("height", "height"), ("filesize", "filesize"), ("date", "date"), ("user", "user"),
    ("userid", "userid"), ("illustid", "postid"), ("createDate", "posted"),
    ("viewCount", "views"), ("bookmarkCount", "bookmarks"), ("likeCount", "likes"),
    ("commentCount", "comments"),
]


@pytest.mark.parametrize(("chip", "field_name"), ORIGINAL_SORT_CHIPS)
def test_every_sort_key_of_the_original_front_end(chip: str, field_name: str) -> None:
    assert parse_query("tags.a", chip, syntax="legacy").sort == (SortKey(field_name),)
    assert parse_query("", f"{chip};1", syntax="legacy").sort == (SortKey(field_name, False),)
    # comma-joined chips, as its form sends them
    assert parse_query("", f"{chip};-1,width;1", syntax="legacy").sort == (
        SortKey(field_name), SortKey("width", False))


def test_legacy_sort_keeps_pximse_names_and_forms() -> None:
    assert parse_query("tags.a", "-views,posted_asc,random").sort == (
        SortKey("views"), SortKey("posted", False), SortKey("random"))
    # beside a booru query, type is the file format (its booru alias)
    assert parse_query("1girl", "type").sort == (SortKey("format"),)
    with pytest.raises(QueryError, match="sort direction"):
        parse_query("", "filesize;2", syntax="legacy")


def test_order_words_come_before_the_sort_argument() -> None:
    query = parse_query("1girl order:date", "filesize;1")
    assert query.sort == (SortKey("date"), SortKey("filesize", False))
    assert parse_query("tags.a", "filesize;1").sort == (SortKey("filesize", False),)


# -- auto-detection ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "syntax"), [
    ("tags.a", "legacy"), ("tags1:a", "legacy"), ("|tags1:a", "legacy"), ("!tags.a", "legacy"),
    ("!username", "legacy"), ("!tags", "legacy"), ("m;x", "legacy"), ("filesize;>5", "legacy"),
    ("1girl, tags.a", "legacy"), ("date;", "legacy"), ("Tags.A", "legacy"),
    ("1girl", "booru"), ("re:zero", "booru"), ("width:>5", "booru"), ("!foo", "booru"),
    ("! width", "booru"), ("a,b", "booru"), ("", "booru"), ('"a,tags.b"', "booru"),
    ("foo;bar", "booru"), ("width ;5", "booru"),
])
def test_auto_detection(text: str, syntax: str) -> None:
    assert detect_syntax(text) == syntax


# -- malformed queries ------------------------------------------------------------------

LEGACY_ERRORS = [
    ("tags.", 5, "missing tag name"),
    ("tags1:", 6, "missing tag name"),
    ("date;>", 6, "missing value"),
    ("filesize;>abc", 10, "not a size"),
    ("width;>abc", 7, "not a number"),
    (",,", 0, "empty item"),
    ("tags.a,", 6, "empty item"),
    (",tags.a", 0, "empty item"),
    ("tags.a,,tags.b", 7, "empty item"),
    ("date;>2000-13-45", 6, "month"),
    ("date;>2000-02-30", 6, "day"),
    ("date;>yesterday", 6, "not a date"),
    ('user;="abc', 6, "unclosed quote"),
    ("user;='abc", 6, "unclosed quote"),
    ('user;="a"b', 9, "after the closing quote"),
    ("width;>5&", 8, "'&'"),
    ("width;>5&&<3", 9, "operator"),
    ("foo;>5", 0, "unknown field 'foo'"),
    ("sanityLevel;=2", 0, "unknown field 'sanityLevel'"),
    (";>5", 0, "missing field name"),
    ("width;5", 6, "operator"),
    ("width;", 5, "missing condition"),
    ("user;>abc", 5, "only = and !="),
    ("animated;=maybe", 10, "true or false"),
    ("animated;>true", 9, "only = and !="),
    ("tags1:a;>0.5", 7, "no score"),
    ("tags.a;>2", 8, "0 to 1"),
    ("tags.a;0.5", 7, "operator"),
    ("tags.a;>=null", 9, "null"),
    ("width;>null", 6, "null"),
    ("m;", 2, "missing words"),
    ("m;   ", 2, "missing words"),
    ("mt;", 3, "missing words"),
    ("!", 1, "missing item"),
    ("|", 1, "missing item"),
    ("!!tags.a", 1, "twice"),
    ("!|tags.a", 1, "before"),
    ("||tags.a", 1, "twice"),
    ("foo", 0, "unknown item"),
    ("date;<=9999", 7, "out of range"),
    ("filesize;>99999999999999999999", 10, "too large"),
    ("width;>1e400", 7, "whole number"),
    ('tags."a', 5, "unclosed quote"),
    ('tags."a"b', 5, "quoted"),
    ("tags.a, tags.b, textlen;>=x", 26, "not a number"),
]


@pytest.mark.parametrize(("text", "position", "words"), LEGACY_ERRORS,
                         ids=[row[0] for row in LEGACY_ERRORS])
def test_original_syntax_errors(text: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse_query(text, syntax="legacy")
    error = raised.value
    assert (error.position, error.column) == (position, position + 1), error.describe()
    assert words in error.message
    assert error.query == text


BOORU_ERRORS = [
    ("foo:>5", 0, "unknown field 'foo'"),
    ("a foo:1..5", 2, "unknown field 'foo'"),
    ('foo:"x y"', 0, "unknown field 'foo'"),
    ("width:>abc", 7, "not a number"),
    ("width:", 6, "missing value"),
    ("width:>", 7, "missing value"),
    ("width:1.5", 6, "whole number"),
    ("width:5..1", 6, "empty"),
    ("width:>1..5", 6, "no operator"),
    ("width:..", 6, "at least one end"),
    ("date:2020-13", 5, "month"),
    ("date:20201", 5, "not a date"),
    ("date:9999", 5, "out of range"),
    ("date:2021..2020", 5, "empty"),
    ("user:>foo", 5, "only = and !="),
    ("user:1..2x", -1, ""),  # not an error: text fields take '..' literally
    ("animated:maybe", 9, "true or false"),
    ("animated:>true", 9, "only = and !="),
    ("user:!=", 7, "missing value"),
    ("(a", 0, "unclosed '('"),
    ("a (b (c)", 2, "unclosed '('"),
    (")", 0, "unmatched ')'"),
    ("a )", 2, "unmatched ')'"),
    ("()", 0, "empty group"),
    ("(order:date)", 0, "empty group"),
    ("or a", 0, "'or' needs a term before"),
    ("a or", 2, "'or' needs a term after"),
    ("a or or b", 2, "'or' needs a term after"),
    ("a or order:date", 2, "'or' needs a term after"),
    ("and a", 0, "'and' needs a term before"),
    ("a and", 2, "'and' needs a term after"),
    ("a and or b", 2, "'and' needs a term after"),
    ("a and and b", 6, "'and' needs a term before"),
    ("-", 0, "must be followed"),
    ("- a", 0, "must be followed"),
    ("~", 0, "must be followed"),
    ("a -", 2, "must be followed"),
    ("(a -)", 3, "must be followed"),
    ("-~a", 1, "put '~' before '-'"),
    ("~~a", 1, "'~' twice"),
    ('"abc', 0, "unclosed quote"),
    ('a"b', 1, "unclosed quote"),
    ('"a"b', 3, "closing quote"),
    ('""', 0, "empty tag"),
    ('" "', 0, "empty tag"),
    ("-order:date", 0, "cannot be negated"),
    ("~order:date ~a", 0, "cannot be negated"),
    ("order:", 6, "missing sort field"),
    ("order:foo", 6, "unknown sort field 'foo'"),
    ("order:date;2", 11, "sort direction"),
    ("order:-date_asc", 6, "two sort directions"),
    ('order:"date"', 6, "quoted"),
    ("pixiv:abc", 6, "illust id (digits) or one of ok, deleted, private"),
    ("twitter:abc", 8, "post id"),
    ("pixiv_state:gone", 12, "one of ok, deleted, private"),
    ("title:>a", 6, "only = and !="),
    ("pixiv:", 6, "missing value"),
    ("has:foo", 4, "unknown field 'foo'"),
    ("has:", 4, "missing value"),
    ("ocr:", 4, "missing value"),
    ('ocr:" "', 5, "missing text"),
    ("model:", 6, "missing tag"),
    ("model:a:>2", 9, "0 to 1"),
    ('src:"a":>0.5', 7, "unexpected text"),
    ('model:"a":', 10, "missing score"),
    ('model:"a":0.5', 10, "needs an operator"),
    ('model:a"b"', 7, "directly"),
    ("id:xyz", 3, "hex"),
    ("format:", 7, "missing value"),
    ('user:"a"b', 8, "after the closing quote"),
    ('user:a"b"', 6, "directly"),
    ('width:"abc"', 7, "not a number"),
    ("ratio:1/0", 6, "divides by zero"),
    ("ratio:1e400", 6, "too large"),
    ("filesize:-5", 9, "cannot be negative"),
    ("filesize:5XB", 9, "not a size"),
    ("width:99999999999999999999", 6, "too large"),
    ("(" * 60 + "a" + ")" * 60, 50, "nest deeper"),
]


@pytest.mark.parametrize(("text", "position", "words"), BOORU_ERRORS,
                         ids=[row[0][:30] for row in BOORU_ERRORS])
def test_booru_syntax_errors(text: str, position: int, words: str) -> None:
    if position < 0:
        parse_query(text, syntax="booru")
        return
    with pytest.raises(QueryError) as raised:
        parse_query(text, syntax="booru")
    error = raised.value
    assert error.position == position, error.describe()
    assert words in error.message
    assert error.query == text


@pytest.mark.parametrize(("text", "position", "words"), [
    ("filesize;2", 9, "sort direction"),
    ("foo", 0, "unknown sort field"),
    ("date, -bar", 7, "unknown sort field 'bar'"),
    ("-date_asc", 0, "two sort directions"),
    ("order:", 6, "missing sort field"),
    ("-", 1, "missing sort field"),
])
def test_sort_errors(text: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse_sort(text)
    assert (raised.value.position, raised.value.query) == (position, text)
    assert words in raised.value.message


def test_a_bad_sort_argument_points_into_the_sort_text() -> None:
    with pytest.raises(QueryError) as raised:
        parse_query("1girl", "date, bogus")
    assert (raised.value.position, raised.value.query) == (6, "date, bogus")


def test_an_unknown_syntax_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="unknown syntax"):
        parse_query("a", syntax="sql")  # type: ignore[arg-type]


def test_error_describes_the_place() -> None:
    with pytest.raises(QueryError) as raised:
        parse_query("1girl width:>abc")
    assert raised.value.describe().splitlines() == [
        "column 14: 'abc' is not a number", "  1girl width:>abc", "               ^"]


# -- printing --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "printed"), [
    ("1girl -monochrome filesize:>2MB order:-date",
     "1girl -monochrome filesize:>2097152 order:date"),
    ("tags.long_hair,|tags1:猫,|tags1:犬", "model:long_hair (src:猫 or src:犬)"),
    ("date:2020", "date:>=2020-01-01 date:<2021-01-01"),
    ("~a ~b c", "(a or b) c"),
    ("a b or c", "a b or c"),
    ("-(a or b)", "-(a or b)"),
    ("(a_(b) c) or :)", 'a_(b) c or ":)"'),
    ('"long hair" "or" "tags.x" "width:1" re:zero', '"long hair" "or" "tags.x" "width:1" re:zero'),
    ("tags.long_hair;<=0.9", "model:long_hair model:long_hair:<=0.9"),
    ('model:"re:0"', 'model:"re:0"'),
    ("!username", "-has:user"),
    ('user:"a b" user:">_<"', 'user:"a b" user:">_<"'),
    ("pixiv:123", "source:pixiv postid:123"),
    ("pixiv:deleted", "pixiv_state:deleted"),
    ("animated:yes order:random", "animated:true order:random"),
    ("order:size_asc", "order:filesize_asc"),
    ("", ""),
])
def test_format_query(text: str, printed: str) -> None:
    assert format_query(parse_query(text)) == printed
    assert parse_query(printed, syntax="booru") == parse_query(text)


def test_printing_a_tree_outside_the_normal_form() -> None:
    with pytest.raises(ValueError):
        format_query(Query(And((Tag("a"), MatchAll()))))


# -- the docs ----------------------------------------------------------------------------

def _doc_examples(language: str) -> list[str]:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("syntax", ["booru", "legacy"])
def test_every_example_in_the_docs_parses_as_its_syntax(syntax: str) -> None:
    examples = _doc_examples(syntax)
    assert len(examples) >= 10
    for example in examples:
        parse_query(example, syntax=syntax)  # type: ignore[arg-type]
        assert detect_syntax(example) == syntax, example


def test_every_field_and_alias_is_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for spec in FIELDS:
        for name in (spec.name, *spec.aliases):
            assert f"`{name}`" in text, name
    for name in HAS_EXTRA:
        assert f"has:{name}" in text


def test_parse_module_examples() -> None:
    assert doctest.testmod(parse_module).failed == 0
