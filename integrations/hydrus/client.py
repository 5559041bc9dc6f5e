"""A small Client API client: the dozen endpoints PxIMSE uses, batched and patient.

* Lists of hashes go out in batches (:data:`BATCH_SIZE`, as the Hydrus client
  itself fetches metadata), which keeps every request line far below the
  ~2 MB Hydrus accepts; a request that would still pass the limit is refused
  here with a message instead of being cut off by the server.
* 503 means the client is busy (a big import, a database job): wait and
  retry, doubling the wait (or as ``Retry-After`` says), then give up with
  :class:`HydrusUnavailable`. A client that is not running is
  :class:`HydrusUnavailable` at once: the caller tries again later rather than
  spinning.
* 401/403/419 become :class:`HydrusAuthError` saying what is wrong: no key,
  a key this client does not know, or the permission to tick.
* Hydrus answers a write before it commits it (its database commits about
  every 30 s): :meth:`HydrusClient.force_commit` asks for the commit now, and
  :meth:`HydrusClient.session_key` / :meth:`HydrusClient.session_alive` tell
  whether the client restarted (losing what it had not committed) since.
* httpx's own line per request (INFO) is kept out of the logs: a push makes
  thousands; the client's own lines say what matters.

httpx (already what the tests use to call the API) does the HTTP. The
``hydrus-api`` package would add ``requests`` and still need all of the above
around it, for endpoints that are one line each here.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from pximse.integrations.hydrus.errors import (
    HydrusAuthError,
    HydrusNotConfigured,
    HydrusRequestError,
    HydrusUnavailable,
)
from pximse.integrations.hydrus.services import Service, find_tag_service, parse_services

__all__ = ["BATCH_SIZE", "MAX_REQUEST_BYTES", "HydrusClient", "RetryPolicy", "batches",
           "current_tags"]

log = logging.getLogger(__name__)

BATCH_SIZE = 256
MAX_REQUEST_BYTES = 2_000_000
"""Hydrus refuses a request whose request line and headers pass ~2 MB."""

ACCESS_HEADER = "Hydrus-Client-API-Access-Key"
SESSION_HEADER = "Hydrus-Client-API-Session-Key"
_KEY = re.compile(r"[0-9a-fA-F]{64}")

# What each endpoint needs, for the message when Hydrus answers 403.
_PERMISSIONS: dict[str, str] = {
    "/add_tags/": "Edit File Tags",
    "/add_urls/": "Import and Edit URLs",
    "/add_notes/": "Edit File Notes",
    "/manage_pages/": "Manage Pages",
    "/get_files/file_path": "Search for and Fetch Files, and See Local Paths",
    "/get_files/local_file_storage_locations": "Search for and Fetch Files, and See Local Paths",
    "/get_files/": "Search for and Fetch Files",
    "/add_files/": "Import and Delete Files",
    "/manage_database/": "Manage Database",
}
_UNKNOWN_KEY = "Did not find an entry for that access key"


@dataclass(frozen=True)
class RetryPolicy:
    """How long a busy (503) client is waited for: ``attempts`` tries in all."""

    attempts: int = 6
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0


DEFAULT_RETRY = RetryPolicy()


def batches(items: Sequence[str], size: int = BATCH_SIZE) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class HydrusClient:
    """One Hydrus client's API at ``url``; thread-safe (requests from several threads
    go out side by side, unless ``requests_per_second`` spaces them), keeps its
    connections open."""

    def __init__(
        self,
        url: str,
        access_key: str,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        batch_size: int = BATCH_SIZE,
        requests_per_second: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.strip():
            raise HydrusNotConfigured("set [hydrus] url to the Hydrus client's Client API address "
                                      "(default http://127.0.0.1:45869)")
        if not access_key.strip():
            raise HydrusNotConfigured(
                "set [hydrus] access_key: in Hydrus, services > review services > local > "
                "client api > add > manually, tick the permissions docs/hydrus.md lists, and copy "
                "the key")
        if not _KEY.fullmatch(access_key.strip()):
            raise HydrusNotConfigured(
                f"[hydrus] access_key is not a Hydrus access key ({_key_shape(access_key)}); "
                "it is the 64 hexadecimal characters Hydrus shows under services > review "
                "services > local > client api (copy it again)")
        self.url = url.rstrip("/")
        self.batch_size = max(1, batch_size)
        self.retry = retry
        self._sleep = sleep
        self._interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._last_request = 0.0
        self._lock = threading.Lock()
        self.requests = 0
        self._http = httpx.Client(
            base_url=self.url, headers={ACCESS_HEADER: access_key.strip()},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        )
        self.can_commit: bool | None = None  # /manage_database/force_commit allowed
        quiet_request_log()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HydrusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the transport ---------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None, session_key: str | None = None) -> Any:
        """One call, retried while the client answers 503; the JSON answer (or None).
        ``session_key``: authenticate with that session key instead of the access key."""
        query = {key: _param(value) for key, value in (params or {}).items()}
        try:
            request = self._http.build_request(
                method, path, params=query or None,
                content=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                headers=None if body is None else {"Content-Type": "application/json"},
            )
            if session_key is not None:
                del request.headers[ACCESS_HEADER]  # Hydrus would read the access key first
                request.headers[SESSION_HEADER] = session_key
        except httpx.InvalidURL as exc:  # httpx's own limit: 64 KB
            raise HydrusRequestError(
                f"{path}: the request line is too long ({exc}); send fewer hashes at a time "
                "([hydrus] batch_size)", 413, path) from exc
        head = len(request.url.raw_path) + sum(len(k) + len(v) + 4
                                                    for k, v in request.headers.items())
        if head > MAX_REQUEST_BYTES:
            raise HydrusRequestError(
                f"{path}: the request line would be {head} bytes, over the {MAX_REQUEST_BYTES} "
                "Hydrus accepts; send fewer hashes at a time ([hydrus] batch_size)", 413, path)
        delay = self.retry.first_delay_s
        for attempt in range(1, self.retry.attempts + 1):
            response = self._send(request, path)
            if response.status_code != 503:
                return self._answer(response, path)
            if attempt == self.retry.attempts:
                break
            wait = _retry_after(response) or delay
            wait = min(wait, self.retry.max_delay_s)
            log.info("Hydrus is busy (503 on %s); retrying in %.1f s", path, wait)
            self._sleep(wait)
            delay = min(delay * 2, self.retry.max_delay_s)
        raise HydrusUnavailable(
            f"the Hydrus client at {self.url} stayed busy (503) through {self.retry.attempts} "
            f"tries on {path}: {_text(response)}")

    def _send(self, request: httpx.Request, path: str) -> httpx.Response:
        if not self._interval:  # requests may overlap (threads share the connection pool)
            with self._lock:
                self.requests += 1
            return self._transport(request)
        with self._lock:  # one at a time, spaced by the rate limit
            wait = self._last_request + self._interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self.requests += 1
            try:
                return self._transport(request)
            finally:
                self._last_request = time.monotonic()

    def _transport(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise HydrusUnavailable(
                f"the Hydrus client at {self.url} is not reachable ({type(exc).__name__}: "
                f"{exc or 'no answer'}); is Hydrus running with the Client API service on?"
            ) from exc

    def _answer(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        log.debug("Hydrus %s %s: %d", response.request.method, path, status)
        if status in (401, 403, 419):
            raise HydrusAuthError(_auth_message(status, path, _text(response)), status)
        if status >= 400:
            raise HydrusRequestError(
                f"Hydrus refused {path} ({status}): {_text(response)}", status, path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    # -- access and services --------------------------------------------------------

    def api_version(self) -> dict[str, Any]:
        return dict(self.request("GET", "/api_version") or {})

    def verify_access_key(self) -> dict[str, Any]:
        return dict(self.request("GET", "/verify_access_key") or {})

    def services(self) -> list[Service]:
        return parse_services(self.request("GET", "/get_services") or {})

    def tag_service(self, name: str) -> Service:
        return find_tag_service(self.services(), name)

    # -- commits and restarts ----------------------------------------------------------

    def force_commit(self) -> bool:
        """Have Hydrus commit its database now (``/manage_database/force_commit``);
        False when the key lacks the Manage Database permission (or the client is
        too old to have the call): then only a later read can tell what was kept."""
        if self.can_commit is False:
            return False
        try:
            self.request("POST", "/manage_database/force_commit")
        except HydrusAuthError as exc:
            if exc.status != 403 or _UNKNOWN_KEY in exc.message:
                raise
            self._no_commit("the access key lacks the 'Manage Database' permission")
            return False
        except HydrusRequestError as exc:
            if exc.status not in (400, 404):
                raise
            self._no_commit("this Hydrus has no /manage_database/force_commit")
            return False
        self.can_commit = True
        return True

    def _no_commit(self, why: str) -> None:
        if self.can_commit is None:
            log.info("Hydrus: %s; what a push sends is checked by reading it back once "
                     "Hydrus has committed it (about 30 s later) instead", why)
        self.can_commit = False

    def session_key(self) -> str:
        """A new session key: Hydrus keeps them in memory only, so a key that stops
        working means the client restarted (or went unused for a day)."""
        return str((self.request("GET", "/session_key") or {})["session_key"])

    def session_alive(self, session_key: str) -> bool:
        """Whether ``session_key`` still works (False: Hydrus restarted since)."""
        try:
            self.request("GET", "/verify_access_key", session_key=session_key)
        except HydrusAuthError as exc:
            if exc.status == 419:
                return False
            raise
        return True

    # -- files -----------------------------------------------------------------------

    def file_metadata(self, hashes: Sequence[str], **flags: bool) -> list[dict[str, Any]]:
        """Metadata for ``hashes``, batched; unknown hashes come back with ``file_id`` None."""
        found: list[dict[str, Any]] = []
        for batch in batches(hashes, self.batch_size):
            body = self.request("GET", "/get_files/file_metadata", params={
                "hashes": batch, "include_services_object": False, **flags})
            found.extend((body or {}).get("metadata", []))
        return found

    def held(self, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of the files this client holds among ``hashes`` (not merely knows
        of, from a tag repository say, nor deleted), by hash."""
        found: dict[str, dict[str, Any]] = {}
        for item in self.file_metadata(hashes):
            if item.get("file_id") is None:
                continue
            if item.get("is_local", True) and not item.get("is_deleted", False):
                found[str(item["hash"]).lower()] = item
        return found

    def present(self, hashes: Sequence[str]) -> set[str]:
        """The hashes whose files this client holds (in "all my files": not deleted,
        not in the trash), by a ``system:hash`` search: a tenth of a second for 256
        files where their full metadata takes more than a second on a real client."""
        found: set[str] = set()
        wanted = [h.lower() for h in hashes]
        for batch in batches(wanted, self.batch_size):
            found.update(h.lower() for h in self.search_files(
                [f"system:hash = {', '.join(batch)}"]))
        return found & set(wanted)

    def search_files(self, tags: Sequence[Any], *, tag_service_key: str | None = None
                     ) -> list[str]:
        """Hashes of the files a Hydrus search finds (tags, ``-tag``, nested OR lists,
        ``system:`` predicates)."""
        params: dict[str, Any] = {"tags": list(tags), "return_hashes": True,
                                  "return_file_ids": False}
        if tag_service_key:
            params["tag_service_key"] = tag_service_key
        body = self.request("GET", "/get_files/search_files", params=params) or {}
        return [str(h) for h in body.get("hashes", [])]

    def file_path(self, sha256: str) -> str:
        return str((self.request("GET", "/get_files/file_path", params={"hash": sha256})
                    or {})["path"])

    def storage_locations(self) -> list[dict[str, Any]]:
        body = self.request("GET", "/get_files/local_file_storage_locations") or {}
        return list(body.get("locations", []))

    # -- writing ---------------------------------------------------------------------

    def add_tags(
        self, hashes: Sequence[str], service_key: str, *, add: Iterable[str] = (),
        remove: Iterable[str] = (), override_deleted: bool = False,
    ) -> None:
        """Add and remove tags on a local tag service. A tag the user deleted stays
        deleted unless ``override_deleted`` (PxIMSE sets it only for tags it removed
        itself); removing never creates a deletion record for a tag the file lacks."""
        actions: dict[str, list[str]] = {}
        if adding := sorted(set(add)):
            actions["0"] = adding
        if removing := sorted(set(remove)):
            actions["1"] = removing
        if not actions or not hashes:
            return
        for batch in batches(hashes, self.batch_size):
            self.request("POST", "/add_tags/add_tags", body={
                "hashes": batch,
                "service_keys_to_actions_to_tags": {service_key: actions},
                "override_previously_deleted_mappings": override_deleted,
                "create_new_deleted_mappings": False,
            })

    def associate_urls(self, hashes: Sequence[str] | str, urls: Iterable[str]) -> None:
        """Associate ``urls`` with each of ``hashes`` (files that share them: the
        pages of one post), one request per batch of files."""
        if isinstance(hashes, str):
            hashes = [hashes]
        if not (urls := sorted(set(urls))):
            return
        for batch in batches(hashes, self.batch_size):
            self.request("POST", "/add_urls/associate_url",
                         body={"hashes": batch, "urls_to_add": urls})

    def set_notes(self, sha256: str, notes: dict[str, str]) -> None:
        if notes:
            self.request("POST", "/add_notes/set_notes",
                         body={"hash": sha256, "notes": notes, "merge_cleverly": False})

    def delete_notes(self, sha256: str, names: Iterable[str]) -> None:
        if names := sorted(set(names)):
            self.request("POST", "/add_notes/delete_notes",
                         body={"hash": sha256, "note_names": names})

    # -- pages -----------------------------------------------------------------------

    def new_page(self, name: str, hashes: Sequence[str] = (), *, focus: bool = True) -> str:
        """A new file search page (Hydrus v676+); its page key."""
        body = self.request("POST", "/manage_pages/new_page", body={
            "page_type": 6, "page_name": name, "hashes": list(hashes[:self.batch_size]),
            "focus_page": focus})
        return str((body or {})["page_key"])

    def pages(self) -> dict[str, Any]:
        return dict((self.request("GET", "/manage_pages/get_pages") or {}).get("pages", {}))

    def add_files(self, page_key: str, hashes: Sequence[str]) -> None:
        for batch in batches(hashes, self.batch_size):
            self.request("POST", "/manage_pages/add_files",
                         body={"page_key": page_key, "hashes": batch})

    def focus_page(self, page_key: str) -> None:
        self.request("POST", "/manage_pages/focus_page", body={"page_key": page_key})


