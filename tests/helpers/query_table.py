"""Hand-written queries in both syntaxes, covering every field, and the freshness queries."""

from __future__ import annotations

from helpers.query_reference import Reference
from pximse.query.ast import (
    Compare,
    Has,
    MatchAll,
    Not,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
)

TABLE: list[tuple[str, str, str, bool]] = [
    # (query, sort, syntax, expect some result)
    ("tags.long_hair", "", "legacy", True),
    ("tags.long_hair;<=0.9", "", "legacy", True),
    ("tags.long_hair;>=0.5&<0.5001", "", "legacy", True),
    ("tags1:cat", "filesize;1", "legacy", True),
    ("|tags1:cat,|tags1:初音ミク", "", "legacy", True),
    ("!tags.monochrome,tags.smile", "width;-1", "legacy", True),
    ("filesize;>1000000", "", "legacy", True),
    ("date;>=2018-01-01&<2020-01-01", "date;1", "legacy", True),
    ('userid;="1001"', "", "legacy", True),
    ("user;=null", "", "legacy", True),
    ("m;ありがとう", "filesize;1", "legacy", True),
    ("m;hellp,!m;again", "date;1", "legacy", True),  # one typo in a 5-letter prefix
    ("m;wrld", "", "legacy", False),  # no typo allowed under 5 letters
    ("m:thank OR m:worlds", "order:id", "booru", True),
    ("mt:cat", "order:-width", "booru", True),
    ("textlen;>5", "textlen;1", "legacy", True),
    ("tags,!tags.monochrome", "", "legacy", True),
    ("!tags1", "", "legacy", True),
    ("type;=pixiv,page;>=1", "page", "legacy", True),
    ("illustid;={pixiv_post}", "", "legacy", True),
    ("createdate;>=2020-01-01", "posted;1", "legacy", True),
    ("1girl -monochrome", "", "booru", True),
    ("~cat ~dog solo", "", "booru", True),
    ("width:>=1000 height:<1000", "order:-pixels", "booru", True),
    ("ratio:16:9", "", "booru", True),
    ("pixels:>2M", "", "booru", True),
    ("date:2021", "", "booru", True),
    ("posted:2020..2022", "", "booru", True),
    ("source:twitter user:alice", "", "booru", True),
    ("userid:bob99 or postid:{pixiv_post}", "", "booru", True),
    ("page:0..1 order:page_asc", "", "booru", True),
    ("tagcount:>=3", "tagcount", "booru", True),
    ("format:jpg", "order:+frames,-filesize", "booru", True),
    ("animated:true frames:>1", "", "booru", True),
    ("path:_p0 -path:*.jpg", "order:path", "booru", True),
    ("filename:*_p?.* -filename:*.jpg", "order:filename", "booru", True),
    ("filename:TWITTER*", "order:-filename", "booru", False),  # a glob keeps case
    ("folder:/lib/main/pixiv", "order:folder", "booru", True),
    ("folder:misc/a_b", "", "booru", True),
    ("folder:*/twitter", "order:-id", "booru", True),
    ("folder:/lib/second", "", "booru", True),
    ("id:{id8}", "", "booru", True),
    ("has:ocr -has:user", "", "booru", True),
    ("has:tags", "", "booru", True),
    ("model:long_hair:>0.9 or src:cat", "", "booru", True),
    ("tag:cat -model:cat", "", "booru", True),
    ("ocr:HELLO", "", "booru", True),
    ("pixiv:{pixiv_post}", "", "booru", True),
    ("user:émile", "", "booru", False),  # ASCII-only case folding, as SQLite's NOCASE
    ("no_such_tag", "", "booru", False),
    ("", "height_asc,filesize;-1", "booru", True),
    ("pixiv:deleted", "order:-bookmarks", "booru", True),
    ("pixiv:private -has:title", "", "booru", True),
    ("pixiv_state:ok bookmarks:>=500", "order:views", "booru", True),
    ("title:summer", "order:title", "booru", True),
    ("title:ss", "", "booru", True),  # Straße: Unicode case folding
    ("-title:summer", "", "booru", True),
    ("views:100..5000 -ai:true", "order:+views", "booru", True),
    ("has:likes likes:>10", "order:-likes", "booru", True),
    ("comments:>=1 r18:false", "order:comments", "booru", True),
    ("ai:true or r18:true", "", "booru", True),
    ("src:original", "", "booru", True),  # a Pixiv tag's translation
    ("likeCount;>10,bookmarkCount;>=0", "", "legacy", True),
    ('title;="SUMMER"', "", "legacy", True),
    ('type;="pixiv1"', "filename;1", "legacy", True),
    ('type;="pixiv",!type;="pixiv1"', "illustid,createDate;1", "legacy", True),
    ('type;="other"', "type;1,viewCount", "legacy", True),
    ("textlen;<3,!text", "", "legacy", False),  # no text: nothing to measure
    ("text;!=null,tags1;=null", "commentCount;-1,likeCount,bookmarkCount", "legacy", True),
]

def table_params(reference: Reference) -> dict[str, str]:
    pixiv = sorted((item for item in reference.searchable if item.row["source"] == "pixiv"
                    and item.row["page"] == 0), key=lambda item: item.cid)
    present = min(reference.searchable, key=lambda item: item.sha256)
    return {"pixiv_post": str(pixiv[0].row["post_id"]) if pixiv else "0",
            "id8": present.sha256[:8]}


FRESHNESS_QUERIES = [
    Query(MatchAll()),
    Query(Tag("cat", "model"), (SortKey("width"),)),
    Query(TagScore("cat", ">=", 0.3), (SortKey("filesize", False),)),
    Query(Compare("width", "=", 4321)),
    Query(Compare("tagcount", ">=", 1), (SortKey("tagcount"),)),
    Query(Compare("user", "=", "fresh artist")),
    Query(Compare("userid", "=", "4242"), (SortKey("user"),)),
    Query(Has("ocr"), (SortKey("textlen", False),)),
    Query(Text("ocr", "FRESH")),
    Query(Compare("textlen", ">", 3)),
    Query(Compare("source", "=", "pixiv"), (SortKey("posted"), SortKey("page", False))),
    Query(Compare("folder", "=", "/lib/extra")),
    Query(Not(Tag("cat")), (SortKey("format"), SortKey("random", False))),
    Query(Compare("bookmarks", ">", 100), (SortKey("views"),)),
    Query(Compare("title", "=", "FRESH")),
    Query(Compare("pixiv_state", "=", "ok"), (SortKey("title"), SortKey("likes"))),
    Query(Tag("fresh", "source")),
]
