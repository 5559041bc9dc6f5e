"""The API token, and how the search page signs in without putting it in a URL.

With ``server.token`` set, every ``/api/`` request needs it: as
``Authorization: Bearer TOKEN`` (scripts, the tray), or as the page's session
cookie. A URL never carries the token (it would end up in browser history,
logs and ``Referer``), so the page gets its cookie once:

* from a sign-in form on the page: ``POST /api/session`` with ``{"token": …}``;
* or from a one-time link: a client that holds the token (the tray) asks
  ``POST /api/session/link`` and opens the ``/?login=CODE`` it gets; the page
  trades the code (single use, valid for two minutes) for the cookie at once
  and takes it out of the address bar.

The cookie is ``HttpOnly`` (no script can read it) and ``SameSite=Strict``
(no other site's page sends it), named after the daemon's port so that two
daemons on one machine keep theirs apart. Its value is derived from the
token (an HMAC), so it survives restarts and a new token ends every session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LoginLinks", "TokenGuard", "cookie_name", "router", "session_value"]

router = APIRouter(prefix="/api/session", tags=["session"])

LINK_TTL_S = 120.0
_MAX_LINKS = 64
_COOKIE_MAX_AGE_S = 90 * 86_400
_FAILED_SIGN_IN_DELAY_S = 0.5
OPEN_PATHS = frozenset({"/api/session"})
"""``/api/`` paths that answer without the token: signing in itself."""


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"pximse page session", hashlib.sha256).hexdigest()


def cookie_name(port: int) -> str:
    return f"pximse_session_{port}"


def _port(scope: Scope) -> int:
    server = scope.get("server")
    return int(server[1]) if server and server[1] else 0


def token_ok(headers: Headers, token: str, port: int) -> bool:
    """The request carries the token, or the page's cookie made from it."""
    given = headers.get("authorization", "")
    if given[:7].lower() == "bearer ":
        return hmac.compare_digest(given[7:].encode(), token.encode())
    cookie = _cookie(headers.get("cookie", ""), cookie_name(port))
    return cookie is not None and hmac.compare_digest(cookie.encode(),
                                                      session_value(token).encode())


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class TokenGuard:
    """Every ``/api/`` request but signing in needs the token (ASGI middleware)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/api/") and path not in OPEN_PATHS \
                and scope.get("method") != "OPTIONS" \
                and not token_ok(Headers(scope=scope), self.token, _port(scope)):
            await JSONResponse(
                status_code=401,
                content={"error": "auth", "message": "a valid API token is required "
                         "(Authorization: Bearer TOKEN, or sign in on the search page)"},
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)


class LoginLinks:
    """One-time codes for ``/?login=``: made for a client that holds the token."""

    def __init__(self, ttl_s: float = LINK_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._codes: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        code = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            while len(self._codes) >= _MAX_LINKS:
                self._codes.pop(next(iter(self._codes)))
            self._codes[code] = now + self.ttl_s
        return code

    def redeem(self, code: str) -> bool:
        with self._lock:
            expires = self._codes.pop(code, None)
        return expires is not None and expires > time.monotonic()


def login_links(request: Request) -> LoginLinks:
    return request.app.state.login_links  # type: ignore[no-any-return]


class SignIn(BaseModel):
    token: str | None = Field(None, max_length=1000, description="the daemon's server.token")
    code: str | None = Field(None, max_length=100, description="a one-time code from /?login=")


@router.get("", summary="Whether the API needs a token, and whether this browser has signed in")
def session_state(request: Request) -> dict[str, Any]:
    token = request.app.state.config.server.token
    return {"token_required": bool(token),
            "signed_in": not token or token_ok(request.headers, token, _port(request.scope))}


@router.post("", summary="Sign the search page in: sets its session cookie")
async def sign_in(body: SignIn, request: Request) -> JSONResponse:
    token = request.app.state.config.server.token
    if not token:
        return JSONResponse({"signed_in": True, "token_required": False})
    good = False
    if body.token is not None:
        good = hmac.compare_digest(body.token.encode(), token.encode())
    elif body.code is not None:
        good = login_links(request).redeem(body.code)
    if not good:
        await asyncio.sleep(_FAILED_SIGN_IN_DELAY_S)  # guessing costs time
        return JSONResponse(status_code=401, content={
            "error": "auth", "message": "wrong token, or a sign-in link that was used or "
                                        "is more than two minutes old"})
    response = JSONResponse({"signed_in": True, "token_required": True})
    response.set_cookie(cookie_name(_port(request.scope)), session_value(token),
                        max_age=_COOKIE_MAX_AGE_S, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.delete("", summary="Sign the search page out: clears its session cookie")
def sign_out(request: Request) -> JSONResponse:
    response = JSONResponse({"signed_in": False})
    response.delete_cookie(cookie_name(_port(request.scope)), path="/", httponly=True,
                           samesite="strict")
    return response


@router.post("/link", summary="A one-time sign-in link for the search page (needs the token)")
def sign_in_link(request: Request) -> dict[str, Any]:
    if not request.app.state.config.server.token:
        return {"url": "/", "expires_s": None}
    return {"url": f"/?login={login_links(request).issue()}", "expires_s": int(LINK_TTL_S)}
