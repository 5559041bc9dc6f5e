"""Host names and web origins as the ``[server]`` keys and the HTTP guards read them.

One parser for both, so that what the configuration accepts is exactly what a
request is compared with: names lower-cased, a trailing dot dropped, IPv6
addresses without brackets, default ports written out.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["is_ip_literal", "is_loopback_name", "parse_host", "parse_origin",
           "serialize_origin"]

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_host(text: str) -> tuple[str, int | None] | None:
    """``name``, ``name:port``, ``1.2.3.4:port``, ``[::1]:port`` or ``::1`` as
    (host, port or None), or None when it is none of those."""
    text = text.strip().lower()
    port_text = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
        if not _is_ip(host, version=6):
            return None
    elif text.count(":") > 1:  # a bare IPv6 address
        host = text
        if not _is_ip(host, version=6):
            return None
    else:
        host, _, port_text = text.partition(":")
        if _ == ":" and not port_text:
            return None
        host = host.removesuffix(".")
        if not (_is_ip(host, version=4) or _NAME.fullmatch(host)):
            return None
    port: int | None = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    return host, port


def parse_origin(text: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` as (scheme, host, port), the port filled in from
    the scheme; None for anything else (a path, ``null``, another scheme)."""
    scheme, sep, rest = text.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    rest = rest.removesuffix("/")
    if not rest or any(ch in rest for ch in "/?#@ "):
        return None
    parsed = parse_host(rest)
    if parsed is None:
        return None
    host, port = parsed
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def serialize_origin(scheme: str, host: str, port: int) -> str:
    """An origin as a browser writes it in ``Origin``: no default port, IPv6 in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if _DEFAULT_PORTS[scheme] == port else f":{port}")


def is_loopback_name(host: str) -> bool:
    """``localhost`` or an address of this machine's loopback interface."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_ip_literal(host: str) -> bool:
    return _is_ip(host, version=4) or _is_ip(host, version=6)


def _is_ip(text: str, *, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False
