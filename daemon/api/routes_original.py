"""The original PxIMSE front end's routes: its search form, and its pictures.

Its page sends ``POST /api/query/`` as multipart form data — ``text`` (``""``,
or ``"null"`` once the box was cleared), ``query`` and ``sort`` (its chips
joined by commas, ``"null"`` once cleared) and, optionally, ``image``: an
uploaded file, or the address of a result's picture when its magnify button
is pressed — and reads back a bare JSON array of documents
(:mod:`pximse.api.original_documents`). It shows each picture from
``{serverUrl}/{folder}/{filename}``, which :func:`library_file` serves.

Two rules keep these routes as safe as the rest of the API:

* an address in ``image`` is never fetched: it must be one of this daemon's
  own file addresses (a name it answers to, then a root's name and a path
  below it), and the catalogued image there is used; anything else is a 400;
* a file is served only when the catalogue holds an online file at exactly
  that root and path; the request's path is only compared with the
  catalogue, and the file is opened as the catalogue recorded it, with the
  scan's symlink rules (:mod:`pximse.api.served_files`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import unquote

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pximse.api.guards import HostGuard
from pximse.api.original_documents import original_documents
from pximse.api.ranked_order import order_ranked
from pximse.api.routes_images import RecordedRow, open_first_recorded, recorded_file_response
from pximse.api.routes_search import (
    checked_plan,
    decode_form_image,
    decode_query_file,
    form_body,
    form_fields,
    get_clip,
)
from pximse.api.uploads import read_search_form
from pximse.config import Config
from pximse.query.ast import Nearest, Query
from pximse.search.planner import ClipSearch, VectorPlan, search_json

router = APIRouter()

_UNSET = ("", "null")
"""What the original's form sends for an empty box (``"null"`` once it was cleared)."""

_ADDRESS = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#\s]+)(?P<rest>.*)",
                      re.IGNORECASE | re.DOTALL)

_PATH_CACHE = "private, no-cache"
"""A path may come to hold another file: the browser asks again each time, and
the content's hash as ``ETag`` makes that a 304 while the file is unchanged."""


class OriginalQueryFields(BaseModel):
    """The original front end's form (``image`` beside these is a file or an address)."""

    query: str = Field("", description="the query chips joined by commas, in the original "
                                       'syntax; "" or "null" for none')
    sort: str = Field("", description='the sort chips joined by commas (filesize;1,createDate); '
                                      '"" or "null" for none')
    text: str = Field("", description='a CLIP text search; "" or "null" for none')
    limit: int | None = Field(None, ge=1, le=100_000, description=(
        "the most results (default: search.original_api_limit, 1200)"))
    offset: int = Field(0, ge=0)


@dataclass
class QueryVectors:
    """What a request ranks by: CLIP text, and an image (decoded, or a catalogued one)."""

    text: str = ""
    picture: Any = None
    image_id: str | None = None

    @property
    def image(self) -> bool:
        return self.picture is not None or self.image_id is not None

    def __bool__(self) -> bool:
        return bool(self.text) or self.image


def _given(value: str | None) -> str:
    return "" if value is None or value.strip() in _UNSET else value


@router.post("/api/query/", summary="The original PxIMSE front end's search form",
             response_model=None,
             openapi_extra=form_body(OriginalQueryFields, image_required=False))
async def original_query(request: Request) -> Response:
    """A bare array of the original's documents, best first: the query and sort in
    the original syntax, ranked by ``text`` (CLIP) and ``image`` (a file, or one
    of this daemon's own file addresses) when they are given."""
    clip = get_clip(request)
    config: Config = request.app.state.config
    catalog = request.app.state.catalog
    form = await read_search_form(
        request, before_image=lambda: run_in_threadpool(clip.check_ready))
    try:
        fields = form_fields(OriginalQueryFields, form)
        plan = checked_plan(_given(fields.query), _given(fields.sort), "legacy")
        vectors = QueryVectors(text=_given(fields.text))
        if form.image is not None:
            vectors.picture = await decode_form_image(request, form)
        elif address := _given(form.fields.get("image")).strip():
            image_id, row = await run_in_threadpool(_own_file, request, address)
            vectors.image_id = image_id
            if not await run_in_threadpool(_has_vector, clip, catalog, image_id):
                vectors.picture = await _decode_recorded(request, config, row, address)
    finally:
        form.close()
    documents = await run_in_threadpool(partial(
        _answer, catalog, config, clip, plan, vectors,
        limit=fields.limit or config.search.original_api_limit, offset=fields.offset))
    # 1,200 documents of ~30 tags each: orjson writes them 9x faster than json
    return Response(await run_in_threadpool(orjson.dumps, documents),
                    media_type="application/json")


