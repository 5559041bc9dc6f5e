"""The MongoDB catalogue's full listing of a page of results, and a file by its place
in a root (see :mod:`pximse.store.listing`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pximse.store.listing import ResultDetails, listed_file
from pximse.store.mongo.database import MongoDatabase
from pximse.store.pathtext import os_path, stored_path

_CHUNK = 500
_FIELDS = {"sha256": 1, "title": 1, "views": 1, "bookmarks": 1, "likes": 1, "comments": 1,
           "ai": 1, "r18": 1, "pixiv_state": 1, "source": 1, "post_id": 1, "files": 1,
           "tags": 1}


def result_details(mdb: MongoDatabase, sha256s: Sequence[str], min_model_score: float
                   ) -> dict[str, ResultDetails]:
    """Details by SHA-256 for the contents the catalogue has among ``sha256s``,
    with the tagger tags scored at least ``min_model_score``."""
    found: dict[str, ResultDetails] = {}
    for start in range(0, len(sha256s), _CHUNK):
        found.update(_chunk(mdb, [s.lower() for s in sha256s[start:start + _CHUNK]],
                            min_model_score))
    return found


def _chunk(mdb: MongoDatabase, shas: list[str], min_model_score: float
           ) -> dict[str, ResultDetails]:
    docs = list(mdb.content.find({"sha256": {"$in": shas}}, _FIELDS))
    if not docs:
        return {}
    ids = [doc["_id"] for doc in docs]
    roots = {r["_id"]: (r["name"], r["path"]) for r in mdb.roots.find({}, {"name": 1, "path": 1})}
    files = {f["_id"]: f for f in mdb.files.find(
        {"content_id": {"$in": ids}}, {"path": 1, "name": 1, "folder": 1, "root_id": 1,
                                       "state": 1})}
    keys = sorted({t["key"] for doc in docs for t in doc.get("tags", [])})
    names = {t["_id"]: t["name"] for t in mdb.tags.find({"_id": {"$in": keys}}, {"name": 1})}
    texts = {t["_id"]: t["text"] for t in mdb.ocr.find({"_id": {"$in": ids}}, {"text": 1})}
    posts = sorted({doc["post_id"] for doc in docs
                    if doc.get("source") == "pixiv" and doc.get("post_id")})
    captions = {w["_id"]: w.get("caption") for w in mdb.db["pixiv_work"].find(
        {"_id": {"$in": posts}}, {"caption": 1})} if posts else {}
    found: dict[str, ResultDetails] = {}
    for doc in docs:
        details = ResultDetails(
            title=doc.get("title"), views=doc.get("views"), bookmarks=doc.get("bookmarks"),
            likes=doc.get("likes"), comments=doc.get("comments"), ai=_flag(doc.get("ai")),
            r18=_flag(doc.get("r18")), pixiv_state=doc.get("pixiv_state"),
            ocr_text=texts.get(doc["_id"]),
            caption=captions.get(doc.get("post_id")) if doc.get("source") == "pixiv" else None)
        for entry in doc.get("files") or []:  # already online first, then by id
            file = files.get(entry["id"])
            if file is not None:
                name, root_path = roots.get(file["root_id"], ("", ""))
                details.files.append(listed_file(file["path"], file["name"], file["folder"],
                                                 name, root_path, file["state"]))
        for tag in sorted(doc.get("tags", []), key=lambda t: (t["kind"] != 0, -t["score"],
                                                              t["key"])):
            name = names.get(tag["key"], tag["key"])
            if tag["kind"] == 0:
                if tag["score"] >= min_model_score:
                    details.model_tags.setdefault(name, tag["score"])
            elif name not in details.source_tags:
                details.source_tags.append(name)
        found[doc["sha256"]] = details
    return found


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def recorded_file_at(mdb: MongoDatabase, root: str, relative: Sequence[str]
                     ) -> tuple[str, tuple[str, str, int, int, str]] | None:
    """See :func:`pximse.store.sqlite.listings.recorded_file_at`."""
    found: dict[str, Any] | None = mdb.roots.find_one({"name": root}, {"path": 1})
    if found is None or not relative:
        return None
    path = stored_path(os.path.join(os_path(found["path"]), *relative))
    file = mdb.files.find_one({"path": path, "root_id": found["_id"], "state": "ok"},
                              {"path": 1, "size": 1, "mtime_ns": 1, "content_id": 1})
    if file is None:
        return None
    doc = mdb.content.find_one({"_id": file["content_id"]}, {"sha256": 1, "format": 1})
    if doc is None:
        return None
    return doc["sha256"], (file["path"], doc["format"], int(file["size"]),
                           int(file["mtime_ns"]), found["path"])
