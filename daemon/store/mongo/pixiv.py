"""Pixiv metadata in the MongoDB catalogue, with the SQLite catalogue's meaning.

See :mod:`pximse.store.sqlite.pixivrows` for what is stored and why: what
Pixiv said about a work (``pixiv_work``, ``_id`` the illust id), failed
attempts (``pixiv_error``), the user names seen per user id
(``pixiv_user_name``), and a copy of the work's numbers, flags, title and
tags on each of its images' content documents. The rules both catalogues
follow are in :mod:`pximse.store.pixiv_fields`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pximse.store.content_fields import KIND_SOURCE
from pximse.store.mongo.database import MongoDatabase
from pximse.store.names import SourceInfo
from pximse.store.pixiv_fields import (
    PIXIV_ORIGIN,
    best_names,
    image_copy,
    latest_sightings,
    merge_hidden,
    most_recent_name,
    tag_names,
    work_from_values,
    work_values,
)
from pximse.store.records import PixivTag, PixivWork


def work_from_doc(doc: Mapping[str, Any]) -> PixivWork:
    return work_from_values(doc["_id"], doc)


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
        if content_ids is None:
            return {doc["post_id"] for doc in self.mdb.content.find(selector, {"post_id": 1})}
        wanted = sorted({int(i) for i in content_ids})
        posts: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):  # a query document stays small
            selector["_id"] = {"$in": wanted[start:start + _CHUNK]}
            posts.update(doc["post_id"] for doc in self.mdb.content.find(selector,
                                                                         {"post_id": 1}))
        return posts

    def _fetched(self, posts: set[str]) -> dict[str, dict[str, Any]]:
        """State and fetch time of the works of ``posts`` that were fetched: one
        pass over the collection, not a query naming every post."""
        return {doc["_id"]: doc for doc in self.mdb.db["pixiv_work"].find(
            {}, {"state": 1, "fetched_at": 1}) if doc["_id"] in posts}

    def pixiv_candidates(self, *, fetched_before: int, include_missing: bool = False,
                         content_ids: np.ndarray | None = None) -> list[str]:
        posts = self._library_posts(content_ids)
        works = self._fetched(posts)
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
        works = self._fetched(posts)
        for post in posts:
            work = works.get(post)
            state = "unfetched" if work is None else work["state"]
            counts[state] = counts.get(state, 0) + 1
            counts["works"] += 1
            fresh = int(work is not None and work["fetched_at"] >= after)
            counts["fresh" if state == "ok" else "fresh_missing"] += fresh
        counts["errors"] = sum(doc["_id"] in posts
                               for doc in self.mdb.db["pixiv_error"].find({}, {"_id": 1}))
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
        works = self.mdb.db["pixiv_work"]
        with self.mdb.write():
            values = merge_hidden(work_values(work), works.find_one({"_id": work.illust_id}))
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
        return most_recent_name((d["name"], d["seen"]) for d in self.mdb.db[
            "pixiv_user_name"].find({"user_id": user_id}, {"name": 1, "seen": 1}))

    def _see_name(self, user_id: str, name: str, seen: int) -> None:
        self.mdb.db["pixiv_user_name"].update_one(
            {"_id": f"{user_id}\x00{name}"},
            {"$set": {"user_id": user_id, "name": name}, "$max": {"seen": seen}}, upsert=True)

    def update_user_names(self) -> int:
        """The full pass (see ``PixivRows.update_user_names``); returns images changed.

        A few reads of whole collections and a write per name or user that
        changed, not a round trip per image: it follows every fetch round."""
        names = self.mdb.db["pixiv_user_name"]
        with self.mdb.write():
            from_files = ((d["user_id"], d["user_name"], d.get("date")) for d in
                          self.mdb.content.find(
                              {"source": "pixiv", "user_id": {"$ne": None},
                               "user_name": {"$nin": [None, ""]}, "name_filled": 0,
                               "state": {"$gte": 0}},
                              {"user_id": 1, "user_name": 1, "date": 1}))
            from_works = ((d["user_id"], d["user_name"], d["fetched_at"]) for d in
                          self.mdb.db["pixiv_work"].find(
                              {"user_id": {"$ne": None}, "user_name": {"$nin": [None, ""]}},
                              {"user_id": 1, "user_name": 1, "fetched_at": 1}))
            known = {(d["user_id"], d["name"]): d["seen"] for d in names.find()}
            for (user_id, name), seen in latest_sightings([*from_files, *from_works]).items():
                if known.get((user_id, name), -1) < seen:
                    self._see_name(user_id, name, seen)
                    known[(user_id, name)] = seen
            best = best_names((user_id, name, seen) for (user_id, name), seen in known.items())
            stale = {d["user_id"] for d in self.mdb.content.find(
                {"source": "pixiv", "user_id": {"$ne": None},
                 "$or": [{"user_name": None}, {"name_filled": 1}]},
                {"user_id": 1, "user_name": 1})
                if d["user_id"] in best and d.get("user_name") != best[d["user_id"]]}
            return sum(self._fill_names(user_id, best[user_id]) for user_id in sorted(stale))

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
            update = image_copy(work)
            for kept in ("title", "posted"):  # the file name's, when the work has none
                if update[kept] is None:
                    update[kept] = doc.get(kept)
            title = update["title"]
            update.update({
                "title_cf": None if title is None else title.casefold(),
                "user_id": user_id, "user_name": name,
                "user_ci": None if name is None else _ascii_lower(name),
                "name_filled": filled, "gen": self.mdb.gen})
            self.mdb.content.update_one({"_id": content_id}, {"$set": update})
        if work is not None:
            self._set_pixiv_tags(content_id, work.tags)
        elif doc.get("pixiv_state") is not None:
            self._set_pixiv_tags(content_id, [])
        if pixiv and info.user_id and info.user_name:
            self._note_user_name(info.user_id, info.user_name, date or 0)

    def _set_pixiv_tags(self, content_id: int, tags: list[PixivTag]) -> None:
        from pximse.store.tagnames import tag_key

        wanted = tag_names(tags)
        doc = self.mdb.content.find_one({"_id": content_id}, {"tags": 1}) or {}
        have = {t["key"] for t in doc.get("tags", []) if t["origin"] == PIXIV_ORIGIN}
        if have != {tag_key(name) for name in wanted}:
            self._replace_tags(content_id, PIXIV_ORIGIN, KIND_SOURCE, wanted)


def _ascii_lower(text: str) -> str:
    from pximse.store.mongo.compiler import ascii_lower

    return ascii_lower(text)


_CHUNK = 1000


class _descending:
    """A sort key that orders strings from high to low."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _descending) -> bool:
        return self.text > other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _descending) and self.text == other.text
