"""A fake Pixiv, served over real HTTP on a free port: the app API endpoints
pixivpy3 calls and the public web endpoint, with the answer shapes pixivpy3
and Pixiv's web client document.

* ``POST /auth/token`` (pixivpy3's ``auth``; it posts here when its ``hosts``
  is not Pixiv's): a known refresh token gives an access token that lives
  ``token_lifetime_s``; an unknown one gets 400 ``invalid_grant``.
* ``GET /v1/illust/detail?illust_id=``: needs ``Authorization: Bearer`` with a
  live access token, else 400 with the OAuth ``invalid_grant`` message Pixiv
  gives. Deleted works 404, private ones 403 (or ``visible: false`` when the
  work says so). Tag translations follow ``Accept-Language``.
* ``GET /ajax/illust/<id>``: ``{"error": false, "body": {...}}``; deleted 404,
  private 403; translations follow ``?lang=``.

``script(illust_id, ...)`` queues answers a work gets before its real one:
an HTTP status (with ``Retry-After`` for ``(429, seconds)``), ``("html",
status)`` for an HTML page such as a proxy's or a bot check's, or ``"drop"``
to close the connection without answering (a network error). A work with
``restricted_404`` answers 404 with the "restricted" message instead of 403. ``requests`` keeps
every request with its time, so tests can check spacing and counts.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DELETED_MESSAGE = "該当作品は削除されたか、存在しない作品IDです。"
HTML_BLOCK = "<html><body>Just a moment... checking your browser</body></html>"


@dataclass
class FakeWork:
    illust_id: int
    title: str = "作品"
    caption: str = "line one<br />line <strong>two</strong> &amp; more"
    created: str = "2019-12-04T00:00:06+09:00"
    views: int = 1000
    bookmarks: int = 100
    likes: int = 50
    comments: int = 3
    user_id: int = 1001
    user_name: str = "Alice"
    ai_type: int = 1
    x_restrict: int = 0
    pages: int = 1
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    state: str = "ok"  # ok | deleted | private
    invisible: bool = False  # private shown as visible: false (app API) instead of 403
    restricted_404: bool = False  # private shown as a 404 that says the work is restricted


@dataclass
class Seen:
    at: float
    method: str
    path: str
    illust_id: str | None
    headers: dict[str, str]
    body: str


class FakePixiv:
    def __init__(self, refresh_token: str = "good-refresh-token-0123456789",
                 token_lifetime_s: int = 3600) -> None:
        self.refresh_tokens = {refresh_token}
        self.token_lifetime_s = token_lifetime_s
        self.works: dict[str, FakeWork] = {}
        self.access_tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.requests: list[Seen] = []
        self.auth_script: deque[int] = deque()
        self._scripts: dict[str, deque[Any]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._issued = 0
        self.echo_token_on_refusal = False  # a careless server that repeats the token
        self._server: ThreadingHTTPServer | None = None

    # -- set-up --------------------------------------------------------------------

    def add(self, work: FakeWork) -> FakeWork:
        self.works[str(work.illust_id)] = work
        return work

    def script(self, illust_id: int | str, *answers: Any) -> None:
        self._scripts[str(illust_id)].extend(answers)

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access_tokens = {token: 0.0 for token in self.access_tokens}

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakePixiv:
        fake = self

        class Handler(_Handler):
            pixiv = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what was asked ---------------------------------------------------------------

    def detail_requests(self, illust_id: int | str | None = None) -> list[Seen]:
        return [seen for seen in self.requests
                if seen.illust_id is not None
                and (illust_id is None or seen.illust_id == str(illust_id))]

    def auth_requests(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.path == "/auth/token"]

    # -- answers ----------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: str) -> tuple[int, dict[str, str], Any] | str:
        illust_id = None
        if path == "/v1/illust/detail":
            illust_id = (query.get("illust_id") or [""])[0]
        elif path.startswith("/ajax/illust/"):
            illust_id = path.rsplit("/", 1)[-1]
        with self._lock:
            self.requests.append(Seen(time.time(), method, path, illust_id, headers, body))
        if path == "/auth/token" and method == "POST":
            return self._auth(parse_qs(body))
        if illust_id is None:
            return 404, {}, {"error": {"message": "no such endpoint"}}
        scripted = self._scripts[illust_id]
        if scripted:
            step = scripted.popleft()
            if step == "drop":
                return "drop"
            if isinstance(step, tuple) and step[0] == "html":
                return step[1], {"Content-Type": "text/html"}, HTML_BLOCK
            status, wait = step if isinstance(step, tuple) else (step, None)
            extra = {"Retry-After": str(wait)} if wait is not None else {}
            message = "Rate Limit" if status in (403, 429) else "server error"
            if path.startswith("/ajax/"):
                return status, extra, {"error": True, "message": message, "body": []}
            return status, extra, {"error": {"message": message, "user_message": ""}}
        if path == "/v1/illust/detail":
            return self._app_detail(illust_id, headers)
        return self._ajax(illust_id, (query.get("lang") or ["en"])[0])

    def _auth(self, form: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if self.auth_script:
            status = self.auth_script.popleft()
            return status, {}, {"has_error": True, "errors": {"system": {"message": "busy"}}}
        token = (form.get("refresh_token") or [""])[0]
        if form.get("grant_type") != ["refresh_token"] or token not in self.refresh_tokens:
            message = "Invalid refresh token"
            if self.echo_token_on_refusal:
                message += f" (refresh_token={token})"
            return 400, {}, {"has_error": True,
                             "errors": {"system": {"message": message, "code": 1508}}}
        with self._lock:
            self._issued += 1
            access = f"access-{self._issued}-{time.time_ns()}"
            self.access_tokens[access] = time.time() + self.token_lifetime_s
        user = {"id": "424242", "name": "me", "account": "me_account",
                "profile_image_urls": {}, "is_premium": False}
        answer = {"access_token": access, "expires_in": self.token_lifetime_s,
                  "token_type": "bearer", "scope": "", "refresh_token": token, "user": user}
        return 200, {}, {**answer, "response": dict(answer)}

    def _app_detail(self, illust_id: str, headers: dict[str, str]
                    ) -> tuple[int, dict[str, str], Any]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        expiry = self.access_tokens.get(bearer)
        if expiry is None or expiry <= time.time():
            return 400, {}, {"error": {
                "user_message": "", "reason": "", "user_message_details": {},
                "message": "Error occurred at the OAuth process. Please check your Access "
                           "Token to fix this. Error Message: invalid_grant"}}
        work = self.works.get(illust_id)
        if work is None or work.state == "deleted":
            return 404, {}, {"error": {"user_message": DELETED_MESSAGE, "message": "",
                                       "reason": "", "user_message_details": {}}}
        if work.state == "private" and work.restricted_404:
            return 404, {}, {"error": {"user_message": "作品の公開範囲が制限されています",
                                       "message": "", "reason": ""}}
        if work.state == "private" and not work.invisible:
            return 403, {}, {"error": {"user_message": "この作品は非公開です", "message": ""}}
        lang = headers.get("accept-language", "en").lower().split("-")[0]
        illust = {
            "id": work.illust_id, "title": work.title, "type": "illust",
            "image_urls": {"medium": "https://i.pximg.net/x.jpg"},
            "caption": work.caption, "restrict": 0,
            "user": {"id": work.user_id, "name": work.user_name, "account": "acc",
                     "profile_image_urls": {}, "is_followed": False},
            "tags": [{"name": name, "translated_name": translations.get(lang)}
                     for name, translations in work.tags],
            "tools": [], "create_date": work.created, "page_count": work.pages,
            "width": 600, "height": 850, "sanity_level": 2, "x_restrict": work.x_restrict,
            "series": None, "meta_single_page": {}, "meta_pages": [],
            "total_view": work.views, "total_bookmarks": work.bookmarks,
            "is_bookmarked": False, "visible": not work.invisible, "is_muted": False,
            "total_comments": work.comments, "illust_ai_type": work.ai_type,
            "illust_book_style": 0,
        }
        if work.invisible:
            illust.update(title="", caption="", tags=[], total_view=0, total_bookmarks=0)
        return 200, {}, {"illust": illust}

    def _ajax(self, illust_id: str, lang: str) -> tuple[int, dict[str, str], Any]:
        work = self.works.get(illust_id)
        if work is None or work.state == "deleted":
            return 404, {}, {"error": True, "message": DELETED_MESSAGE, "body": []}
        if work.state == "private" and work.restricted_404:
            return 404, {}, {"error": True, "message": "作品の公開範囲が制限されています",
                             "body": []}
        if work.state == "private":
            return 403, {}, {"error": True, "message": "この作品は非公開です", "body": []}
        body = {
            "illustId": illust_id, "illustTitle": work.title, "illustComment": work.caption,
            "id": illust_id, "title": work.title, "description": work.caption,
            "illustType": 0, "createDate": work.created, "uploadDate": work.created,
            "restrict": 0, "xRestrict": work.x_restrict, "sl": 2, "urls": {},
            "tags": {"authorId": str(work.user_id), "isLocked": False, "writable": True,
                     "tags": [{"tag": name, "locked": True, "deletable": False,
                               "userId": str(work.user_id), "userName": work.user_name,
                               **({"translation": {lang: translations[lang]}}
                                  if lang in translations else {})}
                              for name, translations in work.tags]},
            "alt": work.title, "userId": str(work.user_id), "userName": work.user_name,
            "userAccount": "acc", "likeData": False, "width": 600, "height": 850,
            "pageCount": work.pages, "bookmarkCount": work.bookmarks,
            "likeCount": work.likes, "commentCount": work.comments, "responseCount": 0,
            "viewCount": work.views, "aiType": work.ai_type, "isOriginal": True,
        }
        return 200, {}, {"error": False, "message": "", "body": body}


class _Handler(BaseHTTPRequestHandler):
    pixiv: FakePixiv
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        headers = {key.lower(): value for key, value in self.headers.items()}
        result = self.pixiv.answer(method, parts.path, parse_qs(parts.query), headers, body)
        if result == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, extra, payload = result
        if isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        extra = {"Content-Type": "application/json; charset=utf-8", **extra}
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")
