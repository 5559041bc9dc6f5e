"""A fake Meilisearch HTTP API, written from Meilisearch's API reference
(v1.x: indexes, documents, settings, search, tasks, stats, keys), served over
real HTTP on a free port.

It behaves as the reference says on the points PxIMSE depends on:

* every write (index creation, settings, documents) answers ``202`` with a
  summarised task (``taskUid``, ``status: enqueued``) and happens only when the
  task runs; ``GET /tasks/{uid}`` walks a task through ``enqueued`` ->
  ``processing`` -> ``succeeded`` or ``failed`` (one step per poll, so a client
  that does not wait sees a document missing);
* a document without the primary key fails its task with
  ``missing_document_id``; an id that is neither an integer nor a string of
  ``a-z A-Z 0-9 - _`` fails it with ``invalid_document_id`` (the whole batch is
  refused, as Meilisearch does); ``fail_next(code, message)`` fails the next
  task as a server would (``no_space_left_on_device``...);
* with a master key: no ``Authorization`` header -> 401
  ``missing_authorization_header``, a wrong key -> 403 ``invalid_api_key``;
* an unknown index -> 404 ``index_not_found``; creating one that exists fails
  its task with ``index_already_exists``;
* search: every query word must begin a word of a searchable attribute (case
  ignored), hits ranked by whole-word matches; ``filter`` takes
  ``attr = "v"`` and ``id IN [..]`` on filterable attributes, anything else is
  400 ``invalid_search_filter``; documents ``fetch`` takes the same filters.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeIndex:
    uid: str
    primary_key: str | None
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: {
        "searchableAttributes": ["*"], "filterableAttributes": [],
        "displayedAttributes": ["*"]})
    created: str = field(default_factory=_now)


@dataclass
class FakeTask:
    uid: int
    index_uid: str | None
    type: str
    apply: Any  # () -> dict of details, raises _TaskFailure
    status: str = "enqueued"
    error: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    enqueued_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "indexUid": self.index_uid, "status": self.status,
                "type": self.type, "details": self.details, "error": self.error,
                "duration": "PT0.001S" if self.finished_at else None,
                "enqueuedAt": self.enqueued_at, "startedAt": self.started_at,
                "finishedAt": self.finished_at, "canceledBy": None}


class _TaskFailure(Exception):
    def __init__(self, code: str, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = {"message": message, "code": code, "type": kind,
                      "link": f"https://docs.meilisearch.com/errors#{code}"}


class FakeMeili:
    """The server's state; ``url`` once started."""

    def __init__(self, master_key: str = "") -> None:
        self.master_key = master_key
        self.indexes: dict[str, FakeIndex] = {}
        self.tasks: dict[int, FakeTask] = {}
        self.requests: list[tuple[str, str]] = []
        self._fail: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- control -----------------------------------------------------------------------

    def fail_next(self, code: str, message: str) -> None:
        self._fail = (code, message)

    def start(self) -> FakeMeili:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.handle(method, self.path, raw,
                                           self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's names
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def do_PATCH(self) -> None:  # noqa: N802
                self._serve("PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- requests ------------------------------------------------------------------------

    def handle(self, method: str, target: str, raw: bytes, auth: str | None
               ) -> tuple[int, Any]:
        path = urlsplit(target).path.rstrip("/")
        self.requests.append((method, path))
        if self.master_key:
            if not auth:
                return _error(401, "missing_authorization_header", "The Authorization header "
                              "is missing. It must use the bearer authorization method.", "auth")
            if auth != f"Bearer {self.master_key}":
                return _error(403, "invalid_api_key", "The provided API key is invalid.", "auth")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return _error(400, "malformed_payload", "The json payload provided is malformed.")
        with self._lock:
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["health"]:
            return 200, {"status": "available"}
        if parts[:1] == ["tasks"] and len(parts) == 2 and method == "GET":
            task = self.tasks.get(int(parts[1]))
            if task is None:
                return _error(404, "task_not_found", f"Task `{parts[1]}` not found.")
            self._step(task)
            return 200, task.to_json()
        if parts == ["indexes"] and method == "POST":
            uid, key = body.get("uid"), body.get("primaryKey")
            return self._enqueue(uid, "indexCreation", lambda: self._create(uid, key))
        if parts[:1] != ["indexes"] or len(parts) < 2:
            return _error(404, "not_found", "Not found.")
        uid = parts[1]
        index = self.indexes.get(uid)
        rest = parts[2:]
        if index is None and not (rest[:1] == ["documents"] and method in ("POST", "PUT")):
            return _error(404, "index_not_found", f"Index `{uid}` not found.")
        if not rest and method == "GET":
            assert index is not None
            return 200, {"uid": uid, "primaryKey": index.primary_key,
                         "createdAt": index.created, "updatedAt": index.created}
        if rest == ["settings"] and method == "PATCH":
            return self._enqueue(uid, "settingsUpdate", lambda: self._settings(uid, body))
        if rest == ["stats"] and method == "GET":
            assert index is not None
            fields: dict[str, int] = {}
            for doc in index.documents.values():
                for name in doc:
                    fields[name] = fields.get(name, 0) + 1
            return 200, {"numberOfDocuments": len(index.documents), "isIndexing": False,
                         "fieldDistribution": fields}
        if rest == ["documents"] and method in ("POST", "PUT"):
            return self._enqueue(uid, "documentAdditionOrUpdate",
                                 lambda: self._add(uid, body, method == "PUT"))
        if rest == ["documents"] and method == "DELETE":
            return self._enqueue(uid, "documentDeletion", lambda: self._clear(uid))
        if rest == ["documents", "delete-batch"] and method == "POST":
            return self._enqueue(uid, "documentDeletion", lambda: self._delete(uid, body))
        if rest == ["documents", "fetch"] and method == "POST":
            assert index is not None
            return self._fetch(index, body or {})
        if rest == ["search"] and method == "POST":
            assert index is not None
            return self._search(index, body or {})
        return _error(404, "not_found", f"{method} {path} is not a route.")

    # -- tasks -------------------------------------------------------------------------

    def _enqueue(self, uid: str | None, kind: str, apply: Any) -> tuple[int, Any]:
        task = FakeTask(len(self.tasks), uid, kind, apply)
        self.tasks[task.uid] = task
        return 202, {"taskUid": task.uid, "indexUid": uid, "status": "enqueued", "type": kind,
                     "enqueuedAt": task.enqueued_at}

    def _step(self, task: FakeTask) -> None:
        if task.status == "enqueued":
            task.status, task.started_at = "processing", _now()
            return
        if task.status != "processing":
            return
        try:
            if self._fail is not None:
                code, message = self._fail
                self._fail = None
                raise _TaskFailure(code, message, "system")
            task.details = task.apply() or {}
            task.status = "succeeded"
        except _TaskFailure as failure:
            task.status, task.error = "failed", failure.error
        task.finished_at = _now()

    def _create(self, uid: str, key: str | None) -> dict[str, Any]:
        if uid in self.indexes:
            raise _TaskFailure("index_already_exists", f"Index `{uid}` already exists.")
        self.indexes[uid] = FakeIndex(uid, key)
        return {"primaryKey": key}

    def _settings(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.indexes[uid].settings.update(body)
        return dict(body)

    def _add(self, uid: str, docs: list[dict[str, Any]], update: bool) -> dict[str, Any]:
        index = self.indexes.setdefault(uid, FakeIndex(uid, None))
        key = index.primary_key or "id"
        for doc in docs:
            if key not in doc:
                raise _TaskFailure("missing_document_id",
                                   f"Document doesn't have a `{key}` attribute: `{doc}`.")
            value = doc[key]
            if isinstance(value, bool) or not (isinstance(value, int) or (
                    isinstance(value, str) and _ID.match(value))):
                raise _TaskFailure("invalid_document_id", f"Document identifier `{value}` "
                                   "is invalid. A document identifier can be of type integer "
                                   "or string, only composed of alphanumeric characters (a-z "
                                   "A-Z 0-9), hyphens (-) and underscores (_).")
        index.primary_key = key
        for doc in docs:
            name = str(doc[key])
            base = index.documents.get(name, {}) if update else {}
            index.documents[name] = {**base, **doc}
        return {"receivedDocuments": len(docs), "indexedDocuments": len(docs)}

    def _delete(self, uid: str, ids: list[Any]) -> dict[str, Any]:
        index = self.indexes[uid]
        gone = sum(index.documents.pop(str(i), None) is not None for i in ids)
        return {"providedIds": len(ids), "deletedDocuments": gone}

    def _clear(self, uid: str) -> dict[str, Any]:
        count = len(self.indexes[uid].documents)
        self.indexes[uid].documents.clear()
        return {"deletedDocuments": count}

    # -- reads ----------------------------------------------------------------------------

    def _filter(self, index: FakeIndex, expression: str | None) -> Any:
        """Meilisearch's filter expressions as PxIMSE sends them: conditions
        ``attr = "v"``, ``attr IN [..]``, ``attr >= n``, ``attr < n`` joined by ``AND``."""
        if expression is None or expression == "":
            return lambda doc: True
        if not isinstance(expression, str):
            found = "true" if expression is True else "false" if expression is False else type(
                expression).__name__
            raise _TaskFailure("invalid_search_filter", "Invalid syntax for the filter "
                               f"parameter: `expected String, Array, found: {found}`.")
        filterable = index.settings.get("filterableAttributes", [])
        tests = []
        for part in re.split(r"\s+AND\s+", expression.strip()):
            match = (re.fullmatch(r"\s*(\w+)\s+IN\s+\[([^\]]*)\]\s*", part)
                     or re.fullmatch(r'\s*(\w+)\s*(=|>=|<)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*',
                                     part))
            if match is None or match.group(1) not in filterable:
                raise _TaskFailure("invalid_search_filter", f"Invalid filter: `{expression}` "
                                   "(attributes must be filterable; this server takes "
                                   '`a = "v"`, `a IN [..]`, `a >= n`, `a < n` and AND).')
            tests.append(_condition(match))
        return lambda doc: all(test(doc) for test in tests)

    def _fetch(self, index: FakeIndex, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            keep = self._filter(index, body.get("filter"))
        except _TaskFailure as failure:
            return 400, failure.error
        docs = [doc for doc in index.documents.values() if keep(doc)]
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 20))
        return 200, {"results": docs[offset:offset + limit], "offset": offset, "limit": limit,
                     "total": len(docs)}

    def _search(self, index: FakeIndex, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            keep = self._filter(index, body.get("filter"))
        except _TaskFailure as failure:
            return 400, failure.error
        searchable = index.settings.get("searchableAttributes", ["*"])
        on = body.get("attributesToSearchOn")
        if on is not None and "*" not in searchable:
            unknown = [a for a in on if a not in searchable]
            if unknown:
                return _error(400, "invalid_search_attributes_to_search_on",
                              f"Attribute `{unknown[0]}` is not searchable. Available "
                              f"searchable attributes are: `{', '.join(searchable)}`.")
        chosen = on if on is not None else searchable
        fields = None if "*" in chosen else list(chosen)
        terms = _query_terms(str(body.get("q") or ""))
        strategy = body.get("matchingStrategy", "last")
        found = []
        for doc in index.documents.values():
            if not keep(doc):
                continue
            words = _doc_words(doc, fields)
            typos = _match(terms, words, strategy)
            if typos is not None:
                found.append((typos, _key_order(doc, index), doc))
        found.sort(key=lambda item: (item[0], item[1]))
        cap = int((index.settings.get("pagination") or {}).get("maxTotalHits", 1000))
        found = found[:cap]
        shown = body.get("attributesToRetrieve") or ["*"]
        worst = max((typos for typos, _, _ in found), default=0) + 1

        def hit(typos: int, doc: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in doc.items() if "*" in shown or k in shown}
            if body.get("showRankingScore"):
                out["_rankingScore"] = round(1 - typos / (worst + 1), 6)
            return out

        answer: dict[str, Any] = {"query": body.get("q") or "", "processingTimeMs": 0}
        if "page" in body or "hitsPerPage" in body:
            page, per = int(body.get("page", 1)), int(body.get("hitsPerPage", 20))
            chosen = found[(page - 1) * per:page * per]
            answer.update({"hitsPerPage": per, "page": page, "totalHits": len(found),
                           "totalPages": -(-len(found) // per) if per else 0})
        else:
            offset, limit = int(body.get("offset", 0)), int(body.get("limit", 20))
            chosen = found[offset:offset + limit]
            answer.update({"limit": limit, "offset": offset, "estimatedTotalHits": len(found)})
        answer["hits"] = [hit(typos, doc) for typos, _, doc in chosen]
        return 200, answer


def _condition(match: re.Match[str]) -> Any:
    attr = match.group(1)
    if match.re.groups == 2:  # attr IN [..]
        wanted = {v.strip().strip('"') for v in match.group(2).split(",") if v.strip()}
        return lambda doc: str(doc.get(attr)) in wanted
    op, raw = match.group(2), match.group(3)
    if raw.startswith('"') or not re.fullmatch(r"-?\d+", raw):
        value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw

        def equal(doc: dict[str, Any]) -> bool:
            actual = doc.get(attr)
            values = actual if isinstance(actual, list) else [actual]
            return value in [str(v) for v in values]

        return equal
    number = int(raw)
    if op == "=":
        return lambda doc: doc.get(attr) == number
    if op == ">=":
        return lambda doc: isinstance(doc.get(attr), int) and doc[attr] >= number
    return lambda doc: isinstance(doc.get(attr), int) and doc[attr] < number


def _key_order(doc: dict[str, Any], index: FakeIndex) -> tuple[int, str]:
    key = doc[index.primary_key or "id"]
    return (int(key), "") if isinstance(key, int) else (0, str(key))


# -- Meilisearch's matching, as its documentation describes it ------------------------------
# Words: split at every character that is not a letter or a digit, lower-cased, accents
# removed (Meilisearch's "normalization"). The real server cuts Chinese and Japanese
# with dictionaries (jieba, lindera); this fake cuts them into single characters and
# matches a query's CJK run as consecutive characters (documented in docs/servers.md).
# Typo tolerance (docs: "Typo tolerance", "Typo tolerance calculations"): none under 5
# characters, one from 5, two from 9; Damerau-Levenshtein (a swap is one typo); a typo
# on the first character counts as two. Prefix search: the query's last word, unless
# the query ends with a separator. matchingStrategy "all": every word must match;
# "last" (the default): the documents matching the most words, dropping from the end.


def _cjk(char: str) -> bool:
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xF900 <= code <= 0xFAFF or 0xAC00 <= code <= 0xD7AF or 0x31F0 <= code <= 0x31FF
            or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or code >= 0x20000)


def _normalise(text: str) -> str:
    out = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        if _cjk(char):
            out.append(char)
        else:
            out.extend(c for c in unicodedata.normalize("NFKD", char)
                       if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", "".join(out))


def _split(text: str) -> tuple[list[tuple[str, bool]], bool]:
    """(word, is CJK) pieces, and whether the text ends with a separator."""
    pieces = re.findall(r"[^\W_]+|\W|_", _normalise(text))
    words: list[tuple[str, bool]] = []
    for piece in pieces:
        if not (piece.isalnum()):
            continue
        run = ""
        for char in piece:
            if _cjk(char):
                if run:
                    words.append((run, False))
                    run = ""
                words.append((char, True))
            else:
                run += char
        if run:
            words.append((run, False))
    ends_apart = bool(pieces) and not pieces[-1].isalnum()
    return words, ends_apart


def _doc_words(doc: dict[str, Any], fields: list[str] | None) -> list[str]:
    words: list[str] = []
    for key, value in doc.items():
        if fields is not None and key not in fields:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                words.extend(word for word, _ in _split(item)[0])
    return words


def _query_terms(q: str) -> list[tuple[str, bool, bool]]:
    """(text, is a CJK run, is a prefix) for each query term."""
    words, ends_apart = _split(q)
    terms: list[tuple[str, bool, bool]] = []
    for word, cjk in words:
        if cjk and terms and terms[-1][1]:
            terms[-1] = (terms[-1][0] + word, True, False)
        else:
            terms.append((word, cjk, False))
    if terms and not terms[-1][1] and not ends_apart:
        terms[-1] = (terms[-1][0], False, True)
    return terms


def _damerau(a: str, b: str) -> int:
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def _typos(word: str, candidate: str) -> int:
    return _damerau(word, candidate) + (0 if word[:1] == candidate[:1] else 1)


def _term_typos(term: tuple[str, bool, bool], words: list[str]) -> int | None:
    text, cjk, prefix = term
    if cjk:
        size = len(text)
        for start in range(len(words) - size + 1):
            if "".join(words[start:start + size]) == text:
                return 0
        return None
    allowed = 0 if len(text) < 5 else 1 if len(text) < 9 else 2
    best = None
    for word in words:
        if word == text or (prefix and word.startswith(text)):
            return 0
        if not allowed:
            continue
        options = [word] if not prefix else [word[:n] for n in range(
            max(1, len(text) - allowed), min(len(word), len(text) + allowed) + 1)]
        for option in options:
            typos = _typos(text, option)
            if typos <= allowed and (best is None or typos < best):
                best = typos
    return best


def _match(terms: list[tuple[str, bool, bool]], words: list[str], strategy: str) -> int | None:
    """Total typos of a matching document (lower ranks first), or None."""
    if not terms:
        return 0
    found = [_term_typos(term, words) for term in terms]
    if strategy == "all":
        return None if None in found else sum(t for t in found if t is not None)
    for keep in range(len(terms), 0, -1):  # "last": drop words from the end
        if None not in found[:keep]:
            return sum(t for t in found[:keep] if t is not None) + 10 * (len(terms) - keep)
    return None


def _error(status: int, code: str, message: str, kind: str = "invalid_request"
           ) -> tuple[int, Any]:
    return status, {"message": message, "code": code, "type": kind,
                    "link": f"https://docs.meilisearch.com/errors#{code}"}
