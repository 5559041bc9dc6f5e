"""Hydrus routes: whether a Hydrus client is configured, and sending a search
or a selection to it.

``GET /api/hydrus`` tells the web page whether to offer "Send to Hydrus";
``POST /api/hydrus/show`` runs any search (query, CLIP text, similar image)
and puts its results on a new page in the Hydrus GUI;
``POST /api/selection/hydrus`` does the same for the images selected on the
page. Hydrus's own failures
come back as JSON with a message: 409 when ``[hydrus]`` lacks the url or the
access key, 503 when the client is not running, busy, refuses the key or
the request (a 5xx other than 503 would read as PxIMSE's own fault). The
search runs on whichever catalogue the daemon has, SQLite or MongoDB.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pximse.api.deps import get_catalog, get_config
from pximse.api.routes_results import ImageIds
from pximse.config import Config
from pximse.integrations.hydrus.bridge import HydrusBridge
from pximse.integrations.hydrus.errors import HydrusError, HydrusNotConfigured
from pximse.integrations.hydrus.show import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGE_PREFIX,
    page_name,
    search_hashes,
    show_in_hydrus,
)
from pximse.search.planner import ClipSearch

router = APIRouter(prefix="/api/hydrus", tags=["hydrus"])
selection_router = APIRouter(prefix="/api/selection", tags=["selection"])

_bridge_lock = threading.Lock()


def get_bridge(request: Request) -> HydrusBridge:
    """One bridge per app (its client keeps the connection to Hydrus open)."""
    state = request.app.state
    with _bridge_lock:
        bridge = getattr(state, "hydrus_bridge", None)
        if bridge is None:
            bridge = state.hydrus_bridge = HydrusBridge(state.config)
        return bridge  # type: ignore[no-any-return]


def _refusal(exc: HydrusError) -> JSONResponse:
    status = 409 if isinstance(exc, HydrusNotConfigured) else 503
    return JSONResponse(status_code=status, content=exc.to_dict())


class ShowRequest(BaseModel):
    q: str = Field("", description="a query in either syntax")
    text: str | None = Field(None, description="CLIP text search within the query")
    similar: str | None = Field(None, description="more like this image (its id)")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT,
                       description="at most this many results go to Hydrus")
    name: str | None = Field(None, max_length=200,
                             description="the page's name (default: PxIMSE: <query>)")


@router.get("", summary="Whether a Hydrus client is configured (and reachable)")
def hydrus_status(
    request: Request,
    bridge: Annotated[HydrusBridge, Depends(get_bridge)],
    check: Annotated[bool, Query(description="also ask Hydrus whether it answers")] = False,
) -> dict[str, Any]:
    body = bridge.describe()
    daemon = getattr(request.app.state, "daemon", None)
    pusher = daemon.loops.get("hydrus push") if daemon is not None else None
    if pusher is not None:
        body["push_state"] = pusher.state()
    if check and bridge.configured:
        try:
            version = bridge.client().api_version()
            bridge.client().verify_access_key()
            body.update(reachable=True, hydrus_version=version.get("hydrus_version"),
                        api_version=version.get("version"))
        except HydrusError as exc:
            body.update(reachable=False, error=exc.code, message=exc.message)
    return body


@router.post("/show", summary="Show a search's results on a new Hydrus page")
def hydrus_show(
    body: ShowRequest,
    request: Request,
    bridge: Annotated[HydrusBridge, Depends(get_bridge)],
    catalog: Annotated[Any, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> Any:
    clip: ClipSearch = request.app.state.clip
    try:
        client = bridge.client()  # not configured: 409 before any search runs
        hashes, total = search_hashes(clip, catalog, config, q=body.q, text=body.text,
                                      similar=body.similar, limit=body.limit)
        name = (body.name or "").strip() or page_name(body.q, body.text, body.similar)
        result = show_in_hydrus(client, hashes, name, total)
    except HydrusError as exc:
        return _refusal(exc)
    return result.to_json()


class HydrusPage(ImageIds):
    name: str | None = Field(None, max_length=200,
                             description="the page's name (default: PxIMSE: N selected)")


@selection_router.post("/hydrus", summary="Show a selection on a new Hydrus page")
def selection_to_hydrus(body: HydrusPage, request: Request) -> Any:
    """The selected files Hydrus has, in the order given, on a new page of the
    Hydrus GUI; the others are counted in ``not_in_hydrus``. Refusals as for
    ``POST /api/hydrus/show``: 409 without a Hydrus configured, 503 when it does
    not answer or refuses."""
    name = (body.name or "").strip() or f"{PAGE_PREFIX}: {len(body.ids)} selected"
    try:
        client = get_bridge(request).client()
        result = show_in_hydrus(client, body.ids, name, len(body.ids))
    except HydrusError as exc:
        return _refusal(exc)
    return result.to_json()
