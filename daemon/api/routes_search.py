"""Search routes: the query language, the original front end's form, autocomplete, status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile

from pximse import __version__
from pximse.api.deps import get_catalog, get_config
from pximse.config import Config
from pximse.query.ast import Query as ParsedQuery
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog

router = APIRouter(prefix="/api")

Syntax = Literal["auto", "booru", "legacy"]


def _search(
    catalog: SqliteCatalog,
    config: Config,
    query: ParsedQuery,
    limit: int | None,
    offset: int,
    seed: int,
) -> dict[str, Any]:
    size = min(limit or config.search.page_size, config.search.max_page_size)
    page = catalog.search(
        query,
        limit=size,
        offset=offset,
        seed=seed,
        timeout_ms=config.search.query_timeout_ms,
    )
    return page.to_json()


@router.get("/search", summary="Search with the query language")
def search(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    q: Annotated[str, Query(description="a query in either syntax (see the README)")] = "",
    sort: Annotated[str, Query(description="e.g. -date, filesize;1, random")] = "",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    syntax: Syntax = "auto",
    seed: Annotated[int, Query(description="shuffle seed for sort=random")] = 0,
) -> dict[str, Any]:
    parsed = parse_query(q, sort, syntax=syntax)
    return _search(catalog, config, parsed, limit, offset, seed)


@router.post("/query/", summary="The original PxIMSE front end's search form")
def legacy_query(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    query: Annotated[str, Form()] = "",
    sort: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    image: UploadFile | None = None,
    limit: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    offset: Annotated[int, Form(ge=0)] = 0,
) -> dict[str, Any]:
    if text.strip() or (image is not None and image.filename):
        raise HTTPException(
            status_code=501,
            detail="CLIP text and image search need an image embedder, which this "
            "daemon has not loaded; search by query instead",
        )
    parsed = parse_query(query, sort, syntax="legacy")
    return _search(catalog, config, parsed, limit, offset, 0)


@router.get("/tags", summary="Tag autocomplete, most used first")
def tags(
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    prefix: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    found = catalog.tags_with_prefix(prefix, limit)
    return [{"name": name, "count": count} for name, count in found]


@router.get("/status", summary="Counts, scanning and errors")
def status(
    request: Request,
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> dict[str, Any]:
    body = catalog.status()
    body["version"] = __version__
    body["data_dir"] = str(config.data_dir)
    scan = request.app.state.scan_status
    body["scan"] = scan
    body["models"] = request.app.state.models_status
    progress = scan.get("progress") or {}
    # What is waiting: files of the running scan not yet hashed or decoded.
    body["queue"] = {
        "pending": max(0, progress.get("total", 0) - progress.get("done", 0)),
        "phase": progress.get("phase"),
    }
    return body
