"""Putting the best matches of a vector search in the order of a sort.

The original front end's form ranks by CLIP similarity and keeps the best
(``search.original_api_limit``) matches; a sort it sends beside the image or
text then orders those matches. The catalogue sorts a whole filtered set; a
few hundred results already in hand are ordered here, as the catalogue orders
(each key in turn, a missing value last either way), the similarity breaking
ties.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from pximse.query.ast import SortKey
from pximse.store.listing import ResultDetails

__all__ = ["order_ranked"]

_ITEM_KEYS = {"user": "user_name", "userid": "user_id", "postid": "post_id"}
"""Sort fields read from a result item under another name."""
_DETAIL_KEYS = frozenset({"title", "views", "bookmarks", "likes", "comments", "ai", "r18",
                          "pixiv_state"})


def order_ranked(items: Sequence[dict[str, Any]], sort: Sequence[SortKey],
                 details: Mapping[str, ResultDetails]) -> list[dict[str, Any]]:
    """``items`` (best match first) ordered by ``sort``."""
    ordered = list(items)
    for key in reversed(sort):
        values = [(_value(key.field, item, details.get(item["id"]) or ResultDetails()), item)
                  for item in ordered]
        present = [pair for pair in values if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=key.descending and key.field != "random")
        ordered = [item for _, item in present] + [item for value, item in values
                                                   if value is None]
    return ordered


def _value(name: str, item: Mapping[str, Any], details: ResultDetails) -> Any:
    if name == "random":
        return int(item["id"][:12], 16)
    if name == "id":
        return item["id"]
    if name == "ratio":
        return item["width"] / item["height"] if item["height"] else 0.0
    if name == "pixels":
        return item["width"] * item["height"]
    if name in ("path", "folder", "filename"):
        texts = [file.path if name == "path" else file.name if name == "filename"
                 else posixpath.dirname(file.path.replace("\\", "/")) for file in details.files]
        return min(texts, default=None)
    if name in _DETAIL_KEYS:
        return getattr(details, name)
    return item.get(_ITEM_KEYS.get(name, name))
