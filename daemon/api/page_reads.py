"""Reads the search page needs beside searching, on either catalogue (SQLite or
MongoDB): the tags of a set of results with their counts, autocomplete that
also finds a word inside a tag (``miku`` in ``hatsune_miku``, ``ミク`` in
``初音ミク``) and artists' names, and the online paths of a selection.

Every function takes images by their SHA-256 (what the page holds), at most
:data:`MAX_IDS` at once, and never a path.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from pximse.store.pathtext import readable
from pximse.store.tagnames import tag_key

__all__ = ["MAX_IDS", "artist_names", "online_paths", "result_tags", "tag_category",
           "tags_matching"]

MAX_IDS = 2000
"""The most images one request may name (a page of results is 50 to 1000)."""

_CHUNK = 500


def _mongo(catalog: Any) -> Any:
    return getattr(catalog, "mdb", None)


def tag_category(name: str, from_model: bool) -> str:
    """Where a tag belongs in the page's tag list: ``character`` and ``rating``
    by the tagger's prefixes, ``general`` for the tagger's other tags, and
    ``source`` for the tags the file's source gave it (Pixiv, a booru)."""
    if name.startswith("character:"):
        return "character"
    if name.startswith("rating:"):
        return "rating"
    return "general" if from_model else "source"


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start:start + _CHUNK] for start in range(0, len(items), _CHUNK)]


# -- the tags of a set of results ---------------------------------------------------------


