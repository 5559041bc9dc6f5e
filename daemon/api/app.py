"""The HTTP API: FastAPI app factory, errors, and the guards every request passes
(``guards``: host, origin, body size; ``session``: the token).

Handlers are plain ``def`` functions, so FastAPI runs them in its thread pool
and SQLite never blocks the event loop; each thread has its own read
connection (see ``store.sqlite.database``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pximse import __version__
from pximse.api.guards import install_guards
from pximse.api.routes_daemon import router as daemon_router
from pximse.api.routes_docs import router as docs_router
from pximse.api.routes_folder import router as folder_router
from pximse.api.routes_images import router as images_router
from pximse.api.routes_original import router as original_router
from pximse.api.routes_page import router as page_router
from pximse.api.routes_results import router as results_router
from pximse.api.routes_search import MAX_UPLOAD_BYTES
from pximse.api.routes_search import router as search_router
from pximse.api.routes_selection import router as selection_router
from pximse.api.session import LoginLinks, TokenGuard
from pximse.api.session import router as session_router
from pximse.config import Config
from pximse.events import EventBus
from pximse.plugins import routers as plugin_routers
from pximse.query.errors import QueryError
from pximse.search.planner import (
    ClipSearch,
    QueryImageRejected,
    QueryImageTooLarge,
    VectorSearchUnavailable,
)
from pximse.service.runtime import Daemon
from pximse.store.backends import Catalog, open_catalog

log = logging.getLogger(__name__)


def create_app(config: Config, catalog: Catalog | None = None) -> FastAPI:
    """The API for one catalogue; ``catalog`` defaults to the one in the data folder."""
    app = FastAPI(
        title="PxIMSE",
        version=__version__,
        description="Search a local illustration library by tags, metadata and sources.",
        docs_url=None,  # served offline by routes_docs
        redoc_url=None,
    )
    app.state.config = config
    # The catalogue [backend] names: SQLite in the data folder, or MongoDB.
    app.state.catalog = catalog or open_catalog(config)
    # The daemon's live state and event stream (``pximse serve`` starts its work).
    app.state.events = EventBus()
    app.state.daemon = Daemon(config, app.state.catalog, app.state.events)
    app.state.clip = ClipSearch(config)  # loads nothing until the first vector query

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse(status_code=400, content=exc.to_dict())

    @app.exception_handler(VectorSearchUnavailable)
    async def vectors_unavailable(request: Request, exc: VectorSearchUnavailable
                                  ) -> JSONResponse:
        return JSONResponse(status_code=503, content=exc.to_dict())

    @app.exception_handler(QueryImageRejected)
    async def image_rejected(request: Request, exc: QueryImageRejected) -> JSONResponse:
        status = 413 if isinstance(exc, QueryImageTooLarge) else 400
        return JSONResponse(status_code=status, content={"error": "image", "message": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"parameter": ".".join(str(p) for p in err.get("loc", ())[1:]), "message": err["msg"]}
            for err in exc.errors()
        ]
        message = "; ".join(f"{p['parameter']}: {p['message']}" for p in problems)
        return JSONResponse(
            status_code=400, content={"error": "request", "message": message, "problems": problems}
        )

    token = config.server.token
    if token:
        app.add_middleware(TokenGuard, token=token)
    install_guards(app, config.server, body_limit)
    app.state.login_links = LoginLinks()

    app.include_router(daemon_router)
    app.include_router(search_router)
    app.include_router(folder_router)
    app.include_router(images_router)
    app.include_router(page_router)
    app.include_router(results_router)
    app.include_router(selection_router)
    app.include_router(session_router)
    app.include_router(docs_router)
    for router in plugin_routers():  # the Hydrus, digiKam and Pixiv routes
        app.include_router(router)
    # Last: its file route answers any /{root}/{path} no other route took.
    app.include_router(original_router)

    return app


UPLOAD_PATHS = frozenset({"/api/search/image", "/api/query/"})
_FORM_ROOM = 1 << 20
"""What a form may hold besides its image (the other fields, the multipart framing)."""
_OTHER_BODY_LIMIT = 1 << 20


def body_limit(path: str) -> int:
    """How many bytes of body a request to ``path`` may send."""
    return MAX_UPLOAD_BYTES + _FORM_ROOM if path in UPLOAD_PATHS else _OTHER_BODY_LIMIT
