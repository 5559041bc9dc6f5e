"""Search results as the original PxIMSE's documents, for its front end.

The original kept one MongoDB document per file and its ``/api/query/``
answered a bare JSON array of them. Its front end reads these keys (a card
per document, a dialog listing every key, links built from ``type``,
``illustid`` and ``userid``, the picture at ``{serverUrl}/{folder}/{filename}``),
so each result becomes a document with the same keys and types, in the
original's order, ``null`` where the original had ``null``:

``_id``
    the content's SHA-256 (the original's was a MongoDB ObjectId; a string too)
``filename``, ``folder``
    the first online file's name, and its root's name joined with the folder
    below the root by ``/`` (``pixiv/2024``): the daemon serves the file at
    ``/{folder}/{filename}`` (:mod:`pximse.api.routes_original`)
``type``
    ``pixiv`` (a ``{user}_{illust}_p{page}`` name), ``pixiv1`` (another Pixiv
    name), ``twitter``, ``yandere`` or ``other`` (Danbooru, Gelbooru and
    unknown names): the values the original knew
``width``, ``height``, ``filesize``
    integers
``date``, ``createDate``
    the file's modification time and the post's date (Pixiv's, or a tweet's),
    as ``YYYY/MM/DD-HH:MM:SS`` (UTC, as PxIMSE's queries read dates)
``title``, ``user``, ``userid``, ``illustid``, ``description``
    text (``description`` is Pixiv's caption, HTML)
``viewCount``, ``bookmarkCount``, ``likeCount``, ``commentCount``
    Pixiv's counts, once fetched
``tags``
    tagger tag → score, for the tags at or above ``search.tag_threshold``
    (the original stored only those), or ``null`` without any (before the
    tagger has run too): the documents ``tags;=null`` finds
``tags1``
    the source tags (Pixiv's and their translations, yande.re's from the file
    name, manual ones), or ``null`` without any
``text``
    the OCR text, or ``null`` without any
``image_distance``, ``text_distance``
    the CLIP similarity to the query image or text (cosine, higher is closer,
    as the original's Milvus inner product), only when ranked by it

PxIMSE's own fields follow under names the original did not use: ``path``,
``source``, ``format``, ``page``, ``offline``, ``file_url``, ``thumbnail_url``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from pximse.query.legacy import ORIGINAL_TYPES, PIXIV_USER_NAMES
from pximse.store.listing import ResultDetails

__all__ = ["ORIGINAL_KEYS", "original_date", "original_documents", "original_type"]

ORIGINAL_KEYS: tuple[str, ...] = (
    "_id", "filename", "folder", "type", "width", "height", "filesize", "date", "title",
    "user", "userid", "illustid", "description", "createDate", "viewCount", "bookmarkCount",
    "likeCount", "commentCount", "tags", "tags1", "text",
)
"""Every key of the original's documents, in their order."""

_DATE_FORMAT = "%Y/%m/%d-%H:%M:%S"


def original_type(source: str, names: Sequence[str]) -> str:
    """The original's ``type`` for a source and the content's file names (the
    same rule as the query ``type;="pixiv1"``; see :mod:`pximse.query.legacy`)."""
    if source == "pixiv":
        return "pixiv" if any(fnmatchcase(name, PIXIV_USER_NAMES) for name in names) \
            else "pixiv1"
    return source if source in ORIGINAL_TYPES else "other"


def original_date(iso: str | None) -> str | None:
    """``2024-01-31T12:34:56Z`` as the original wrote dates: ``2024/01/31-12:34:56``."""
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime(_DATE_FORMAT)


def original_documents(items: Sequence[Mapping[str, Any]],
                       details: Mapping[str, ResultDetails], *, tag_threshold: float,
                       distances: Mapping[str, Mapping[str, float]] | None = None
                       ) -> list[dict[str, Any]]:
    """The documents for result ``items`` (search results as the API gives them);
    ``distances`` maps ``image_distance`` / ``text_distance`` to scores by id."""
    return [_document(item, details.get(item["id"]) or ResultDetails(), tag_threshold,
                      distances or {}) for item in items]


def _document(item: Mapping[str, Any], details: ResultDetails, tag_threshold: float,
              distances: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    sha = item["id"]
    first = details.files[0] if details.files else None
    folder = None if first is None else (
        posixpath.join(first.root, first.folder) if first.folder else first.root)
    doc: dict[str, Any] = {
        "_id": sha,
        "filename": first.name if first else posixpath.basename(item.get("path") or ""),
        "folder": folder,
        "type": original_type(item["source"], [f.name for f in details.files]),
        "width": item["width"],
        "height": item["height"],
        "filesize": item["filesize"],
        "date": original_date(item.get("date")),
        "title": details.title,
        "user": item.get("user_name"),
        "userid": item.get("user_id"),
        "illustid": item.get("post_id"),
        "description": details.caption,
        "createDate": original_date(item.get("posted")),
        "viewCount": details.views,
        "bookmarkCount": details.bookmarks,
        "likeCount": details.likes,
        "commentCount": details.comments,
        "tags": {name: score for name, score in details.model_tags.items()
                 if score >= tag_threshold} or None,
        "tags1": list(details.source_tags) or None,
        "text": details.ocr_text or None,
    }
    for key, scores in distances.items():
        if sha in scores:
            doc[key] = scores[sha]
    doc.update({
        "path": item.get("path"),
        "source": item["source"],
        "format": item.get("format"),
        "page": item.get("page"),
        "offline": bool(item.get("offline")),
        "file_url": f"/api/images/{sha}/file",
        "thumbnail_url": f"/api/images/{sha}/thumbnail",
    })
    return doc
