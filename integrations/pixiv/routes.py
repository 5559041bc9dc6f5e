"""Pixiv routes: how the library's Pixiv works stand, and a fetch on request.

``GET /api/pixiv`` counts the works (never fetched, ok, deleted, private,
failed), says which door a fetch would use (never the token itself) and what
the daemon's fetch loop is doing. ``POST /api/pixiv/fetch`` starts one fetch
round in the background, as ``pximse pixiv fetch`` would run it (202), or
answers 409 while one is running.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from pximse.api.deps import get_catalog, get_config
from pximse.config import Config
from pximse.integrations.pixiv.plugin import FETCH_LOOP, make_fetch_loop
from pximse.sources.pixiv import DAY_S, PixivCatalog, refresh_token

router = APIRouter(prefix="/api/pixiv", tags=["pixiv"])


@router.get("", summary="The library's Pixiv works: fetched, deleted, private, failed")
def pixiv_status(
    request: Request,
    catalog: Annotated[PixivCatalog, Depends(get_catalog)],  # SQLite's or MongoDB's
    config: Annotated[Config, Depends(get_config)],
) -> dict[str, Any]:
    cutoff = int(time.time()) - config.pixiv.max_age_days * DAY_S
    token = bool(refresh_token(config.pixiv))
    daemon = getattr(request.app.state, "daemon", None)
    loop = daemon.loops.get(FETCH_LOOP) if daemon is not None else None
    return {
        **catalog.pixiv_summary(fetched_after=cutoff),
        "refresh_token": "set" if token else "not set",
        "via": "app" if token else "ajax",
        "max_age_days": config.pixiv.max_age_days,
        "background": config.pixiv.background,
        "fetch_state": loop.state() if loop is not None else None,
        "recent_errors": catalog.pixiv_errors(10),
    }


@router.post("/fetch", status_code=202, summary="Start a Pixiv fetch round in the background")
def pixiv_fetch_now(request: Request) -> Any:
    daemon = getattr(request.app.state, "daemon", None)
    if daemon is None:  # pragma: no cover - create_app always makes one
        return JSONResponse(status_code=409, content={
            "error": "busy", "message": "the daemon is not running"})
    if not daemon.keep_loop(FETCH_LOOP, make_fetch_loop).start_round():
        return JSONResponse(status_code=409, content={
            "error": "busy", "message": "a Pixiv fetch is already running"})
    return {"started": True}
