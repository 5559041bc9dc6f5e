"""Search routes: the query language, search by image, autocomplete.

The routes that take a query image (this one and the original front end's
form, :mod:`pximse.api.routes_original`) read their form themselves
(:mod:`pximse.api.uploads`), so that an image is refused before it is read
when no vector search can run, and is decoded in bounded memory.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from pximse.api.deps import get_catalog, get_config
from pximse.api.uploads import MAX_IMAGE_BYTES, SearchForm, decode_slots, read_search_form
from pximse.config import Config
from pximse.query.errors import QueryError
from pximse.query.parse import parse_query
from pximse.search.planner import (
    ClipSearch,
    VectorPlan,
    load_query_image,
    plan_query,
    search_json,
)
from pximse.store.backends import Catalog

router = APIRouter(prefix="/api")

Syntax = Literal["auto", "booru", "legacy"]

MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES
"""The largest query image accepted (a request that says it is larger is refused
before it is read, and one sent in chunks as soon as it passes; see ``guards``)."""


def get_clip(request: Request) -> ClipSearch:
    return request.app.state.clip  # type: ignore[no-any-return]


def checked_plan(q: str, sort: str, syntax: Syntax, *, text: str = "", upload: bool = False
                 ) -> VectorPlan:
    """Parse and plan; a ``QueryError`` without a text gets ``q``."""
    try:
        return plan_query(parse_query(q, sort, syntax=syntax), text=text, upload=upload)
    except QueryError as exc:
        raise exc if exc.query else exc.with_query(q) from None


def _run(
    catalog: Catalog,
    config: Config,
    clip: ClipSearch,
    plan: VectorPlan,
    *,
    limit: int | None,
    offset: int,
    seed: int,
    picture: Any = None,
) -> dict[str, Any]:
    size = min(limit or config.search.page_size, config.search.max_page_size)
    body = search_json(clip, catalog, plan, limit=size, offset=offset, seed=seed,
                       timeout_ms=config.search.query_timeout_ms, image=picture)
    _add_work_pages(catalog, body["items"])
    return body


def _add_work_pages(catalog: Catalog, items: list[dict[str, Any]]) -> None:
    """Each item gets ``work_pages``: how many images of the catalogue belong to its
    work (the pages of a Pixiv post; 1 for an image without one), so a page of
    results can show a multi-page work as one card with its page count."""
    keys = sorted({item["work_key"] for item in items if item.get("work_key")})
    counts = catalog.work_page_counts(keys) if keys else {}
    for item in items:
        item["work_pages"] = counts.get(item.get("work_key") or "", 1)


# -- the forms with a query image --------------------------------------------------------


class ImageSearchFields(BaseModel):
    """The fields of ``POST /api/search/image`` beside its ``image`` file."""

    q: str = Field("", description="a query in either syntax, to search within")
    sort: str = ""
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0)
    syntax: Syntax = "auto"
    seed: int = Field(0, description="shuffle seed for sort=random")


def form_fields(model: type[BaseModel], form: SearchForm) -> Any:
    """The form's text fields checked by ``model``, as FastAPI checks a form (400)."""
    values = {key: value for key, value in form.fields.items()
              if key in model.model_fields and not (
                  value == "" and model.model_fields[key].annotation is not str)}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])}
                                      for error in exc.errors()]) from None


def form_body(model: type[BaseModel], *, image_required: bool) -> dict[str, Any]:
    """The OpenAPI description of a form these routes read themselves."""
    schema = model.model_json_schema()
    schema["properties"]["image"] = {
        "type": "string", "format": "binary",
        "description": f"the query image (at most {MAX_IMAGE_BYTES >> 20} MB)"}
    if image_required:
        schema["required"] = ["image"]
    return {"requestBody": {"required": image_required, "content": {
        "multipart/form-data": {"schema": schema}}}}


async def decode_form_image(request: Request, form: SearchForm) -> Any:
    """The uploaded image decoded for CLIP, one of a few decodes at once."""
    path = form.image_path()
    assert path is not None
    return await decode_query_file(request, path, form.image_name or "the uploaded image")


async def decode_query_file(request: Request, path: str, name: str) -> Any:
    """A query image's file decoded for CLIP, one of a few decodes at once;
    ``name`` stands for it in messages."""
    config: Config = request.app.state.config
    return await anyio.to_thread.run_sync(partial(
        load_query_image, path, name=name, max_pixels=config.search.max_query_image_pixels),
        limiter=decode_slots(request.app.state))


@router.get("/search", summary="Search with the query language")
def search(
    catalog: Annotated[Catalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
    clip: Annotated[ClipSearch, Depends(get_clip)],
    q: Annotated[str, Query(
        description="a query in either syntax (see docs/query-language.md)")] = "",
    sort: Annotated[str, Query(description="e.g. -date, filesize;1, random")] = "",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    syntax: Syntax = "auto",
    seed: Annotated[int, Query(description="shuffle seed for sort=random")] = 0,
    text: Annotated[str, Query(description='CLIP text search, the same as clip:"…" in q')] = "",
) -> dict[str, Any]:
    return _run(catalog, config, clip, checked_plan(q, sort, syntax, text=text), limit=limit,
                offset=offset, seed=seed)


@router.post("/search/image", summary="More like an uploaded image, within a query",
             openapi_extra=form_body(ImageSearchFields, image_required=True))
async def search_image(request: Request) -> dict[str, Any]:
    clip = get_clip(request)
    # Before a byte of the body is read: 503 when no vector search can run.
    await run_in_threadpool(clip.check_ready)
    form = await read_search_form(request)
    try:
        fields = form_fields(ImageSearchFields, form)
        if form.image is None:
            raise HTTPException(status_code=400,
                                detail="send the query image as the form's image file")
        plan = checked_plan(fields.q, fields.sort, fields.syntax, upload=True)
        picture = await decode_form_image(request, form)
    finally:
        form.close()
    return await run_in_threadpool(partial(
        _run, request.app.state.catalog, request.app.state.config, clip, plan,
        limit=fields.limit, offset=fields.offset, seed=fields.seed, picture=picture))


@router.get("/tags", summary="Tag autocomplete, most used first")
def tags(
    catalog: Annotated[Catalog, Depends(get_catalog)],
    prefix: str = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    found = catalog.tags_with_prefix(prefix, limit)
    return [{"name": name, "count": count} for name, count in found]

