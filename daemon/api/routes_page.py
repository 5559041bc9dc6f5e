"""The search page: ``/`` and its static assets, from ``api/static/``.

The page is plain HTML, CSS and JavaScript (no build step). ``index.html``
names its assets as ``/assets/NAME?v=HASH``, the hash of the file's bytes, so an
asset asked for with its current hash never changes and is cached for a year.
Its scripts, listed in order by ``{{scripts:a.js b.js …}}``, are sent joined as
one ``page.js``: one request instead of a dozen, which is what a page opened on
a busy machine waits for most before its first search. The page itself is
revalidated on every load (``no-cache`` with an ETag), so a new version of
PxIMSE is picked up at once. Neither needs the API token: they
hold no library data (the page asks the API for that, signed in by its cookie:
see :mod:`pximse.api.session`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

router = APIRouter()

STATIC_DIR = Path(__file__).resolve().parent / "static"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET_REF = re.compile(r"\{\{asset:([A-Za-z0-9_.-]+)\}\}")
_SCRIPTS = re.compile(r"\{\{scripts:([A-Za-z0-9_. -]+)\}\}")
BUNDLE = "page.js"
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""No inline script, no other origin: even if some text were ever put into the
page as HTML, it could not run."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """Every static file by name, read once; ``index.html`` with its asset links
    filled in, and its scripts joined as ``page.js``."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        media_type = _TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        found[path.name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    page = found.get("index.html")
    if page is not None:

        def bundle(match: re.Match[str]) -> str:
            names = match.group(1).split()
            missing = [name for name in names if name not in found]
            if missing:
                raise RuntimeError(f"index.html names missing scripts: {', '.join(missing)}")
            if BUNDLE in found:
                raise RuntimeError(f"{BUNDLE} is the joined scripts' name, not a file's")
            body = b"\n;\n".join(b"/* " + name.encode() + b" */\n" + found[name].body
                                  for name in names)
            found[BUNDLE] = Asset(body, _TYPES[".js"], hashlib.sha256(body).hexdigest()[:16])
            return f'<script src="{{{{asset:{BUNDLE}}}}}"></script>'

        def link(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in found:
                raise RuntimeError(f"index.html names a missing asset: {name}")
            return f"/assets/{name}?v={found[name].version}"

        text = _SCRIPTS.sub(bundle, page.body.decode("utf-8"))
        body = _ASSET_REF.sub(link, text).encode("utf-8")
        found["index.html"] = Asset(body, page.media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


def _respond(request: Request, asset: Asset, cache: str) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match", "").strip() in (asset.etag, f"W/{asset.etag}"):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/", include_in_schema=False)
def page(request: Request) -> Response:
    response = _respond(request, assets()["index.html"], _REVALIDATE)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The page may be opened with a one-time ?login= code: never send it on.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str, request: Request, v: str = "") -> Response:
    found = assets().get(name)
    if found is None or name == "index.html":
        raise HTTPException(status_code=404, detail="no such asset")
    return _respond(request, found, _IMMUTABLE if v == found.version else _REVALIDATE)
