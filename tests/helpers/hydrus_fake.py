"""A fake Hydrus Client API, written from Hydrus's developer documentation
(docs/developer_api.md, Client API version 95) and, where the documentation is
silent, from Hydrus v682's source (github.com/hydrusnetwork/hydrus, files named
below) and what a real v682 client answered; served over real HTTP on a free
port.

It holds files, tag services with current and deleted mappings, URLs, notes
and GUI pages, and behaves as Hydrus does on the points PxIMSE depends on:

* access keys (``ClientLocalServerResources.py``, ``ClientAPI.py``): none ->
  401, one that is not 64 hex digits -> 400 "Problem parsing ...", an unknown
  one -> 403 "Did not find an entry for that access key!", a key without the
  endpoint's permission -> 403 "You do not have permission to: <permission>";
* session keys (``/session_key``, ``ClientAPI.APIManager``): kept in memory
  only, so after a restart a session key answers 419 "Did not find an entry
  for that session key!";
* **commits** (``HydrusDB.py``, ``HydrusDBBase.py``): Hydrus answers a write
  as soon as it is in its open transaction and commits that transaction every
  ``commit_period_s`` (30 s by default) after a write, or at once on
  ``/manage_database/force_commit`` (permission "manage database"). A
  ``crash()`` (``kill -9``) loses every write since the last commit, a request
  in flight at the kill is neither applied nor answered, and the client comes
  back on the same port with new session keys;
* ``busy(n)``: the next ``n`` requests answer 503;
* a request line plus headers over 2 MB is refused (400, as Hydrus's web
  server does) before anything is read;
* tags are cleaned as ``HydrusTags.CleanTag`` cleans them (``HydrusText.py``
  for the characters): lower case, control characters dropped, whitespace
  collapsed, leading ``-`` and ``system:`` taken off, a leading lone colon
  doubled (``:d`` is stored as ``::d``), empty subtags dropped;
  ``/add_tags/clean_tags`` answers with that cleaning;
* adding a tag the user deleted is skipped when
  ``override_previously_deleted_mappings`` is false (the default is true);
  deleting with ``create_new_deleted_mappings: false`` leaves no record for a
  tag the file lacked;
* ``associate_url`` takes one hash or a list, every URL going to every file;
* ``get_services`` in the current shape (``services`` keyed by service key)
  or the old per-kind lists (``services_shape = "old"``);
* ``search_files`` with tags, ``-tag``, nested OR lists, ``system:everything``,
  ``system:no tags``, ``system:hash = ...`` and ``system:limit = n``;
* ``manage_pages/new_page`` only when ``has_new_page`` (older clients 404).
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_REQUEST_BYTES = 2 * 1024 * 1024
ALL_MY_FILES = "616c6c206d792066696c6573"
MY_TAGS = "6d792074616773"

# Permission numbers as in /request_new_permissions, names as ClientAPI.py words them.
EDIT_URLS, EDIT_TAGS, SEARCH, PAGES, DATABASE, NOTES, LOCAL_PATHS = 0, 2, 3, 4, 6, 7, 13
PERMISSION_NAMES = {EDIT_URLS: "import and edit urls", EDIT_TAGS: "edit file tags",
                    SEARCH: "search for and fetch files", PAGES: "manage pages",
                    DATABASE: "manage database", NOTES: "edit file notes",
                    LOCAL_PATHS: "see local file paths"}
_NEEDS = {
    "/get_services": (), "/verify_access_key": (), "/session_key": (),
    "/manage_database/force_commit": (DATABASE,),
    "/add_tags/add_tags": (EDIT_TAGS,), "/add_tags/clean_tags": (EDIT_TAGS,),
    "/add_urls/associate_url": (EDIT_URLS,),
    "/add_notes/set_notes": (NOTES,), "/add_notes/delete_notes": (NOTES,),
    "/get_files/file_metadata": (SEARCH,), "/get_files/search_files": (SEARCH,),
    "/get_files/file_path": (SEARCH, LOCAL_PATHS),
    "/get_files/local_file_storage_locations": (SEARCH, LOCAL_PATHS),
    "/manage_pages/get_pages": (PAGES,), "/manage_pages/new_page": (PAGES,),
    "/manage_pages/add_files": (PAGES,), "/manage_pages/focus_page": (PAGES,),
}
_WRITES = {"/add_tags/add_tags", "/add_urls/associate_url", "/add_notes/set_notes",
           "/add_notes/delete_notes"}


# HydrusText.py (v682): the characters CleanTag takes out, and the other patterns.
_CONTROL = re.compile(
    "[\u0000-\u001F\u007F-\u009F\u200B\u200E\u200F\u202A-\u202E\u2066-\u2069\ufeff"
    "\uE000-\uF8FF\U000F0000-\U000FFFFD\U00100000-\U0010FFFD\uD800-\uDFFF]")
_WHITESPACE = re.compile(r"\s+")
_GARBAGE = re.compile(r"^(-|system:)+")
_SINGLE_COLON = re.compile("^:(?=[^:]+$)")
_ALL_JOINERS = re.compile("^[\u200C\u200D]+$")
_JOINER = re.compile("[\u200C\u200D]")
_ALL_LATIN = re.compile("^[\u0020-\u007E\u00A0-\u024F\u200C\u200D]+$")
_KOREAN = re.compile("[\u1100-\u11FF\uAC00-\uD7AF]")


def _strip_gumpf(t: str) -> str:
    """HydrusTags.StripTagTextOfGumpf, step by step."""
    t = _CONTROL.sub("", t)
    t = _WHITESPACE.sub(" ", t).strip()
    t = _GARBAGE.sub("", t).strip()
    if _KOREAN.search(t) is None:
        t = t.replace("\u3164", "")
    if _ALL_LATIN.match(t) is not None:
        t = _JOINER.sub("", t)
    t = _ALL_JOINERS.sub("", t)
    return _WHITESPACE.sub(" ", t).strip()


def clean_tag(tag: str) -> str | None:
    """HydrusTags.CleanTag, then CheckTagNotEmpty (None: Hydrus drops the tag)."""
    tag = tag[:1024].lower()
    if _SINGLE_COLON.match(tag) is not None:
        tag = ":" + tag  # ":D" -> "::D"
    if ":" in tag:
        tag = _strip_gumpf(tag)
        namespace, subtag = tag.split(":", 1) if ":" in tag else ("", tag)
        namespace, subtag = _strip_gumpf(namespace), _strip_gumpf(subtag)
        if namespace == "":
            tag = ":" + subtag if ":" in subtag else subtag
        else:
            tag = namespace + ":" + subtag
    else:
        tag = _strip_gumpf(tag)
        subtag = tag
    return tag if subtag else None


@dataclass
class FakeFile:
    sha256: str
    ext: str = ".png"
    file_id: int = 0
    urls: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    key: str
    name: str
    page_type: int = 6
    hashes: list[str] = field(default_factory=list)


class FakeHydrus:
    """The state and the server; ``url`` once started."""

    def __init__(self, client_files: Path | None = None) -> None:
        self.keys: dict[str, set[int] | None] = {}  # key -> permissions (None: everything)
        self.services: dict[str, tuple[str, int, str]] = {
            MY_TAGS: ("my tags", 5, "local tag service"),
            ALL_MY_FILES: ("all my files", 21, "virtual combined local media service"),
            "616c6c206b6e6f776e2074616773": ("all known tags", 10, "virtual combined tag service"),
        }
        self.files: dict[str, FakeFile] = {}
        # service key -> hash -> (current, deleted)
        self.mappings: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
        self.pages: list[Page] = [Page("0" * 64, "files")]
        self.services_shape = "new"
        self.has_new_page = True
        self.missing: set[str] = set()  # endpoints this (older) client lacks: 404
        self.client_files = client_files
        self.log: list[tuple[str, str, int]] = []  # method, path, status
        self.bodies: list[tuple[str, Any]] = []  # path, JSON body of each POST
        self._busy = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.url = ""
        # The database: what is committed, when, and the session keys (in memory).
        self.commit_period_s = 30.0
        self.commits = 0
        self._committed = self._snapshot()
        self._transaction_started: float | None = None  # first write since the last commit
        self.sessions: dict[str, str] = {}  # session key -> access key
        self._crash_in: int | None = None  # writes left before a kill -9
        self.running = threading.Event()  # cleared from a kill until the restart
        self.running.set()
        self._process = 0  # which start() the server serves: a killed one answers nothing

    # -- set-up ----------------------------------------------------------------------

    def add_key(self, key: str, permissions: set[int] | None = None) -> str:
        self.keys[key] = permissions
        return key

    def add_tag_service(self, name: str, service_type: int = 5) -> str:
        key = name.encode().hex()
        pretty = {5: "local tag service", 0: "hydrus tag repository"}.get(service_type, "")
        self.services[key] = (name, service_type, pretty)
        return key

    def add_file(self, data: bytes | None = None, sha256: str | None = None,
                 ext: str = ".png") -> str:
        import hashlib

        sha = sha256 or hashlib.sha256(data or b"").hexdigest()
        with self._lock:
            self.files[sha] = FakeFile(sha, ext, len(self.files) + 1)
            self._committed[0][sha] = replace(self.files[sha])  # imported long ago
        if data is not None and self.client_files is not None:
            path = self.client_files / f"f{sha[:2]}" / f"{sha}{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return sha

    def busy(self, requests: int) -> None:
        self._busy = requests

    def current(self, service: str, sha: str) -> set[str]:
        return set(self.mappings.get(service, {}).get(sha, (set(), set()))[0])

    def deleted(self, service: str, sha: str) -> set[str]:
        return set(self.mappings.get(service, {}).get(sha, (set(), set()))[1])

    def requests_to(self, path: str) -> int:
        return sum(1 for _, p, status in self.log if p == path and status == 200)

    # -- the database ----------------------------------------------------------------

    def _snapshot(self) -> tuple[dict[str, FakeFile], dict[str, dict[str, Any]]]:
        files = {sha: replace(f, urls=set(f.urls), notes=dict(f.notes))
                 for sha, f in self.files.items()}
        mappings = {service: {sha: (set(current), set(deleted))
                              for sha, (current, deleted) in by_hash.items()}
                    for service, by_hash in self.mappings.items()}
        return files, mappings

    def commit(self) -> None:
        """COMMIT the open transaction (what HydrusDB does every commit period)."""
        with self._lock:
            self._committed = self._snapshot()
            self._transaction_started = None
            self.commits += 1

    def _wrote(self) -> None:
        """After a write job: commit when the period has passed since the transaction
        began (HydrusDBBase.TimeToCommit), else leave it open."""
        now = time.monotonic()
        if self._transaction_started is None:
            self._transaction_started = now
        if now - self._transaction_started >= self.commit_period_s:
            self.commit()

    def crash_after(self, writes: int) -> None:
        """``kill -9`` the client as it answers its ``writes``-th next write: that
        request gets no answer, and nothing since the last commit is kept."""
        self._crash_in = writes

    def crash(self) -> None:
        """``kill -9`` and a restart: the open transaction is lost, session keys too,
        and the client answers again on the same port."""
        self._lose_transaction()
        self._restart()

    def _lose_transaction(self) -> None:
        with self._lock:
            self.files, self.mappings = self._committed
            self._committed = self._snapshot()
            self._transaction_started = None
            self.sessions.clear()

    def _restart(self) -> None:
        port = self._server.server_address[1] if self._server is not None else 0
        self.stop()
        self.start(port)
        self.running.set()

    # -- the server ------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeHydrus:
        fake = self
        self._process += 1

        class Handler(_Handler):
            hydrus = fake
            process = fake._process

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name="fake-hydrus").start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        """Stop as a client that quits: the port closes and so do open connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()

    # -- the endpoints -----------------------------------------------------------------

    def _dead(self, process: int | None) -> bool:
        """Whether the request is in a killed process: a request it was reading or
        waiting on when the kill came is neither applied nor answered, as a
        ``kill -9`` leaves no thread running (the server object lives on here)."""
        return not self.running.is_set() or process not in (None, self._process)

    def handle(self, method: str, path: str, args: dict[str, Any], key: str | None,
               session: str | None = None, process: int | None = None) -> tuple[int, Any]:
        if self._dead(process):
            raise _Dead
        if path == "/api_version":
            return 200, {"version": 95, "hydrus_version": 682}
        if key is None and session is not None:
            if not re.fullmatch(r"[0-9a-fA-F]*", session):
                return 400, {"error": "Problem parsing Hydrus-Client-API-Session-Key!"}
            key = self.sessions.get(session.lower())
            if key is None:
                return 419, {"error": "Did not find an entry for that session key!"}
        if key is None:
            return 401, {"error": "No access key or session key provided!"}
        if not re.fullmatch(r"[0-9a-fA-F]*", key) or len(key) % 2:
            return 400, {"error": "Problem parsing Hydrus-Client-API-Access-Key!"}
        key = key.lower()
        if key not in self.keys:
            return 403, {"error": "Did not find an entry for that access key!"}
        if path not in _NEEDS or path in self.missing:
            return 404, {"error": f"This page does not exist: {path}"}
        granted = self.keys[key]
        for needed in _NEEDS[path]:
            if granted is not None and needed not in granted:
                return 403, {"error": "You do not have permission to: "
                                      f"{PERMISSION_NAMES[needed]}"}
        if self._busy > 0:
            self._busy -= 1
            return 503, {"error": "The client is busy, try again later."}
        if path == "/verify_access_key":
            granted = self.keys[key]
            return 200, {"name": "test", "permits_everything": granted is None,
                         "basic_permissions": sorted(granted or PERMISSION_NAMES),
                         "human_description": "API Permissions (test)"}
        if path == "/session_key":
            session_key = secrets.token_hex(32)
            self.sessions[session_key] = key
            return 200, {"session_key": session_key}
        handler = getattr(self, "_" + path.strip("/").replace("/", "_"))
        with self._lock:
            if self._dead(process):  # killed while this request waited for the lock
                raise _Dead
            status, answer = handler(args)
            if status == 200 and path in _WRITES:
                self._wrote()
                if self._crash_in is not None:
                    self._crash_in -= 1
                    if self._crash_in <= 0:
                        self._crash_in = None
                        self.running.clear()
                        self._lose_transaction()
                        raise _Killed
            return status, answer

    def _manage_database_force_commit(self, args: dict[str, Any]) -> tuple[int, Any]:
        self.commit()
        return 200, None

    def _add_tags_clean_tags(self, args: dict[str, Any]) -> tuple[int, Any]:
        cleaned = {t for t in (clean_tag(str(tag)) for tag in args.get("tags") or []) if t}
        return 200, {"tags": sorted(cleaned)}

    def _get_services(self, args: dict[str, Any]) -> tuple[int, Any]:
        if self.services_shape == "new":
            return 200, {"services": {k: {"name": n, "type": t, "type_pretty": p}
                                      for k, (n, t, p) in self.services.items()}}
        lists: dict[str, list[dict[str, Any]]] = {"local_tags": [], "tag_repositories": [],
                                                  "all_local_media": []}
        kinds = {5: "local_tags", 0: "tag_repositories", 21: "all_local_media"}
        for k, (name, service_type, _) in self.services.items():
            if service_type in kinds:  # old clients gave no type in the entries
                lists[kinds[service_type]].append({"name": name, "service_key": k})
        return 200, lists

    def _add_tags_add_tags(self, args: dict[str, Any]) -> tuple[int, Any]:
        hashes = _hashes(args)
        override = args.get("override_previously_deleted_mappings", True)
        create_deleted = args.get("create_new_deleted_mappings", True)
        actions: dict[str, dict[str, list[str]]] = {}
        for service, tags in (args.get("service_keys_to_tags") or {}).items():
            actions.setdefault(service, {})["0"] = tags
        for service, by_action in (args.get("service_keys_to_actions_to_tags") or {}).items():
            actions.setdefault(service, {}).update(by_action)
        for service, by_action in actions.items():
            if service not in self.services or self.services[service][1] not in (0, 5):
                return 400, {"error": f"Could not find a tag service for {service}!"}
            for action, tags in by_action.items():
                if action not in ("0", "1"):
                    return 400, {"error": f"action {action} is not for local tag services"}
                for sha in hashes:
                    current, deleted = self.mappings.setdefault(service, {}).setdefault(
                        sha, (set(), set()))
                    for raw in tags:
                        tag = clean_tag(raw)
                        if tag is None:
                            continue
                        if action == "0":
                            if tag in deleted and not override:
                                continue
                            deleted.discard(tag)
                            current.add(tag)
                        elif tag in current or create_deleted:
                            current.discard(tag)
                            deleted.add(tag)
        return 200, None

    def _add_urls_associate_url(self, args: dict[str, Any]) -> tuple[int, Any]:
        urls = list(args.get("urls_to_add") or []) + (
            [args["url_to_add"]] if args.get("url_to_add") else [])
        for sha in _hashes(args):
            entry = self.files.get(sha)
            if entry is not None:
                entry.urls.update(urls)
        return 200, None

    def _add_notes_set_notes(self, args: dict[str, Any]) -> tuple[int, Any]:
        entry = self.files.get(str(args.get("hash", "")))
        if entry is None:
            return 404, {"error": "file not found"}
        entry.notes.update(args.get("notes") or {})
        return 200, {"notes": args.get("notes") or {}}

    def _add_notes_delete_notes(self, args: dict[str, Any]) -> tuple[int, Any]:
        entry = self.files.get(str(args.get("hash", "")))
        if entry is not None:
            for name in args.get("note_names") or []:
                entry.notes.pop(name, None)
        return 200, None

    def _get_files_file_metadata(self, args: dict[str, Any]) -> tuple[int, Any]:
        found = []
        for sha in _hashes(args):
            entry = self.files.get(sha)
            if entry is None:
                found.append({"file_id": None, "hash": sha})
                continue
            item: dict[str, Any] = {
                "file_id": entry.file_id, "hash": sha, "ext": entry.ext, "is_local": True,
                "is_trashed": False, "is_deleted": False, "known_urls": sorted(entry.urls),
                "tags": {s: {"storage_tags": {"0": sorted(m[sha][0]), "2": sorted(m[sha][1])}}
                         for s, m in self.mappings.items() if sha in m},
            }
            if args.get("include_notes"):
                item["notes"] = dict(entry.notes)
            found.append(item)
        return 200, {"metadata": found}

    def _get_files_search_files(self, args: dict[str, Any]) -> tuple[int, Any]:
        service = args.get("tag_service_key")
        limit = None
        matches = list(self.files.values())
        for predicate in args.get("tags") or []:
            if isinstance(predicate, str) and predicate.startswith("system:limit"):
                limit = int(predicate.split("=")[1])
                continue
            if isinstance(predicate, str) and predicate.lower().startswith("system:hash"):
                wanted = set(re.findall(r"[0-9a-f]{64}", predicate.lower()))
                matches = [f for f in matches if f.sha256 in wanted]
                continue
            matches = [f for f in matches if self._matches(f.sha256, predicate, service)]
        hashes = [f.sha256 for f in matches][:limit]
        return 200, {"hashes": hashes, "file_ids": [self.files[h].file_id for h in hashes]}

    def _matches(self, sha: str, predicate: Any, service: str | None) -> bool:
        if isinstance(predicate, list):
            return any(self._matches(sha, p, service) for p in predicate)
        services = [service] if service else list(self.mappings)
        tags = set().union(*(self.current(s, sha) for s in services)) if services else set()
        text = str(predicate).strip().lower()
        if text == "system:everything":
            return True
        if text in ("system:no tags", "system:untagged"):
            return not tags
        if text == "system:has tags":
            return bool(tags)
        if text.startswith("system:hash"):
            return sha in re.findall(r"[0-9a-f]{64}", text)
        if text.startswith("system:"):
            raise ValueError(f"the fake does not parse {text!r}")
        if text.startswith("-"):
            return clean_tag(text) not in tags
        return clean_tag(text) in tags

    def _get_files_file_path(self, args: dict[str, Any]) -> tuple[int, Any]:
        entry = self.files.get(str(args.get("hash", "")))
        if entry is None or self.client_files is None:
            return 404, {"error": "File not found!"}
        path = self.client_files / f"f{entry.sha256[:2]}" / f"{entry.sha256}{entry.ext}"
        return 200, {"path": str(path), "filetype": "image/png", "size": 0}

    def _get_files_local_file_storage_locations(self, args: dict[str, Any]) -> tuple[int, Any]:
        prefixes = [f"f{i:02x}" for i in range(256)] + [f"t{i:02x}" for i in range(256)]
        return 200, {"locations": [{"path": str(self.client_files), "ideal_weight": 1,
                                    "max_num_bytes": None, "prefixes": prefixes}]}

    def _manage_pages_get_pages(self, args: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"pages": {"name": "top pages notebook", "page_key": "f" * 64,
                               "page_type": 10, "is_media_page": False, "pages": [
                                   {"name": p.name, "page_key": p.key, "page_type": p.page_type,
                                    "is_media_page": True, "page_state": 0}
                                   for p in self.pages]}}

    def _manage_pages_new_page(self, args: dict[str, Any]) -> tuple[int, Any]:
        if not self.has_new_page:
            return 404, {"error": "This page does not exist: /manage_pages/new_page"}
        page = Page(f"{len(self.pages):064x}", str(args.get("page_name") or "files"))
        page.hashes.extend(h for h in _hashes(args) if h in self.files)
        self.pages.append(page)
        return 200, {"page_key": page.key}

    def _manage_pages_add_files(self, args: dict[str, Any]) -> tuple[int, Any]:
        page = next((p for p in self.pages if p.key == args.get("page_key")), None)
        if page is None:
            return 404, {"error": "Could not find that page!"}
        page.hashes.extend(h for h in _hashes(args) if h in self.files)
        return 200, None

    def _manage_pages_focus_page(self, args: dict[str, Any]) -> tuple[int, Any]:
        return 200, None