def current_tags(item: dict[str, Any], service_key: str) -> set[str] | None:
    """The tags a file has now on one tag service, from its metadata (None when the
    answer does not say: the older ``service_keys_to_statuses_to_tags`` is read too)."""
    by_service = item.get("tags")
    if isinstance(by_service, dict) and service_key in by_service:
        statuses = (by_service[service_key] or {}).get("storage_tags", {})
    else:
        statuses = (item.get("service_keys_to_statuses_to_tags") or {}).get(service_key)
        if statuses is None:
            return None if by_service is None else set()
    return {str(t) for t in (statuses or {}).get("0", [])}


def _param(value: Any) -> str:
    """GET parameters as the Client API reads them: JSON for lists and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _text(response: httpx.Response) -> str:
    """The client's explanation: its JSON ``error``, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:500]
    return (response.text or response.reason_phrase or "").strip()[:500]


def _auth_message(status: int, path: str, text: str) -> str:
    if status == 401:
        return ("Hydrus wants an access key (401): set [hydrus] access_key "
                f"(services > review services > local > client api). Hydrus said: {text}")
    if status == 419:
        return f"Hydrus says the session key expired (419); try again. Hydrus said: {text}"
    if _UNKNOWN_KEY in text:
        return ("this Hydrus client does not know the access key in [hydrus] access_key (403): "
                "copy it again from services > review services > local > client api, or add "
                f"one there. Hydrus said: {text}")
    needed = next((p for prefix, p in _PERMISSIONS.items() if path.startswith(prefix)), None)
    hint = (f": the key needs the '{needed}' permission (services > review services > local > "
            "client api > edit the key)") if needed else ""
    return f"Hydrus refused the access key for {path} (403){hint}. Hydrus said: {text}"


def _key_shape(key: str) -> str:
    key = key.strip()
    if len(key) != 64:
        return f"{len(key)} characters, not 64"
    return "it has characters other than 0-9 and a-f"


def quiet_request_log() -> None:
    """Keep httpx's INFO line per request out of the logs (thousands a push), unless
    someone set the httpx logger's level themselves."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
