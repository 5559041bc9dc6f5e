"""What Pixiv's answers mean: a work (ok, deleted, private) or a failed attempt.

Pure functions from an HTTP status, headers and JSON body to a
:class:`~pximse.store.records.PixivWork` or an exception, shared by the app
API client and the web endpoint client. The rule that matters most: only an
answer from Pixiv that says so marks a work deleted (404) or private (403, a
404 that says the work is restricted, or the app API's ``visible: false``);
a 403 or 404 whose body is not Pixiv's JSON error (a proxy, a bot check) says
nothing about the work. Network errors, rate limiting (429, and the app
API's 403 "Rate Limit") and server errors (5xx) are :class:`PassingFailure`,
retried and never recorded as a verdict on the work; anything else unexpected
is a :class:`FetchFailure`, kept as an error and tried again on the next run.

The shapes are pixivpy3's documented ones: the app API's ``/v1/illust/detail``
answers ``{"illust": {"id", "title", "caption", "create_date", "page_count",
"x_restrict", "illust_ai_type", "total_view", "total_bookmarks",
"total_comments", "visible", "user": {"id", "name"}, "tags": [{"name",
"translated_name"}]}}`` and errors as ``{"error": {"message",
"user_message"}}``; the web endpoint ``/ajax/illust/<id>`` answers ``{"error":
false, "body": {"illustTitle", "illustComment", "createDate", "pageCount",
"xRestrict", "aiType", "viewCount", "bookmarkCount", "likeCount",
"commentCount", "userId", "userName", "tags": {"tags": [{"tag",
"translation": {"en": ...}}]}}}``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pximse.store.records import PixivTag, PixivWork

__all__ = [
    "AuthRefused",
    "FetchFailure",
    "PassingFailure",
    "ajax_answer",
    "app_answer",
    "retry_after_seconds",
]


class FetchFailure(Exception):
    """An attempt that told nothing about the work (kept as an error, tried again
    on the next run)."""


class PassingFailure(FetchFailure):
    """A failure that may go away by waiting: network, rate limiting, 5xx."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthRefused(Exception):
    """Pixiv refused the refresh token: nothing can be fetched until it is replaced."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _passing_or_failure(status: int, message: str, retry_after: float | None) -> FetchFailure:
    if status == 429 or status >= 500 or "rate limit" in message.lower():
        return PassingFailure(f"HTTP {status}{': ' + message if message else ''}", retry_after)
    return FetchFailure(f"unexpected answer HTTP {status}{': ' + message if message else ''}")


def _missing(illust_id: str, state: str, via: str, now: int) -> PixivWork:
    return PixivWork(illust_id, state, via, now)


_HIDDEN_WORDS = ("非公開", "公開範囲", "マイピク", "restricted", "limited", "private")


def _verdict(status: int, message: str) -> str | None:
    """``deleted`` or ``private`` for Pixiv's own 404/403 answers (the caller has
    checked the body is Pixiv's JSON), None for anything else."""
    lowered = message.lower()
    if status not in (403, 404) or "rate limit" in lowered:
        return None
    if status == 403 or any(word in lowered for word in _HIDDEN_WORDS):
        return "private"
    return "deleted"


def _not_pixiv(status: int) -> FetchFailure:
    """A 403/404 whose body is not Pixiv's JSON: a proxy, a captive portal or a
    bot check answered, not Pixiv, so it says nothing about the work."""
    return PassingFailure(f"HTTP {status} without Pixiv's answer (a proxy or a bot check?)")


# -- the app API -----------------------------------------------------------------


def app_error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("message") or error.get("user_message") or error.get("reason")
                   or "").strip()
    return ""


def app_token_expired(status: int, body: Any) -> bool:
    """The app API's answer to an expired or revoked access token."""
    message = app_error_message(body).lower()
    return status in (400, 401) and ("invalid_grant" in message or "oauth" in message)