def _answer(catalog: Any, config: Config, clip: ClipSearch, plan: VectorPlan,
            vectors: QueryVectors, *, limit: int, offset: int) -> list[dict[str, Any]]:
    timeout_ms = config.search.query_timeout_ms
    threshold = config.search.tag_threshold
    distances: dict[str, dict[str, float]] = {}
    if not vectors:
        items = search_json(clip, catalog, plan, limit=limit, offset=offset,
                            timeout_ms=timeout_ms)["items"]
        details = catalog.result_details([item["id"] for item in items], threshold)
    else:
        # The best matches within the filter, as the original ranked them; with
        # both an image and a text, the images among the best of each (its rule).
        within = VectorPlan(Query(plan.filter.where), None)
        rankings: list[tuple[str, VectorPlan]] = []
        if vectors.picture is not None:
            rankings.append(("image_distance", replace(within, upload=True)))
        elif vectors.image_id is not None:
            rankings.append(("image_distance",
                             replace(within, nearest=Nearest("image", vectors.image_id))))
        if vectors.text:
            rankings.append(("text_distance", replace(within, nearest=Nearest("text",
                                                                              vectors.text))))
        both = len(rankings) > 1
        pages = [(key, search_json(clip, catalog, ranking, limit=limit + offset if both
                                   else limit, offset=0 if both else offset,
                                   timeout_ms=timeout_ms, image=vectors.picture)["items"])
                 for key, ranking in rankings]
        items = pages[0][1]
        if both:
            common = {item["id"] for item in pages[1][1]}
            items = [item for item in items if item["id"] in common][offset:offset + limit]
        distances = {key: {item["id"]: item["score"] for item in page} for key, page in pages}
        details = catalog.result_details([item["id"] for item in items], threshold)
        if plan.filter.sort:
            items = order_ranked(items, plan.filter.sort, details)
    return original_documents(items, details, tag_threshold=threshold, distances=distances)


# -- the daemon's own file addresses ------------------------------------------------------


def _catalogued_file(catalog: Any, config: Config, paths: list[str]
                     ) -> tuple[str, RecordedRow] | None:
    """The online file at the first of ``paths`` (``/root/relative…``) that the
    catalogue holds, under a configured root: its SHA-256 and recorded row."""
    roots = {root.name for root in config.roots}
    for path in dict.fromkeys(paths):
        parts = path.lstrip("/").split("/")
        if len(parts) < 2 or parts[0] not in roots or not all(map(_plain_name, parts)):
            continue
        found = catalog.recorded_file_at(parts[0], parts[1:])
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


def _plain_name(part: str) -> bool:
    """A file or folder name that stands only for itself."""
    return part not in ("", ".", "..") and "\x00" not in part and not (
        os.sep in part or (os.altsep is not None and os.altsep in part))


def _own_file(request: Request, address: str) -> tuple[str, RecordedRow]:
    """The catalogued file an ``image`` address names; 400 for any other address."""
    match = _ADDRESS.fullmatch(address)
    config: Config = request.app.state.config
    server = request.scope.get("server")
    port = server[1] if server and server[1] else config.server.port
    if match is None or not HostGuard(request.app, config.server).allows(
            match["authority"], match["scheme"].lower(), port):
        raise HTTPException(status_code=400, detail=(
            f"image {address[:200]!r} is neither an uploaded file nor one of this daemon's "
            "own file addresses: PxIMSE never fetches an address a request names. Upload "
            "the picture, or give the address of a search result's picture "
            f"({str(request.base_url).rstrip('/')}/FOLDER/FILENAME)"))
    rest = match["rest"]
    found = _catalogued_file(request.app.state.catalog, config, [rest, unquote(rest)])
    if found is None:
        raise HTTPException(status_code=400, detail=(
            f"image {address[:200]!r}: the catalogue holds no online file at this address "
            "(a root's name, then the path below it)"))
    return found


def _has_vector(clip: ClipSearch, catalog: Any, sha: str) -> bool:
    found, _ = clip.store().get(np.array([catalog.content_id_of(sha)], np.int64))
    return bool(len(found))


async def _decode_recorded(request: Request, config: Config, row: RecordedRow,
                           address: str) -> Any:
    """A catalogued picture that has no CLIP vector yet, decoded as an upload is,
    from the file as the catalogue recorded it."""
    opened = await run_in_threadpool(open_first_recorded, [row], config)
    if opened is None:
        raise HTTPException(status_code=400, detail=(
            f"image {address[:200]!r}: the file has changed since it was catalogued; "
            "search again after the next scan"))
    _, handle, _ = opened
    with handle, tempfile.NamedTemporaryFile(prefix="pximse-query-") as copy:
        await run_in_threadpool(shutil.copyfileobj, handle, copy)
        copy.flush()
        return await decode_query_file(request, copy.name, os.path.basename(row[0]))


# -- the pictures at {serverUrl}/{folder}/{filename} ---------------------------------------


@router.get("/{root}/{relative:path}", summary="A library file at the original's address",
            response_class=Response,
            responses={200: {"content": {"image/*": {}}, "description": "the file's bytes"}})
def library_file(root: str, relative: str, request: Request) -> Response:
    """The file the catalogue holds at ``relative`` under the root named ``root``
    (search results' ``folder`` and ``filename``), with the same content type
    and ``ETag`` as ``/api/images/{id}/file``; 404 for anything else."""
    catalog = request.app.state.catalog
    config: Config = request.app.state.config
    path = request.scope["path"]
    candidates = [path]
    if request.url.query:  # a "?" in a file name, which a browser sends as a query
        candidates.append(f"{path}?{unquote(request.url.query)}")
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):  # a name holding "%41" as it is
        candidates.append(raw.decode("utf-8", "replace"))
    found = _catalogued_file(catalog, config, candidates)
    if found is None:
        raise HTTPException(status_code=404, detail=(
            "no online file of the catalogue at this address (a root's name, then the path "
            "below it)"))
    sha, row = found
    return recorded_file_response(
        request, config, sha, lambda: [row], cache=_PATH_CACHE,
        missing="the file is not what the catalogue recorded (changed since the last scan, "
                "or a link where scan.follow_symlinks is false)")
