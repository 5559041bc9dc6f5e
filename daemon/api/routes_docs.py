"""``/docs``: the API's interactive reference (Swagger UI), served by the daemon itself.

FastAPI's own ``/docs`` loads Swagger UI from a CDN: blank when offline, and
code from a third party running with the daemon's origin. Here the page and
Swagger UI's files all come from the daemon (the ``swagger-ui-bundle-v2``
package ships them), under a Content-Security-Policy that allows nothing
else: no other origin, no inline script (the page starts Swagger UI from
``/assets/docs.js``), and Swagger UI's validator badge (which would send the
schema's address to swagger.io) is off. ReDoc, which only comes from a CDN,
is not offered.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from pximse.api.routes_page import assets

router = APIRouter(include_in_schema=False)

DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Scripts, styles and the schema come from the daemon alone."""

_FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "swagger-ui.css": "text/css; charset=utf-8"}
_IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def _swagger_files() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's files by name, with a version tag of their bytes."""
    import swagger_ui_bundle

    folder = Path(swagger_ui_bundle.swagger_ui_path)
    found = {}
    for name in _FILES:
        body = (folder / name).read_bytes()
        found[name] = (body, hashlib.sha256(body).hexdigest()[:16])
    return found


def _page() -> bytes:
    files = _swagger_files()
    script = assets()["docs.js"]
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PxIMSE HTTP API</title>
<link rel="icon" href="/assets/favicon.svg?v={assets()['favicon.svg'].version}">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css?v={files['swagger-ui.css'][1]}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js?v={files['swagger-ui-bundle.js'][1]}"></script>
<script src="/assets/docs.js?v={script.version}"></script>
</body>
</html>
""".encode()


@router.get("/docs")
def docs() -> Response:
    return Response(_page(), media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": DOCS_POLICY, "Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}")
def docs_asset(name: str, request: Request) -> Response:
    if name not in _FILES:
        raise HTTPException(status_code=404, detail="no such file")
    body, version = _swagger_files()[name]
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": _IMMUTABLE}
    if request.headers.get("if-none-match", "").strip() in (etag, f"W/{etag}"):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_FILES[name], headers=headers)
