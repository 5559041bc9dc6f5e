"""What every request passes before a route runs: who it may be from, and how big it may be.

A web page the user happens to have open must not be able to read the library
or steer the daemon, even though the daemon listens on 127.0.0.1 without a
token. Browsers say where a request comes from, and these ASGI middlewares
hold them to it (outermost first, as :func:`install_guards` stacks them):

* :class:`SecurityHeaders` puts ``X-Content-Type-Options: nosniff`` (and a
  few headers that keep answers out of other sites' frames and pages) on
  every answer, refusals included.
* :class:`HostGuard` refuses (421) a ``Host`` that is not this daemon's:
  a loopback name or address with the daemon's port, ``server.host``, or a
  name in ``server.allowed_hosts``. A site whose own name was pointed at
  127.0.0.1 (DNS rebinding) is same-origin with the daemon in the browser's
  eyes, but its requests still carry its own name.
* Starlette's CORS middleware, only when ``server.cors_origins`` lists a front
  end served elsewhere: its requests and preflights get CORS answers.
* :class:`OriginGuard` refuses (403) what another site's page sends: a
  state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is not the
  daemon's own or a configured CORS origin, and any request a browser marks
  ``Sec-Fetch-Site: cross-site`` or ``same-site`` (another port of localhost
  is the same site) unless it comes from a CORS origin or is a top-level
  navigation. A picture a CORS origin's page shows (``<img>``: no ``Origin``,
  ``Sec-Fetch-Dest: image``, that page's ``Referer``) may load too, and is
  answered ``Cross-Origin-Resource-Policy: cross-origin`` so that the browser
  shows it. A request without either header is not a browser page's (curl,
  the tray, scripts): the token, when there is one, is what guards it.
* :class:`BodyLimit` answers 413 as soon as a body passes its limit, whether
  it said its length or was sent in chunks, before a route can spool it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pximse.config.settings import ServerConfig
from pximse.config.web_names import (
    is_ip_literal,
    is_loopback_name,
    parse_host,
    parse_origin,
)

__all__ = [
    "BodyLimit",
    "BodyTooLarge",
    "HostGuard",
    "OriginGuard",
    "SecurityHeaders",
    "install_guards",
]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OWN_SITE = frozenset({"same-origin", "none"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _refuse(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message})


class SecurityHeaders:
    """Headers every answer carries, whatever made it (a route, a guard, an error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostGuard:
    """Refuses a ``Host`` the daemon does not answer to (see the module docstring)."""

    def __init__(self, app: ASGIApp, server: ServerConfig) -> None:
        self.app = app
        self.any_port: set[str] = set()
        self.with_port: set[tuple[str, int]] = set()
        for entry in server.allowed_hosts:
            parsed = parse_host(entry)
            if parsed is None:
                continue  # the configuration's validator refuses these
            host, port = parsed
            if port is None:
                self.any_port.add(host)
            else:
                self.with_port.add((host, port))
        bound = parse_host(server.host)
        self.bound = bound[0] if bound else server.host.strip("[]").lower()
        self.wildcard = self.bound in _WILDCARD_BINDS
        self.machine_name = socket.gethostname().lower().removesuffix(".")
        self.configured_port = server.port

    def allows(self, host_header: str, scheme: str, own_port: int) -> bool:
        parsed = parse_host(host_header)
        if parsed is None:
            return False
        host, port = parsed
        if host in self.any_port or (host, port or _DEFAULT_PORTS.get(scheme, 80)) \
                in self.with_port:
            return True
        if (port if port is not None else _DEFAULT_PORTS.get(scheme, 80)) != own_port:
            return False
        if is_loopback_name(host) or host == self.bound:
            return True
        # An IP address cannot be rebound, and the machine's own name is not a
        # web site's to point elsewhere.
        return self.wildcard and (is_ip_literal(host) or host == self.machine_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the API has no WebSocket routes
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        server = scope.get("server")
        own_port = server[1] if server and server[1] else self.configured_port
        if not self.allows(host, scope.get("scheme", "http"), own_port):
            shown = host if host.isprintable() and len(host) < 300 else "(unreadable)"
            await _refuse(
                421, "host",
                f"this PxIMSE daemon does not answer to the name {shown!r}: reach it as "
                f"127.0.0.1:{own_port} or localhost:{own_port}, or add the name to "
                "server.allowed_hosts (a reverse proxy's name, say)",
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)


def own_origin(headers: Headers, origin: str) -> bool:
    """``origin`` names the same host and port the request was sent to (``Host``,
    which :class:`HostGuard` has already checked is the daemon's)."""
    parsed = parse_origin(origin)
    target = parse_host(headers.get("host", ""))
    if parsed is None or target is None:
        return False
    scheme, host, port = parsed
    target_host, target_port = target
    return host == target_host and port == (target_port or _DEFAULT_PORTS[scheme])


class OriginGuard:
    """Refuses what a page of another site sends (see the module docstring)."""

    def __init__(self, app: ASGIApp, cors_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.cors_any = "*" in cors_origins
        self.cors: set[tuple[str, str, int]] = set()
        for origin in cors_origins:
            parsed = parse_origin(origin)
            if parsed is not None:
                self.cors.add(parsed)

    def cors_origin(self, origin: str | None) -> bool:
        if origin is None or origin == "null":
            return False
        parsed = parse_origin(origin)
        return parsed is not None and (self.cors_any or parsed in self.cors)

    def cors_picture(self, method: str, headers: Headers) -> bool:
        """A picture a CORS origin's page loads (``<img src>`` sends no ``Origin``;
        the page's ``Referer``, which no page can forge, names it)."""
        if method not in ("GET", "HEAD") or headers.get("sec-fetch-dest") != "image":
            return False
        scheme, sep, rest = headers.get("referer", "").partition("://")
        return bool(sep) and self.cors_origin(f"{scheme}://{rest.split('/', 1)[0]}")

    def refusal(self, method: str, headers: Headers) -> str | None:
        """Why the request is refused, or None."""
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site")
        if self.cors_origin(origin) or self.cors_picture(method, headers):
            return None
        if method in UNSAFE_METHODS:
            if origin is not None and not own_origin(headers, origin):
                return f"a request from another site ({origin}) may not change anything"
            if site is not None and site not in _OWN_SITE:
                return "a request from another site may not change anything"
            return None
        if site is not None and site not in _OWN_SITE:
            navigation = (headers.get("sec-fetch-mode") == "navigate"
                          and headers.get("sec-fetch-dest") == "document")
            if not (navigation and method in ("GET", "HEAD")):
                return "the daemon does not answer pages of other sites"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        why = self.refusal(scope["method"], headers)
        if why is not None:
            await _refuse(403, "origin", why + " (server.cors_origins lists the front ends "
                                               "served elsewhere that may)")(scope, receive, send)
            return
        if not self.cors_picture(scope["method"], headers):
            await self.app(scope, receive, send)
            return

        async def send_shareable(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["cross-origin-resource-policy"] = "cross-origin"
            await send(message)

        await self.app(scope, receive, send_shareable)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit; routes let it through,
    and FastAPI answers it as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413,
                         detail=f"the request body is larger than {_size(limit)}")


def _size(limit: int) -> str:
    return f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit >> 10} KB"


class BodyLimit:
    """At most ``limit_for(path)`` bytes of request body, counted as they arrive."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _refuse(413, "request", f"the request body is larger than {_size(limit)}"
                          )(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(413, "request", str(exc.detail))(scope, receive, send)


def install_guards(app: Any, server: ServerConfig, body_limit: Callable[[str], int]) -> None:
    """Stack the guards on ``app`` (Starlette puts the last one added outermost)."""
    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(OriginGuard, cors_origins=server.cors_origins)
    if server.cors_origins:
        wildcard = "*" in server.cors_origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"] if wildcard else list(server.cors_origins),
            # Never "*" with credentials: an origin named in the file may send the
            # page's cookie (it is the same site, say), "*" never.
            allow_credentials=not wildcard,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Last-Event-ID"],
            allow_private_network=True,
            max_age=600,
        )
    app.add_middleware(HostGuard, server=server)
    app.add_middleware(SecurityHeaders)

