"""Search routes: the query language, the original front end's form, autocomplete."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile

from pximse.api.deps import get_catalog, get_config
from pximse.config import Config
from pximse.query.errors import QueryError
from pximse.query.parse import parse_query
from pximse.query.planner import ClipSearch, load_query_image, plan_query, search_json
from pximse.store.sqlite.catalog import SqliteCatalog

router = APIRouter(prefix="/api")

Syntax = Literal["auto", "booru", "legacy"]

MAX_UPLOAD_BYTES = 50 << 20
"""The largest query image accepted (larger requests are refused before being read
when they say their length; see ``app.py``)."""


def get_clip(request: Request) -> ClipSearch:
    return request.app.state.clip  # type: ignore[no-any-return]


def _search(
    catalog: SqliteCatalog,
    config: Config,
    clip: ClipSearch,
    *,
    q: str,
    sort: str,
    syntax: Syntax,
    limit: int | None,
    offset: int,
    seed: int,
    text: str = "",
    image: UploadFile | None = None,
) -> dict[str, Any]:
    """Parse, plan and run one search; a ``QueryError`` without a text gets ``q``."""
    size = min(limit or config.search.page_size, config.search.max_page_size)
    try:
        plan = plan_query(parse_query(q, sort, syntax=syntax), text=text,
                          upload=image is not None)
    except QueryError as exc:
        raise exc if exc.query else exc.with_query(q) from None
    picture = None
    if image is not None:
        picture = _decode_upload(image, config)
    body = search_json(clip, catalog, plan, limit=size, offset=offset, seed=seed,
                       timeout_ms=config.search.query_timeout_ms, image=picture)
    _add_work_pages(catalog, body["items"])
    return body


def _add_work_pages(catalog: SqliteCatalog, items: list[dict[str, Any]]) -> None:
    """Each item gets ``work_pages``: how many images of the catalogue belong to its
    work (the pages of a Pixiv post; 1 for an image without one), so a page of
    results can show a multi-page work as one card with its page count."""
    keys = sorted({item["work_key"] for item in items if item.get("work_key")})
    counts: dict[str, int] = {}
    pages_of = getattr(catalog, "work_page_counts", None)  # the MongoDB catalogue
    if keys and pages_of is not None:
        counts = pages_of(keys)
    elif keys:
        marks = ",".join("?" * len(keys))
        counts = dict(catalog.db.reader().execute(
            f"SELECT work_key, count(*) FROM content WHERE work_key IN ({marks})"
            " AND state IN (0, 1) GROUP BY work_key", keys))
    for item in items:
        item["work_pages"] = counts.get(item.get("work_key") or "", 1)


def _decode_upload(image: UploadFile, config: Config) -> Any:
    """The uploaded query image, size-limited and decoded by the library's safe rules."""
    with tempfile.TemporaryDirectory(prefix="pximse-upload-") as folder:
        path = Path(folder) / "upload"
        written = 0
        with open(path, "wb") as out:
            while chunk := image.file.read(1 << 20):
                written += len(chunk)
                if written > MAX_UPLOAD_BYTES:
                    raise HTTPException(
                        status_code=413,
                        detail=f"the image is larger than {MAX_UPLOAD_BYTES >> 20} MB")
                out.write(chunk)
        return load_query_image(path, name=image.filename or "the uploaded image",
                                max_pixels=config.scan.max_image_pixels)


def _uploaded(image: UploadFile | None) -> UploadFile | None:
    """The upload, or None for an empty file field (browsers send one when none is picked)."""
    return image if image is not None and (image.filename or image.size) else None


@router.get("/search", summary="Search with the query language")
def search(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    clip: Annotated[ClipSearch, Depends(get_clip)],
    q: Annotated[str, Query(description="a query in either syntax (docs/query-language.md)")] = "",
    sort: Annotated[str, Query(description="e.g. -date, filesize;1, random")] = "",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    syntax: Syntax = "auto",
    seed: Annotated[int, Query(description="shuffle seed for sort=random")] = 0,
    text: Annotated[str, Query(description='CLIP text search, the same as clip:"…" in q')] = "",
) -> dict[str, Any]:
    return _search(catalog, config, clip, q=q, sort=sort, syntax=syntax, limit=limit,
                   offset=offset, seed=seed, text=text)


@router.post("/search/image", summary="More like an uploaded image, within a query")
def search_image(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    clip: Annotated[ClipSearch, Depends(get_clip)],
    image: Annotated[UploadFile, File(description="the query image (at most 50 MB)")],
    q: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    limit: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    offset: Annotated[int, Form(ge=0)] = 0,
    syntax: Annotated[Syntax, Form()] = "auto",
    seed: Annotated[int, Form()] = 0,
) -> dict[str, Any]:
    return _search(catalog, config, clip, q=q, sort=sort, syntax=syntax, limit=limit,
                   offset=offset, seed=seed, image=image)


@router.post("/query/", summary="The original PxIMSE front end's search form")
def legacy_query(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    clip: Annotated[ClipSearch, Depends(get_clip)],
    query: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    image: UploadFile | None = None,
    limit: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    offset: Annotated[int, Form(ge=0)] = 0,
) -> dict[str, Any]:
    """``text`` is a CLIP text search and ``image`` an uploaded query image, as the
    original front end sent them; either is ranked within ``query``."""
    return _search(catalog, config, clip, q=query, sort=sort, syntax="legacy", limit=limit,
                   offset=offset, seed=0, text=text, image=_uploaded(image))


@router.get("/tags", summary="Tag autocomplete, most used first")
def tags(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    prefix: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    found = catalog.tags_with_prefix(prefix, limit)
    return [{"name": name, "count": count} for name, count in found]

