"""What the catalogue records per image, named as the query language names it.

Every backend's compiler (SQLite, MongoDB, Milvus' filter) and reader turns a
query field into the same stored value, so the field -> column table, the
columns that may be missing and the tag kinds are kept here, once.
"""

from __future__ import annotations

KIND_MODEL, KIND_SOURCE, KIND_MANUAL = 0, 1, 2
"""Where a tag came from: a model's prediction, the image's source (a booru's
or Pixiv's tags, a file name), or the user."""

FILENAME_TAG_ORIGINS = ("yandere", "danbooru", "gelbooru")
"""Tag origins that come from file names, replaced whenever the names change."""

CONTENT_COLUMNS: dict[str, str] = {
    "filesize": "filesize",
    "width": "width",
    "height": "height",
    "ratio": "ratio",
    "pixels": "pixels",
    "date": "date",
    "posted": "posted",
    "source": "source",
    "user": "user_name",
    "userid": "user_id",
    "postid": "post_id",
    "page": "page",
    "tagcount": "tagcount",
    "textlen": "textlen",
    "format": "format",
    "animated": "animated",
    "frames": "frames",
    "title": "title",
    "bookmarks": "bookmarks",
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "ai": "ai",
    "r18": "r18",
    "pixiv_state": "pixiv_state",
}
"""Query field -> the content record's column (SQLite) or key (MongoDB)."""

NULLABLE = frozenset({"posted", "user", "userid", "postid", "page", "textlen", "title",
                      "bookmarks", "views", "likes", "comments", "ai", "r18", "pixiv_state"})
"""Fields whose value may be missing (no source date, no user, no OCR yet, not
fetched from Pixiv...)."""

FILE_FIELDS = ("path", "folder", "filename")
"""Fields read from the content's files (any of them matches; a sort takes the smallest)."""

FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff", "apng": "png"}
"""Other names of the stored formats, as a ``format:`` query may write them."""
