"""Pixiv metadata in the MongoDB catalogue, with the SQLite catalogue's meaning.

See :mod:`pximse.store.sqlite.pixivrows` for what is stored and why: what
Pixiv said about a work (``pixiv_work``, ``_id`` the illust id), failed
attempts (``pixiv_error``), the user names seen per user id
(``pixiv_user_name``), and a copy of the work's numbers, flags, title and
tags on each of its images' content documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pximse.library.names import SourceInfo
from pximse.query.sql import KIND_SOURCE
from pximse.store.mongo.database import MongoDatabase
from pximse.store.records import PixivTag, PixivWork

PIXIV_ORIGIN = "pixiv"
WORK_FIELDS = ("state", "via", "fetched_at", "title", "caption", "created", "views",
               "bookmarks", "likes", "comments", "user_id", "user_name", "ai", "r18",
               "x_restrict", "pages")
KEEP_WHEN_MISSING = ("title", "caption", "created", "views", "bookmarks", "likes", "comments",
                     "user_id", "user_name", "ai", "r18", "x_restrict", "pages")


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def work_from_doc(doc: Mapping[str, Any]) -> PixivWork:
    return PixivWork(
        illust_id=doc["_id"], state=doc["state"], via=doc["via"], fetched_at=doc["fetched_at"],
        title=doc.get("title"), caption=doc.get("caption"), created=doc.get("created"),
        views=doc.get("views"), bookmarks=doc.get("bookmarks"), likes=doc.get("likes"),
        comments=doc.get("comments"), user_id=doc.get("user_id"),
        user_name=doc.get("user_name"),
        ai=None if doc.get("ai") is None else bool(doc["ai"]),
        r18=None if doc.get("r18") is None else bool(doc["r18"]),
        x_restrict=doc.get("x_restrict"), pages=doc.get("pages"),
        tags=[PixivTag(t["name"], t.get("translation")) for t in doc.get("tags", [])])


class MongoPixiv:
    """Pixiv reads and writes; mixed into :class:`MongoCatalog`."""

    mdb: MongoDatabase

    # Provided by MongoCatalog.
    def _refresh_content(self, content_ids: Iterable[int]) -> None:
        raise NotImplementedError

    def _replace_tags(self, content_id: int, origin: str, kind: int,
                      tags: Mapping[str, float]) -> None:
        raise NotImplementedError

    def _mirror_text(self, ids: Iterable[int]) -> None:
        raise NotImplementedError

    # -- what to fetch -------------------------------------------------------------

    def _library_posts(self, content_ids: np.ndarray | None = None) -> set[str]:
        selector: dict[str, Any] = {"source": "pixiv", "post_id": {"$ne": None},
                                    "state": {"$gte": 0}}
        if content_ids is not None:
            selector["_id"] = {"$in": [int(i) for i in content_ids]}
        return {doc["post_id"] for doc in self.mdb.content.find(selector, {"post_id": 1})}

    def pixiv_candidates(self, *, fetched_before: int, include_missing: bool = False,
                         content_ids: np.ndarray | None = None) -> list[str]:
        posts = self._library_posts(content_ids)
        works = {doc["_id"]: doc for doc in self.mdb.db["pixiv_work"].find(
            {"_id": {"$in": sorted(posts)}}, {"state": 1, "fetched_at": 1})}
        wanted = [p for p in posts if p not in works or (
            works[p]["fetched_at"] < fetched_before
            and (works[p]["state"] == "ok" or include_missing))]

        def order(post: str) -> tuple[Any, ...]:
            fetched = works[post]["fetched_at"] if post in works else None
            return (fetched is not None, fetched or 0, -len(post), _descending(post))

        return sorted(wanted, key=order)

    def pixiv_summary(self, *, fetched_after: int | None = None) -> dict[str, int]:
        counts = {"works": 0, "unfetched": 0, "ok": 0, "deleted": 0, "private": 0,
                  "errors": 0, "fresh": 0, "fresh_missing": 0}
        posts = self._library_posts()
        after = fetched_after if fetched_after is not None else 2**62
        works = {doc["_id"]: doc for doc in self.mdb.db["pixiv_work"].find(
            {"_id": {"$in": sorted(posts)}}, {"state": 1, "fetched_at": 1})}
        for post in posts:
            work = works.get(post)
            state = "unfetched" if work is None else work["state"]
            counts[state] = counts.get(state, 0) + 1
            counts["works"] += 1
            fresh = int(work is not None and work["fetched_at"] >= after)
            counts["fresh" if state == "ok" else "fresh_missing"] += fresh
        counts["errors"] = int(self.mdb.db["pixiv_error"].count_documents(
            {"_id": {"$in": sorted(posts)}}))
        return counts

    def pixiv_work(self, illust_id: str) -> PixivWork | None:
        doc = self.mdb.db["pixiv_work"].find_one({"_id": illust_id})
        return None if doc is None else work_from_doc(doc)

    def pixiv_errors(self, limit: int = 20) -> list[dict[str, Any]]:
        return [{"illust_id": d["_id"], "message": d["message"], "attempts": d["attempts"],
                 "at": d["last_at"]}
                for d in self.mdb.db["pixiv_error"].find().sort("last_at", -1).limit(limit)]

    # -- what a fetch found ----------------------------------------------------------

    def record_pixiv_work(self, work: PixivWork) -> None:
        values: dict[str, Any] = {
            "state": work.state, "via": work.via, "fetched_at": work.fetched_at,
            "title": work.title, "caption": work.caption, "created": work.created,
            "views": work.views, "bookmarks": work.bookmarks, "likes": work.likes,
            "comments": work.comments, "user_id": work.user_id, "user_name": work.user_name,
            "ai": _bool(work.ai), "r18": _bool(work.r18), "x_restrict": work.x_restrict,
            "pages": work.pages,
            "tags": [{"name": t.name, "translation": t.translation} for t in work.tags]}
        works = self.mdb.db["pixiv_work"]
        with self.mdb.write():
            old = works.find_one({"_id": work.illust_id})
            if work.state != "ok" and old is not None:
                for name in KEEP_WHEN_MISSING:
                    if values[name] is None:
                        values[name] = old.get(name)
                if not values["tags"]:
                    values["tags"] = old.get("tags", [])
            works.replace_one({"_id": work.illust_id}, {"_id": work.illust_id, **values},
                              upsert=True)
            self.mdb.db["pixiv_error"].delete_one({"_id": work.illust_id})
            if work.user_id and work.user_name:  # a hidden work may still name its artist
                self._note_user_name(work.user_id, work.user_name, work.fetched_at)
            ids = [d["_id"] for d in self.mdb.content.find(
                {"source": "pixiv", "post_id": work.illust_id}, {"_id": 1})]
            self._refresh_content(ids)
        self._mirror_text(ids)  # the work's tags are source tags: the text store has them

    def record_pixiv_error(self, illust_id: str, message: str, at: int) -> None:
        with self.mdb.write():
            self.mdb.db["pixiv_error"].update_one(
                {"_id": illust_id},
                {"$set": {"message": message[:2000], "last_at": at}, "$inc": {"attempts": 1}},
                upsert=True)

    # -- the user names ----------------------------------------------------------------

    def _best_user_name(self, user_id: str) -> str | None:
        docs = list(self.mdb.db["pixiv_user_name"].find({"user_id": user_id}))
        if not docs:
            return None
        best = min(docs, key=lambda d: (-d["seen"], d["name"]))
        return str(best["name"])

    def _see_name(self, user_id: str, name: str, seen: int) -> None:
        self.mdb.db["pixiv_user_name"].update_one(
            {"_id": f"{user_id}\x00{name}"},
            {"$set": {"user_id": user_id, "name": name}, "$max": {"seen": seen}}, upsert=True)

    def update_user_names(self) -> int:
        """The full pass (see ``PixivRows.update_user_names``); returns images changed."""
        with self.mdb.write():
            for doc in self.mdb.content.find(
                    {"source": "pixiv", "user_id": {"$ne": None}, "user_name": {"$nin": [None, ""]},
                     "name_filled": 0, "state": {"$gte": 0}},
                    {"user_id": 1, "user_name": 1, "date": 1}):
                self._see_name(doc["user_id"], doc["user_name"], doc["date"])
            for doc in self.mdb.db["pixiv_work"].find(
                    {"user_id": {"$ne": None}, "user_name": {"$nin": [None, ""]}}):
                self._see_name(doc["user_id"], doc["user_name"], doc["fetched_at"])
            changed = 0
            for user_id in self.mdb.content.distinct("user_id", {"source": "pixiv"}):
                if user_id is not None:
                    changed += self._fill_names(user_id, self._best_user_name(user_id))
            return changed

    def _fill_names(self, user_id: str, name: str | None) -> int:
        if name is None:
            return 0
        result = self.mdb.content.update_many(
            {"source": "pixiv", "user_id": user_id,
             "$or": [{"user_name": None}, {"name_filled": 1}], "user_name": {"$ne": name}},
            {"$set": {"user_name": name, "user_ci": _ascii_lower(name), "name_filled": 1,
                      "gen": self.mdb.gen}})
        return int(result.modified_count)

    def _note_user_name(self, user_id: str, name: str, seen: int) -> None:
        before = self._best_user_name(user_id)
        self._see_name(user_id, name, seen)
        after = self._best_user_name(user_id)
        if after != before:
            self._fill_names(user_id, after)

    # -- the copy on each image ----------------------------------------------------------

    def apply_pixiv(self, content_id: int, info: SourceInfo, date: int | None) -> None:
        """Bring one content document's Pixiv keys in line with ``info`` (just written)."""
        doc = self.mdb.content.find_one({"_id": content_id},
                                        {"pixiv_state": 1, "name_filled": 1, "title": 1,
                                         "posted": 1})
        if doc is None:
            return
        pixiv = info.source == "pixiv"
        work = self.pixiv_work(info.post_id) if pixiv and info.post_id else None
        user_id = info.user_id or (work.user_id if work is not None else None)
        name, filled = info.user_name, 0
        if pixiv and user_id and not name:
            name = self._best_user_name(user_id)
            filled = int(name is not None)
        if work is not None or doc.get("pixiv_state") is not None or filled \
                or doc.get("name_filled") or user_id != info.user_id:
            title = (work.title or None) if work is not None else None
            posted = work.created if work is not None else None
            title = title if title is not None else doc.get("title")
            update = {
                "pixiv_state": work.state if work is not None else None,
                "views": work.views if work is not None else None,
                "bookmarks": work.bookmarks if work is not None else None,
                "likes": work.likes if work is not None else None,
                "comments": work.comments if work is not None else None,
                "ai": _bool(work.ai) if work is not None else None,
                "r18": _bool(work.r18) if work is not None else None,
                "title": title, "title_cf": None if title is None else title.casefold(),
                "posted": posted if posted is not None else doc.get("posted"),
                "user_id": user_id, "user_name": name,
                "user_ci": None if name is None else _ascii_lower(name),
                "name_filled": filled, "gen": self.mdb.gen}
            self.mdb.content.update_one({"_id": content_id}, {"$set": update})
        if work is not None:
            self._set_pixiv_tags(content_id, work.tags)
        elif doc.get("pixiv_state") is not None:
            self._set_pixiv_tags(content_id, [])
        if pixiv and info.user_id and info.user_name:
            self._note_user_name(info.user_id, info.user_name, date or 0)

    def _set_pixiv_tags(self, content_id: int, tags: list[PixivTag]) -> None:
        from pximse.store.tagnames import tag_key

        wanted: dict[str, float] = {}
        for tag in tags:
            for name in (tag.name, tag.translation):
                if name and tag_key(name):
                    wanted.setdefault(name, 1.0)
        doc = self.mdb.content.find_one({"_id": content_id}, {"tags": 1}) or {}
        have = {t["key"] for t in doc.get("tags", []) if t["origin"] == PIXIV_ORIGIN}
        if have != {tag_key(name) for name in wanted}:
            self._replace_tags(content_id, PIXIV_ORIGIN, KIND_SOURCE, wanted)


def _ascii_lower(text: str) -> str:
    from pximse.store.mongo.compiler import ascii_lower

    return ascii_lower(text)


class _descending:
    """A sort key that orders strings from high to low."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _descending) -> bool:
        return self.text > other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _descending) and self.text == other.text
