"""The fields a query can filter and sort on: names, aliases, value kinds.

Both parsers look fields up here (so an unknown field is a parse error at its
position) and every compiler maps the canonical name to its storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["int", "float", "size", "date", "str", "bool", "path"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    doc: str
    aliases: tuple[str, ...] = ()
    sortable: bool = True


FIELDS: tuple[Field, ...] = (
    Field("filesize", "size", "file size in bytes; units B, KB, MB, GB (1024-based)", ("size",)),
    Field("width", "int", "width in pixels", ("w",)),
    Field("height", "int", "height in pixels", ("h",)),
    Field("ratio", "float", "width divided by height", ("aspect",)),
    Field("pixels", "int", "width times height; units K, M (1000-based, `pixels:>2M`)",
          ("mpixels",)),
    Field("date", "date", "the file's modification time (UTC)", ("mtime",)),
    Field("posted", "date", "when the post was published, from its source (UTC)", ("post_date",)),
    Field("source", "str", "pixiv, twitter, yandere, danbooru, gelbooru, other", ("site",)),
    Field("user", "str", "the artist's name at the source", ("username", "user_name", "artist")),
    Field("userid", "str", "the artist's id at the source", ("user_id",)),
    Field("postid", "str", "the post / illust / tweet id", ("post_id", "illust_id", "pid")),
    Field("page", "int", "page of a multi-page post, from 0"),
    Field("tagcount", "int", "number of tags (model and source)", ("tags_count",)),
    Field("textlen", "int", "length of the OCR text in characters"),
    Field("format", "str", "png, jpeg, gif, webp, bmp, tiff, avif", ("type", "ext")),
    Field("animated", "bool", "more than one frame (GIF, WebP, PNG animations)"),
    Field("frames", "int", "number of frames"),
    Field("path", "path", "the file's path: substring, or a glob with * and ?"),
    Field("filename", "path", "the file's name without its folder: the whole name in any "
          "case, or a glob with * and ?", ("file_name",)),
    Field("folder", "path", "a folder the file is in (prefix), or a glob", ("dir",)),
    Field("id", "str", "the SHA-256 of the content (hex); a prefix of 8+ digits is enough",
          ("sha256", "hash")),
    # Pixiv metadata (`pximse pixiv fetch`): missing until the work is fetched.
    Field("title", "str", "the work's title (Pixiv's, else the file name's): a part of it, "
          "in any case"),
    Field("bookmarks", "int", "Pixiv bookmarks", ("bookmark_count", "total_bookmarks")),
    Field("views", "int", "Pixiv views", ("view_count", "total_view")),
    Field("likes", "int", "Pixiv likes (the public page reports them, the app API does not)",
          ("like_count",)),
    Field("comments", "int", "Pixiv comments", ("comment_count", "total_comments")),
    Field("ai", "bool", "Pixiv marks the work AI-generated", ("ai_generated",)),
    Field("r18", "bool", "Pixiv restricts the work to adults (R-18 or R-18G)"),
    Field("pixiv_state", "str", "what Pixiv last said of the work: ok, deleted or private "
          "(`pixiv:deleted`)", ("pixivstate",)),
)

PIXIV_STATES: tuple[str, ...] = ("ok", "deleted", "private")
"""The values ``pixiv_state`` takes."""

HAS_EXTRA: tuple[str, ...] = ("model_tags", "source_tags", "ocr")
"""Names ``Has`` takes besides fields: any tag from a model, any source tag, any OCR text."""

SORT_ONLY: tuple[str, ...] = ("random",)
"""Sort keys that are not filter fields."""

_BY_NAME: dict[str, Field] = {}
for _field in FIELDS:
    for _name in (_field.name, *_field.aliases):
        _BY_NAME[_name] = _field


def lookup(name: str) -> Field | None:
    """The field for a name or alias (case-insensitive), or None."""
    return _BY_NAME.get(name.lower())


def field(name: str) -> Field:
    """The field for a canonical name; KeyError for an unknown one."""
    found = _BY_NAME.get(name)
    if found is None or found.name != name:
        raise KeyError(name)
    return found


def sortable_names() -> list[str]:
    return [f.name for f in FIELDS if f.sortable] + list(SORT_ONLY)
