"""Reads the search page needs beside searching, through the catalogue's own
reads (any backend): the tags of a set of results with their counts, autocomplete that
also finds a word inside a tag (``miku`` in ``hatsune_miku``, ``ミク`` in
``初音ミク``) and artists' names, and the online paths of a selection.

Every function takes images by their SHA-256 (what the page holds), at most
:data:`MAX_IDS` at once, and never a path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pximse.store.backends import Catalog
from pximse.store.pathtext import readable
from pximse.store.tagnames import tag_key

__all__ = ["MAX_IDS", "artist_names", "online_paths", "result_tags", "tag_category",
           "tags_matching"]

MAX_IDS = 2000
"""The most images one request may name (a page of results is 50 to 1000)."""

_CHUNK = 500


def tag_category(name: str, from_model: bool) -> str:
    """Where a tag belongs in the page's tag list: ``character`` and ``rating``
    by the tagger's prefixes, ``general`` for the tagger's other tags, and
    ``source`` for the tags the file's source gave it (Pixiv, a booru)."""
    if name.startswith("character:"):
        return "character"
    if name.startswith("rating:"):
        return "rating"
    return "general" if from_model else "source"


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start:start + _CHUNK] for start in range(0, len(items), _CHUNK)]


# -- the tags of a set of results ---------------------------------------------------------


def result_tags(catalog: Catalog, shas: Sequence[str], *, threshold: float,
                limit: int = 200) -> dict[str, Any]:
    """The tags the images carry, most common first, each with how many of the
    images carry it (a tagger's tag only at or above ``threshold``, the score
    a search asks for); and the images' artists, counted the same way."""
    wanted = sorted({sha.lower() for sha in shas})
    tally = catalog.tag_tally(wanted, threshold)
    ranked = sorted(tally.tags.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return {
        "images": len(wanted),
        "tags": [{"name": name, "count": count,
                  "kind": "model" if from_model else "source",
                  "category": tag_category(name, from_model)}
                 for name, (count, from_model) in ranked],
        "artists": [{"name": name, "user_id": user_id, "source": source, "count": count}
                    for (name, user_id, source), count in sorted(
                        tally.artists.items(), key=lambda kv: (-kv[1], str(kv[0][0])))[:50]],
    }


# -- autocomplete ---------------------------------------------------------------------------


def tags_matching(catalog: Catalog, word: str, limit: int = 10) -> list[tuple[str, int]]:
    """Tags for ``word``, most used first: those that start with it, then those
    that hold it elsewhere (a name part after ``_``, or inside CJK text)."""
    found = list(catalog.tags_with_prefix(word, limit))
    key = tag_key(word)
    if len(found) >= limit or not key:
        return found
    seen = {name for name, _ in found}
    more = catalog.tags_containing(key, limit + len(found))
    found += [(name, count) for name, count in more if name not in seen]
    return found[:limit]


def artist_names(catalog: Catalog, word: str, limit: int = 10) -> list[tuple[str, int]]:
    """Artists' names (``user:``) that start with ``word``, then that hold it,
    with how many images each has, most first."""
    return catalog.user_names_matching(word, limit)


# -- a selection ----------------------------------------------------------------------------


def online_paths(catalog: Catalog, shas: Sequence[str]) -> dict[str, list[str]]:
    """Each image's online files, first recorded first, by SHA-256."""
    wanted = sorted({sha.lower() for sha in shas})
    paths: dict[str, list[str]] = defaultdict(list)
    for part in _chunks(wanted):
        ids = catalog.content_ids(part)
        for file in catalog.content_files(sorted(ids.values())):
            paths[file.sha256].append(readable(file.path))
    return dict(paths)
