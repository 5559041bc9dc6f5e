"""The shape of a ``content`` document, and the records built from it.

Field names are SQLite's column names, so a migration is a rename-free copy;
the keys below the columns are what the query compiler matches on:

- ``tags``: ``[{key, origin, kind, score}]`` (kind 0 model, 1 source, 2 manual);
- ``files``: ``[{id, path, folder, state}]`` ordered as the summary picks its
  path (online files first, then by file id); ``paths``/``folders`` the raw
  strings (globs), ``paths_cf``/``folders_cf`` case-folded (substrings,
  prefixes), ``path_min``/``folder_min`` the sort keys (None without files);
  ``names``/``names_cf``/``name_min`` the same for the file names;
- ``user_ci``: ``user_name`` with ASCII case folded (SQLite's NOCASE);
- ``ocr_folded``: the OCR text folded for ``ocr:`` (None before OCR ran), and
  ``ocr_grams``: its 1- to 3-character substrings, indexed (store/mongo/ocrgrams.py);
- ``stages``: ``{stage: {model_id, status, error, updated_ns}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pximse.store.mongo.compiler import ascii_lower
from pximse.store.pathtext import readable
from pximse.store.records import ImageSummary, epoch_to_iso

SUMMARY_FIELDS = (
    "sha256", "files", "width", "height", "filesize", "format", "frames", "animated", "date",
    "source", "user_id", "user_name", "post_id", "page", "posted", "work_key", "tagcount",
    "textlen", "state",
)
PROJECTION: dict[str, int] = {name: 1 for name in SUMMARY_FIELDS}


def new_content(content_id: int, facts: Any, gen: int, now_ns: int) -> dict[str, Any]:
    """A content document for what the scanner learned (``NewContent``)."""
    return {
        "_id": content_id,
        "sha256": facts.sha256,
        "filesize": facts.filesize,
        "width": facts.width,
        "height": facts.height,
        "ratio": facts.width / facts.height if facts.height else 0.0,
        "pixels": facts.width * facts.height,
        "format": facts.format,
        "frames": facts.frames,
        "animated": int(facts.animated),
        "phash": facts.phash,
        "phash_version": facts.phash_version,
        "date": facts.mtime_ns // 1_000_000_000,
        "source": "other",
        "user_id": None,
        "user_name": None,
        "user_ci": None,
        "post_id": None,
        "page": None,
        "posted": None,
        "title": None,
        "title_cf": None,
        "work_key": None,
        "tagcount": 0,
        "textlen": None,
        "state": 1,
        "thumbnail": int(facts.thumbnail),
        "added_ns": now_ns,
        "gen": gen,
        "tags": [],
        **file_fields([]),
        "ocr_folded": None,
        "ocr_grams": None,
        "stages": {},
        # Pixiv metadata (see pximse.store.mongo.pixiv), missing until fetched.
        "pixiv_state": None,
        "views": None,
        "bookmarks": None,
        "likes": None,
        "comments": None,
        "ai": None,
        "r18": None,
        "name_filled": 0,
    }


def file_fields(files: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The content's file-derived keys, from its file documents."""
    rows = sorted(files, key=lambda f: (f["state"] != "ok", f["_id"]))
    paths = [f["path"] for f in rows]
    folders = [f["folder"] for f in rows]
    names = [f["name"] for f in rows]
    return {
        "files": [{"id": f["_id"], "path": f["path"], "folder": f["folder"],
                   "state": f["state"]} for f in rows],
        "paths": paths,
        "folders": folders,
        "paths_cf": [p.casefold() for p in paths],
        "folders_cf": [f.casefold() for f in folders],
        "path_min": min(paths, default=None),
        "folder_min": min(folders, default=None),
        **name_fields(names),
    }


def name_fields(names: list[str]) -> dict[str, Any]:
    """The keys ``filename`` queries and sorts on, from the file names."""
    return {"names": names, "names_cf": [n.casefold() for n in names],
            "name_min": min(names, default=None)}


def user_fields(user_name: str | None) -> dict[str, Any]:
    return {"user_name": user_name, "user_ci": None if user_name is None
            else ascii_lower(user_name)}


def summary_from_doc(doc: Mapping[str, Any]) -> ImageSummary:
    files = doc.get("files") or []
    return ImageSummary(
        id=doc["sha256"],
        path=readable(files[0]["path"]) if files else None,
        width=doc["width"],
        height=doc["height"],
        filesize=doc["filesize"],
        format=doc["format"],
        frames=doc["frames"],
        animated=bool(doc["animated"]),
        date=epoch_to_iso(doc["date"]),
        source=doc["source"],
        user_id=doc.get("user_id"),
        user_name=doc.get("user_name"),
        post_id=doc.get("post_id"),
        page=doc.get("page"),
        posted=epoch_to_iso(doc.get("posted")),
        work_key=doc.get("work_key"),
        tagcount=doc["tagcount"],
        textlen=doc.get("textlen"),
        offline=doc["state"] != 1,
    )


def tag_count(tags: Iterable[Mapping[str, Any]], threshold: float) -> int:
    """Distinct tag keys a query finds on the image (model ones at the threshold)."""
    return len({t["key"] for t in tags if t["kind"] != 0 or t["score"] >= threshold})


def backfill_names(content: Any, files: Any) -> int:
    """Give the ``names`` keys to documents written before they existed (once, on
    the first start after an upgrade); returns how many."""
    done = 0
    for doc in list(content.find({"names": {"$exists": False}}, {"files": 1})):
        ids = [entry["id"] for entry in doc.get("files") or []]
        by_id = {f["_id"]: f["name"] for f in files.find({"_id": {"$in": ids}}, {"name": 1})}
        content.update_one({"_id": doc["_id"]}, {"$set": name_fields(
            [by_id[i] for i in ids if i in by_id])})
        done += 1
    return done

