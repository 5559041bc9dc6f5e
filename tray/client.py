"""The daemon's HTTP API as the tray uses it: status, pause/resume, rescan, events.

Standard library only (``urllib``), so the tray adds nothing to install but
pystray. Every failure becomes a :class:`DaemonError` whose message says what
the daemon answered (or that nothing answered), ready to show to the user.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pximse.config import Config

__all__ = ["DaemonClient", "DaemonError", "DaemonTimeout", "DaemonUnreachable", "ServerEvent"]


class DaemonError(Exception):
    """The daemon refused or failed a request; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DaemonUnreachable(DaemonError):
    """Nothing answers at the daemon's address."""


class DaemonTimeout(DaemonError):
    """The daemon took the connection but did not answer in time (a busy machine)."""


@dataclass(frozen=True)
class ServerEvent:
    """One message of the ``/api/events`` stream."""

    kind: str
    data: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class DaemonClient:
    base_url: str
    """``http://127.0.0.1:8741`` (no trailing slash)."""
    token: str | None = None
    timeout_s: float = 10.0

    @classmethod
    def for_config(cls, config: Config, **options: Any) -> DaemonClient:
        """The client for the daemon ``config`` describes. A daemon listening on
        every address (``0.0.0.0``, ``::``) is reached over loopback."""
        host = config.server.host.strip("[]")
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return cls(f"http://{host}:{config.server.port}", config.server.token, **options)

    def page_url(self) -> str:
        """The search page to open; with a token, a one-time sign-in link the daemon
        makes for this client (the token itself never goes in a URL, where the
        browser's history would keep it)."""
        if self.token:
            link = self._request("POST", "/api/session/link").get("url", "/")
            if isinstance(link, str) and link.startswith("/"):
                return self.base_url + link
        return self.base_url + "/"

    def status(self) -> dict[str, Any]:
        return self._request("GET", "/api/status")

    def pause(self) -> dict[str, Any]:
        return self._request("POST", "/api/indexing/pause")

    def resume(self) -> dict[str, Any]:
        return self._request("POST", "/api/indexing/resume")

    def rescan(self) -> dict[str, Any]:
        return self._request("POST", "/api/scan")

    def _open(self, method: str, path: str, timeout_s: float,
              accept: str = "application/json") -> Any:
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Accept": accept})
        if method == "POST":
            request.data = b""
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        where = f"{method} {path}"
        try:
            return urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 (our URL)
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc, where) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise DaemonTimeout(f"the daemon at {self.base_url} did not answer {where} "
                                  f"within {timeout_s:g} s") from exc
            raise DaemonUnreachable(
                f"no PxIMSE daemon answers at {self.base_url} ({reason})") from exc

    def _request(self, method: str, path: str) -> dict[str, Any]:
        with self._open(method, path, self.timeout_s) as response:
            body = response.read()
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise DaemonError(
                f"{self.base_url} answered {method} {path} with something that is not "
                "JSON: is another program using PxIMSE's port?") from exc
        if not isinstance(data, dict):
            raise DaemonError(f"{self.base_url} answered {method} {path} with {data!r}")
        return data

    def _refusal(self, exc: urllib.error.HTTPError, where: str) -> DaemonError:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        message = body.get("message") or body.get("detail") if isinstance(body, dict) else None
        said = f": {message}" if message else ""
        if exc.code == 401:
            return DaemonError(
                f"the daemon at {self.base_url} wants an API token{said}; set server.token in "
                "the tray's configuration to the daemon's", exc.code)
        if exc.code in (404, 405):
            return DaemonError(
                f"the daemon does not offer {where} (it answered {exc.code} {exc.reason}{said}); "
                "it may be an older PxIMSE", exc.code)
        return DaemonError(f"the daemon answered {where} with {exc.code} {exc.reason}{said}",
                           exc.code)

    def events(self, read_timeout_s: float = 75.0) -> Iterator[ServerEvent]:
        """The ``/api/events`` stream, until the daemon closes it. Raises
        :class:`DaemonError` (404 from a daemon without the stream; a read that
        waits longer than ``read_timeout_s`` -- the daemon sends a status at
        least every 30 s -- ends it with a timeout)."""
        response = self._open("GET", "/api/events", read_timeout_s, accept="text/event-stream")
        with response:
            kind, event_id = "message", None
            data_lines: list[str] = []
            for raw in response:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data_lines:
                        try:
                            data = json.loads("\n".join(data_lines))
                        except ValueError:
                            data = {"text": "\n".join(data_lines)}
                        yield ServerEvent(kind, data if isinstance(data, dict) else
                                          {"value": data}, event_id)
                    kind, data_lines = "message", []
                    continue
                if line.startswith(":"):
                    continue  # a comment (keep-alive)
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    kind = value
                elif field == "data":
                    data_lines.append(value)
                elif field == "id":
                    event_id = value