class _Killed(Exception):
    """The process died while handling a request: no answer goes out."""


class _Dead(Exception):
    """The request reached a process already killed: no answer goes out."""


def _hashes(args: dict[str, Any]) -> list[str]:
    found = list(args.get("hashes") or [])
    if args.get("hash"):
        found.append(args["hash"])
    return [str(h).lower() for h in found]


class _Handler(BaseHTTPRequestHandler):
    hydrus: FakeHydrus
    process: int | None = None
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()  # headers and body go out in two writes: no Nagle delay
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.hydrus._lock:
            self.hydrus._connections.add(self.connection)

    def finish(self) -> None:
        with self.hydrus._lock:
            self.hydrus._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle_one_request(self) -> None:
        # As BaseHTTPRequestHandler's, with Hydrus's 2 MB limit instead of 64 KB.
        self.raw_requestline = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        if not self.raw_requestline:
            self.close_connection = True
            return
        size = len(self.raw_requestline)
        if size <= MAX_REQUEST_BYTES:
            try:
                if not self.parse_request():
                    return
            except Exception:  # headers too long for http.client's own limits
                size = MAX_REQUEST_BYTES + 1
            else:
                size += sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_REQUEST_BYTES:
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", "GET"
            self.close_connection = True
            self.hydrus.log.append(("?", "?", 400))
            self._reply(400, {"error": "request line and headers are over 2 MB"})
            return
        self._dispatch()
        self.wfile.flush()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        args: dict[str, Any] = {}
        for name, values in parse_qs(parts.query).items():
            args[name] = _decode(values[-1])
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                self._reply(400, {"error": "the body is not JSON"})
                return
            self.hydrus.bodies.append((parts.path, body))
            args.update(body)
        key = self.headers.get("Hydrus-Client-API-Access-Key") or args.pop(
            "Hydrus-Client-API-Access-Key", None)
        session = self.headers.get("Hydrus-Client-API-Session-Key") or args.pop(
            "Hydrus-Client-API-Session-Key", None)
        try:
            status, answer = self.hydrus.handle(self.command, parts.path, args, key, session,
                                                process=self.process)
        except _Killed:
            self.close_connection = True
            threading.Thread(target=self.hydrus._restart, daemon=True).start()
            return
        except _Dead:
            self.close_connection = True
            return
        except (ValueError, TypeError, KeyError) as exc:
            status, answer = 400, {"error": str(exc)}
        self.hydrus.log.append((self.command, parts.path, status))
        self._reply(status, answer)

    def _reply(self, status: int, answer: Any) -> None:
        if isinstance(answer, dict):
            answer = {**answer, "version": 95, "hydrus_version": 682}
        body = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _dispatch  # unused: handle_one_request dispatches itself


def _decode(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