def app_answer(illust_id: str, status: int, body: Any, retry_after: float | None, now: int
               ) -> PixivWork:
    """A work from ``/v1/illust/detail``'s answer, or the failure it means."""
    message = app_error_message(body)
    if status in (403, 404):
        if not (isinstance(body, dict) and isinstance(body.get("error"), dict)):
            raise _not_pixiv(status)
        error = body["error"]
        verdict = _verdict(status, f"{message} {error.get('user_message') or ''}")
        if verdict is not None:
            return _missing(illust_id, verdict, "app", now)
    if status != 200:
        raise _passing_or_failure(status, message, retry_after)
    illust = body.get("illust") if isinstance(body, dict) else None
    if not isinstance(illust, dict):
        raise FetchFailure(f"unexpected answer: no illust in {str(body)[:200]!r}")
    user = illust.get("user") or {}
    work = PixivWork(
        illust_id=illust_id, state="ok", via="app", fetched_at=now,
        title=_text(illust.get("title")),
        caption=caption_text(illust.get("caption")),
        created=_epoch(illust.get("create_date")),
        views=_int(illust.get("total_view")),
        bookmarks=_int(illust.get("total_bookmarks")),
        likes=None,  # the app API does not report likes
        comments=_int(illust.get("total_comments")),
        user_id=_id(user.get("id")),
        user_name=_text(user.get("name")),
        ai=_ai(illust.get("illust_ai_type")),
        r18=_r18(illust.get("x_restrict")),
        x_restrict=_int(illust.get("x_restrict")),
        pages=_int(illust.get("page_count")),
        tags=[PixivTag(str(tag["name"]), _text(tag.get("translated_name")))
              for tag in illust.get("tags") or [] if isinstance(tag, dict) and tag.get("name")],
    )
    if illust.get("visible") is False:
        # Restricted (My pixiv only, private): the answer carries placeholders,
        # not the work; keep only who made it.
        return PixivWork(illust_id, "private", "app", now, user_id=work.user_id,
                         user_name=work.user_name)
    return work


# -- the web endpoint -----------------------------------------------------------------


def ajax_answer(illust_id: str, status: int, body: Any, retry_after: float | None, now: int,
                language: str = "en") -> PixivWork:
    """A work from ``/ajax/illust/<id>``'s answer, or the failure it means."""
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if status in (403, 404):
        if not (isinstance(body, dict) and body.get("error") is True):
            raise _not_pixiv(status)
        verdict = _verdict(status, message)
        if verdict is not None:
            return _missing(illust_id, verdict, "ajax", now)
    if status != 200:
        raise _passing_or_failure(status, message, retry_after)
    if not isinstance(body, dict) or body.get("error") or not isinstance(body.get("body"), dict):
        # A 200 that says "error" names no verdict we can trust.
        raise FetchFailure(f"unexpected answer: {message or str(body)[:200]!r}")
    item = body["body"]
    lang = language.lower().split("-")[0]
    tags = []
    for tag in (item.get("tags") or {}).get("tags") or []:
        if not isinstance(tag, dict) or not tag.get("tag"):
            continue
        translations = tag.get("translation") or {}
        translation = translations.get(lang) or translations.get("en") \
            if isinstance(translations, dict) else None
        tags.append(PixivTag(str(tag["tag"]), _text(translation)))
    return PixivWork(
        illust_id=illust_id, state="ok", via="ajax", fetched_at=now,
        title=_text(item.get("illustTitle") or item.get("title")),
        caption=caption_text(item.get("illustComment") or item.get("description")),
        created=_epoch(item.get("createDate")),
        views=_int(item.get("viewCount")),
        bookmarks=_int(item.get("bookmarkCount")),
        likes=_int(item.get("likeCount")),
        comments=_int(item.get("commentCount")),
        user_id=_id(item.get("userId")),
        user_name=_text(item.get("userName")),
        ai=_ai(item.get("aiType")),
        r18=_r18(item.get("xRestrict")),
        x_restrict=_int(item.get("xRestrict")),
        pages=_int(item.get("pageCount")),
        tags=tags,
    )


# -- values ---------------------------------------------------------------------------

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def caption_text(value: Any) -> str | None:
    """A caption as plain text: Pixiv sends HTML (``<br />``, links, entities)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", value))).strip() or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _id(value: Any) -> str | None:
    number = _int(value)
    return None if number is None else str(number)


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _ai(value: Any) -> bool | None:
    """Pixiv's AI type: 2 is AI-generated; 1 (not) and 0 (a work from before
    Pixiv asked) are not."""
    number = _int(value)
    return None if number is None else number == 2


def _r18(value: Any) -> bool | None:
    number = _int(value)
    return None if number is None else number >= 1
