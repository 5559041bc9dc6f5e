"""The two doors to Pixiv, one request per work each.

:class:`AppApiClient` uses pixivpy3's ``AppPixivAPI`` with the user's refresh
token: it authenticates on first use, refreshes the access token before it
expires and once more when Pixiv says it has (``invalid_grant``), and reads
``/v1/illust/detail`` through pixivpy3's own request call so that the HTTP
status is kept (``illust_detail`` drops it, and the status is what tells a
deleted work from a busy server). :class:`AjaxClient` reads the public web
endpoint ``/ajax/illust/<id>`` with httpx when no token is set.

Secrets: the refresh and access tokens are only ever sent to Pixiv. Every
message that leaves a client passes through :func:`redact`, and nothing here
logs a request's headers or body.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

from pximse.sources.pixiv_answers import (
    AuthRefused,
    FetchFailure,
    PassingFailure,
    ajax_answer,
    app_answer,
    app_token_expired,
    retry_after_seconds,
)
from pximse.store.records import PixivWork

__all__ = ["AjaxClient", "AppApiClient", "PixivClient", "redact"]

log = logging.getLogger(__name__)

DEFAULT_APP_API = "https://app-api.pixiv.net"
_BROWSER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/124.0 Safari/537.36")


class PixivClient(Protocol):
    via: str

    def fetch(self, illust_id: str) -> PixivWork:
        """The work, or :class:`FetchFailure` / :class:`PassingFailure` /
        :class:`AuthRefused`."""
        ...

    def close(self) -> None: ...


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every secret (and any ``*_token=...`` value) blanked out."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return re.sub(r"((?:refresh|access)_token[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+", r"\1***",
                  text)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class AppApiClient:
    """The app API through pixivpy3, authenticated with a refresh token."""

    via = "app"

    def __init__(self, refresh_token: str, *, language: str = "en",
                 host: str = DEFAULT_APP_API, timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time) -> None:
        try:
            from pixivpy3 import AppPixivAPI
        except ImportError as exc:  # pragma: no cover - the test extra installs it
            raise FetchFailure("the Pixiv app API needs pixivpy3: pip install 'pximse[pixiv]' "
                               "(or leave [pixiv] refresh_token empty for the web endpoint)"
                               ) from exc
        self._refresh_token = refresh_token
        self._api = AppPixivAPI(timeout=timeout_s)
        self._api.hosts = host.rstrip("/")
        self._api.set_accept_language(language)
        self._clock = clock
        self._now = now
        self._expires_at: float | None = None  # clock() time the access token expires

    @property
    def _secrets(self) -> list[str | None]:
        return [self._refresh_token, self._api.refresh_token, self._api.access_token]

    def close(self) -> None:
        self._api.requests.close()

    def fetch(self, illust_id: str) -> PixivWork:
        if self._expires_at is None or self._clock() >= self._expires_at:
            self._authenticate()
        status, body, retry_after = self._detail(illust_id)
        if app_token_expired(status, body):
            log.info("Pixiv access token expired early; refreshing it")
            self._authenticate()
            status, body, retry_after = self._detail(illust_id)
            if app_token_expired(status, body):
                raise AuthRefused("Pixiv keeps refusing fresh access tokens; the refresh token "
                                  "may have been revoked: get a new one")
        return app_answer(illust_id, status, body, retry_after, int(self._now()))

    def _detail(self, illust_id: str) -> tuple[int, Any, float | None]:
        from pixivpy3.utils import PixivError

        try:
            response = self._api.no_auth_requests_call(
                "GET", f"{self._api.hosts}/v1/illust/detail",
                params={"illust_id": illust_id, "filter": "for_ios"}, req_auth=True)
        except PixivError as exc:  # pixivpy3 wraps every requests error in one
            raise PassingFailure(f"network: {self._clean(exc)}") from None
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return response.status_code, _json(response.text), retry_after

    def _authenticate(self) -> None:
        """Trade the refresh token for an access token (pixivpy3's ``auth``)."""
        from pixivpy3.utils import PixivError

        started = self._clock()
        try:
            token = self._api.auth(refresh_token=self._refresh_token)
        except PixivError as exc:
            message = self._clean(exc)
            status = re.search(r"HTTP (\d{3})", str(exc))
            code = int(status[1]) if status else None
            if code is None or code == 429 or code >= 500:
                raise PassingFailure(f"signing in to Pixiv: {message}") from None
            raise AuthRefused(
                f"Pixiv refused the refresh token (HTTP {code}); get a new one "
                "(see docs/pixiv.md)") from None
        except (KeyError, AttributeError, TypeError):
            raise PassingFailure("signing in to Pixiv: an answer without a token") from None
        expires_in = token.get("expires_in") if isinstance(token, dict) else None
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        # Refresh a minute early, or halfway for short-lived tokens.
        self._expires_at = started + max(lifetime - 60.0, lifetime / 2)
        log.info("signed in to the Pixiv app API")

    def _clean(self, exc: BaseException) -> str:
        return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
                      self._secrets)


class AjaxClient:
    """The public web endpoint, without a login (R-18 works may be hidden)."""

    via = "ajax"

    def __init__(self, *, language: str = "en", base_url: str = "https://www.pixiv.net",
                 timeout_s: float = 30.0, now: Callable[[], float] = time.time) -> None:
        self._language = language
        self._now = now
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, follow_redirects=False,
            headers={"User-Agent": _BROWSER_AGENT, "Referer": "https://www.pixiv.net/",
                     "Accept": "application/json", "Accept-Language": language})

    def close(self) -> None:
        self._http.close()

    def fetch(self, illust_id: str) -> PixivWork:
        try:
            response = self._http.get(f"/ajax/illust/{illust_id}",
                                      params={"lang": self._language.split("-")[0]})
        except httpx.HTTPError as exc:
            raise PassingFailure(f"network: {type(exc).__name__}: {exc}") from None
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return ajax_answer(illust_id, response.status_code, _json(response.text), retry_after,
                           int(self._now()), self._language)
