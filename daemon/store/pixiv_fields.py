"""What the catalogue keeps of a Pixiv work, and the rules both catalogues follow.

The SQLite catalogue (:mod:`pximse.store.sqlite.pixivrows`) and the MongoDB one
(:mod:`pximse.store.mongo.pixiv`) store the same things in their own shapes;
the meaning lives here once:

* a work's stored values (:func:`work_values`, :func:`work_from_values`): the
  flags as 0/1, the tags as ``{name, translation}`` items;
* a deleted or private answer (:func:`merge_hidden`) changes the state, the
  door and the time, fills in what Pixiv still tells, and keeps the rest;
* what each image of a work copies from it (:func:`image_copy`);
* the user-name rule (:func:`most_recent_name`, :func:`best_names`): a Pixiv
  user id's name is the one seen most recently, the smaller name on a tie;
* which names a work's tags give its images (:func:`tag_names`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pximse.store.records import PixivTag, PixivWork
from pximse.store.tagnames import tag_key

PIXIV_ORIGIN = "pixiv"
"""The tag origin of Pixiv's tags and their translations."""

KEEP_WHEN_MISSING = ("title", "caption", "created", "views", "bookmarks", "likes", "comments",
                     "user_id", "user_name", "ai", "r18", "x_restrict", "pages")
"""What a deleted or private answer leaves as it was when it does not say."""

WORK_FIELDS = ("state", "via", "fetched_at", *KEEP_WHEN_MISSING, "tags")
"""The stored values of a work, after its illust id."""

IMAGE_FIELDS = ("pixiv_state", "views", "bookmarks", "likes", "comments", "ai", "r18", "title",
                "posted")
"""What each image of a work copies from it (:func:`image_copy`)."""


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def work_values(work: PixivWork) -> dict[str, Any]:
    """The values to store for one answer, by :data:`WORK_FIELDS` name."""
    return {
        "state": work.state, "via": work.via, "fetched_at": work.fetched_at,
        "title": work.title, "caption": work.caption, "created": work.created,
        "views": work.views, "bookmarks": work.bookmarks, "likes": work.likes,
        "comments": work.comments, "user_id": work.user_id, "user_name": work.user_name,
        "ai": _flag(work.ai), "r18": _flag(work.r18), "x_restrict": work.x_restrict,
        "pages": work.pages,
        "tags": [{"name": t.name, "translation": t.translation} for t in work.tags]}


def merge_hidden(values: dict[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values to store: ``values`` for an ``ok`` answer or a work never stored;
    for a deleted or private one, what was known before where it says nothing."""
    if values["state"] == "ok" or old is None:
        return values
    merged = dict(values)
    for name in KEEP_WHEN_MISSING:
        if merged[name] is None:
            merged[name] = old.get(name)
    if not merged["tags"]:
        merged["tags"] = list(old.get("tags") or [])
    return merged


def work_from_values(illust_id: str, values: Mapping[str, Any]) -> PixivWork:
    """The work from its stored values (missing ones are None)."""
    def flag(name: str) -> bool | None:
        return None if values.get(name) is None else bool(values[name])

    return PixivWork(
        illust_id=illust_id, state=values["state"], via=values["via"],
        fetched_at=values["fetched_at"], title=values.get("title"),
        caption=values.get("caption"), created=values.get("created"),
        views=values.get("views"), bookmarks=values.get("bookmarks"),
        likes=values.get("likes"), comments=values.get("comments"),
        user_id=values.get("user_id"), user_name=values.get("user_name"), ai=flag("ai"),
        r18=flag("r18"), x_restrict=values.get("x_restrict"), pages=values.get("pages"),
        tags=[PixivTag(t["name"], t.get("translation")) for t in values.get("tags") or []])


def image_copy(work: PixivWork | None) -> dict[str, Any]:
    """What an image copies from its work (all None when it has none). A None
    ``title`` or ``posted`` keeps what the image's file name gave."""
    if work is None:
        return dict.fromkeys(IMAGE_FIELDS)
    return {"pixiv_state": work.state, "views": work.views, "bookmarks": work.bookmarks,
            "likes": work.likes, "comments": work.comments, "ai": _flag(work.ai),
            "r18": _flag(work.r18), "title": work.title or None, "posted": work.created}


def tag_names(tags: Iterable[PixivTag]) -> dict[str, float]:
    """The source tags a work gives its images: each tag and its translation."""
    wanted: dict[str, float] = {}
    for tag in tags:
        for name in (tag.name, tag.translation):
            if name and tag_key(name):
                wanted.setdefault(name, 1.0)
    return wanted


def _rank(name: str, seen: int) -> tuple[int, str]:
    return -seen, name


def most_recent_name(seen: Iterable[tuple[str, int]]) -> str | None:
    """The name seen most recently (ties: the smaller name) of ``(name, seen)``."""
    best = min(seen, key=lambda pair: _rank(*pair), default=None)
    return None if best is None else best[0]


def best_names(seen: Iterable[tuple[str, str, int]]) -> dict[str, str]:
    """Each user id's :func:`most_recent_name`, of ``(user_id, name, seen)``."""
    best: dict[str, tuple[str, int]] = {}
    for user_id, name, when in seen:
        have = best.get(user_id)
        if have is None or _rank(name, when) < _rank(*have):
            best[user_id] = (name, when)
    return {user_id: name for user_id, (name, _) in best.items()}


def latest_sightings(seen: Iterable[tuple[str, str, int | None]]
                     ) -> dict[tuple[str, str], int]:
    """The last time each ``(user_id, name)`` was seen, of ``(user_id, name, seen)``;
    empty names are no names."""
    latest: dict[tuple[str, str], int] = {}
    for user_id, name, when in seen:
        if user_id and name:
            key = (user_id, name)
            latest[key] = max(latest.get(key, when or 0), when or 0)
    return latest