def result_tags(catalog: Any, shas: Sequence[str], *, threshold: float,
                limit: int = 200) -> dict[str, Any]:
    """The tags the images carry, most common first, each with how many of the
    images carry it (a tagger's tag only at or above ``threshold``, the score
    a search asks for); and the images' artists, counted the same way."""
    wanted = sorted({sha.lower() for sha in shas})
    if _mongo(catalog) is not None:
        tags, artists = _mongo_result_tags(catalog, wanted, threshold)
    else:
        tags, artists = _sqlite_result_tags(catalog, wanted, threshold)
    ranked = sorted(tags.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return {
        "images": len(wanted),
        "tags": [{"name": name, "count": count,
                  "kind": "model" if from_model else "source",
                  "category": tag_category(name, from_model)}
                 for name, (count, from_model) in ranked],
        "artists": [{"name": name, "user_id": user_id, "source": source, "count": count}
                    for (name, user_id, source), count in sorted(
                        artists.items(), key=lambda kv: (-kv[1], str(kv[0][0])))[:50]],
    }


def _sqlite_result_tags(catalog: Any, shas: list[str], threshold: float
                        ) -> tuple[dict[str, tuple[int, bool]], Counter[tuple[Any, ...]]]:
    conn = catalog.db.reader()
    tags: dict[str, list[Any]] = {}
    artists: Counter[tuple[Any, ...]] = Counter()
    for part in _chunks(shas):
        marks = ",".join("?" * len(part))
        ids = f"SELECT id FROM content WHERE sha256 IN ({marks}) AND state IN (0, 1)"
        for name, count, from_model in conn.execute(
                "SELECT t.name, count(DISTINCT it.content_id), max(it.kind = 0)"
                f" FROM image_tag it JOIN tag t ON t.id = it.tag_id WHERE it.content_id IN ({ids})"
                " AND (it.kind != 0 OR it.score >= ?) GROUP BY t.id", (*part, threshold)):
            entry = tags.setdefault(name, [0, False])
            entry[0] += count
            entry[1] = entry[1] or bool(from_model)
        for user_name, user_id, source, count in conn.execute(
                "SELECT user_name, user_id, source, count(*) FROM content"
                f" WHERE sha256 IN ({marks}) AND state IN (0, 1)"
                " AND (user_name IS NOT NULL OR user_id IS NOT NULL) GROUP BY 1, 2, 3", part):
            artists[(user_name, user_id, source)] += count
    return {name: (count, model) for name, (count, model) in tags.items()}, artists


def _mongo_result_tags(catalog: Any, shas: list[str], threshold: float
                       ) -> tuple[dict[str, tuple[int, bool]], Counter[tuple[Any, ...]]]:
    mdb = _mongo(catalog)
    counts: Counter[str] = Counter()
    from_model: set[str] = set()
    artists: Counter[tuple[Any, ...]] = Counter()
    for part in _chunks(shas):
        for doc in mdb.content.find({"sha256": {"$in": list(part)}, "state": {"$in": [0, 1]}},
                                    {"tags": 1, "user_name": 1, "user_id": 1, "source": 1}):
            keys = set()
            for tag in doc.get("tags", []):
                if tag["kind"] != 0 or tag["score"] >= threshold:
                    keys.add(tag["key"])
                    if tag["kind"] == 0:
                        from_model.add(tag["key"])
            counts.update(keys)
            if doc.get("user_name") is not None or doc.get("user_id") is not None:
                artists[(doc.get("user_name"), doc.get("user_id"), doc.get("source"))] += 1
    names = {doc["_id"]: doc["name"] for doc in mdb.tags.find(
        {"_id": {"$in": list(counts)}}, {"name": 1})} if counts else {}
    return ({names.get(key, key): (count, key in from_model) for key, count in counts.items()},
            artists)


# -- autocomplete ---------------------------------------------------------------------------


def tags_matching(catalog: Any, word: str, limit: int = 10) -> list[tuple[str, int]]:
    """Tags for ``word``, most used first: those that start with it, then those
    that hold it elsewhere (a name part after ``_``, or inside CJK text)."""
    found = list(catalog.tags_with_prefix(word, limit))
    key = tag_key(word)
    if len(found) >= limit or not key:
        return found
    seen = {name for name, _ in found}
    more: list[tuple[str, int]]
    if _mongo(catalog) is not None:
        import re

        docs = _mongo(catalog).tags.find(
            {"_id": {"$regex": re.escape(key)}, "count": {"$gt": 0}}
        ).sort([("count", -1), ("_id", 1)]).limit(limit + len(found))
        more = [(doc["name"], int(doc["count"])) for doc in docs]
    else:
        more = [(name, count) for name, count in catalog.db.reader().execute(
            "SELECT name, count FROM tag WHERE key LIKE ? ESCAPE '\\' AND count > 0"
            " ORDER BY count DESC, key LIMIT ?", (_like(key), limit + len(found)))]
    found += [(name, count) for name, count in more if name not in seen]
    return found[:limit]


def artist_names(catalog: Any, word: str, limit: int = 10) -> list[tuple[str, int]]:
    """Artists' names (``user:``) that start with ``word``, then that hold it,
    with how many images each has, most first."""
    if _mongo(catalog) is not None:
        import re

        found: list[tuple[str, int]] = []
        for pattern in ("^" + re.escape(word), re.escape(word)):
            rows = _mongo(catalog).content.aggregate([
                {"$match": {"user_name": {"$regex": pattern, "$options": "i"},
                            "state": {"$in": [0, 1]}}},
                {"$group": {"_id": "$user_name", "count": {"$sum": 1}}},
                {"$sort": {"count": -1, "_id": 1}}, {"$limit": limit}])
            found += [(row["_id"], int(row["count"])) for row in rows
                      if row["_id"] not in {name for name, _ in found}]
            if len(found) >= limit:
                break
        return found[:limit]
    conn = catalog.db.reader()
    prefix = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = [(name, count) for name, count in conn.execute(
        "SELECT user_name, count(*) FROM content WHERE user_name LIKE ? ESCAPE '\\'"
        " AND state IN (0, 1) GROUP BY user_name COLLATE NOCASE ORDER BY 2 DESC, 1 LIMIT ?",
        (prefix, limit))]
    if len(found) < limit and word:
        seen = {name.casefold() for name, _ in found}
        found += [(name, count) for name, count in conn.execute(
            "SELECT user_name, count(*) FROM content WHERE user_name LIKE ? ESCAPE '\\'"
            " AND state IN (0, 1) GROUP BY user_name COLLATE NOCASE ORDER BY 2 DESC, 1 LIMIT ?",
            (_like(word), limit + len(found))) if name.casefold() not in seen]
    return found[:limit]


# -- a selection ----------------------------------------------------------------------------


def online_paths(catalog: Any, shas: Sequence[str]) -> dict[str, list[str]]:
    """Each image's online files, first recorded first, by SHA-256."""
    wanted = sorted({sha.lower() for sha in shas})
    paths: dict[str, list[str]] = defaultdict(list)
    if _mongo(catalog) is not None:
        mdb = _mongo(catalog)
        for part in _chunks(wanted):
            ids = {doc["_id"]: doc["sha256"] for doc in mdb.content.find(
                {"sha256": {"$in": list(part)}}, {"sha256": 1})}
            for doc in mdb.files.find({"content_id": {"$in": list(ids)}, "state": "ok"},
                                      {"path": 1, "content_id": 1}).sort("_id", 1):
                paths[ids[doc["content_id"]]].append(readable(doc["path"]))
        return dict(paths)
    conn = catalog.db.reader()
    for part in _chunks(wanted):
        marks = ",".join("?" * len(part))
        for sha, path in conn.execute(
                "SELECT c.sha256, f.path FROM content c JOIN file f ON f.content_id = c.id"
                f" WHERE c.sha256 IN ({marks}) AND f.state = 'ok' ORDER BY f.id", part):
            paths[sha].append(readable(path))
    return dict(paths)
