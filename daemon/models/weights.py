"""Where a model's files come from: a configured folder, the cache, or one download.

Every model family resolves its files here, in this order:

1. a folder the user configured (``local_path``): used as it is, never written to,
   and never silently replaced by a download — a file missing there is an error;
2. the cache folder ``<data_dir>/models/<name>/``;
3. only when downloads are allowed: each missing file is downloaded once from its
   URL into the cache and renamed into place only once it is whole and its
   checksum matches, so a file that looks complete always is.

Downloads resume: bytes arrive in ``<file>.part`` beside the file, and a later
try asks the server only for the rest (an HTTP ``Range`` request; a server that
ignores it sends the whole file again). The checksum is, in this order, the
SHA-256 pinned in the :class:`WeightsFile`, else the one the server announces:
Hugging Face (and its mirrors) name an LFS file's SHA-256 in ``X-Linked-Etag``
and a small file's git blob SHA-1 in ``ETag``, as its own tools read them. A
file that matches neither is deleted, never used. One process downloads a
model's files at a time (a lock file beside the model's folder); another waits.

Downloads use ``urllib`` so that this needs no dependency; the caller passes a
progress callback (the CLI draws a rich progress bar with it, the daemon
publishes events).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DigestCache",
    "DownloadProgress",
    "WeightsDownloadFailed",
    "WeightsFile",
    "WeightsSpec",
    "WeightsUnavailable",
    "cache_dir",
    "download_file",
    "fetch_weights",
    "hub_endpoint",
    "hub_url",
    "missing_files",
    "model_digest",
    "resolve_weights",
]

log = logging.getLogger(__name__)

#: ``progress(file_name, bytes_done, bytes_total_or_None)``, called as bytes arrive.
DownloadProgress = Callable[[str, int, int | None], None]

DEFAULT_ENDPOINT = "https://huggingface.co"
PART_SUFFIX = ".part"
LOCK_SUFFIX = ".download.lock"
_CHUNK_BYTES = 1 << 20
_DIGEST_HEX_CHARS = 12
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class WeightsFile:
    """One file a model needs, by its path inside the model's folder (``/``-separated)."""

    name: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class WeightsSpec:
    """The files of one model; ``name`` is also its cache folder's name."""

    name: str
    files: tuple[WeightsFile, ...]

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)


class WeightsUnavailable(Exception):
    """A model's files cannot be found (or fetched); the message says what to do."""


class WeightsDownloadFailed(WeightsUnavailable):
    """A download that did not finish or did not match its checksum."""


def hub_endpoint(configured: str = "") -> str:
    """Where Hugging Face files come from: ``configured`` (``models.download_url``),
    else ``HF_ENDPOINT`` (a mirror, as Hugging Face's own tools honour it), else
    huggingface.co."""
    for value in (configured, os.environ.get("HF_ENDPOINT", "")):
        if value.strip():
            return value.strip().rstrip("/")
    return DEFAULT_ENDPOINT


def hub_url(repo: str, file: str, endpoint: str = "") -> str:
    """A file of a Hugging Face repository (see :func:`hub_endpoint` for the server)."""
    return f"{hub_endpoint(endpoint)}/{repo}/resolve/main/{file}"


def cache_dir(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "models" / name


def _names(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def missing_files(spec: WeightsSpec, folder: Path) -> list[WeightsFile]:
    """The files of ``spec`` not (yet) in ``folder``."""
    return [f for f in spec.files if not (folder / f.name).is_file()]


def resolve_weights(
    spec: WeightsSpec,
    *,
    data_dir: Path,
    local_path: Path | None = None,
    allow_download: bool = False,
    progress: DownloadProgress | None = None,
    timeout_s: float = 60.0,
    missing_hint: str = "or set models.allow_download = true",
) -> dict[str, Path]:
    """File name -> path of every file in ``spec``, downloading only when allowed.

    Raises :class:`WeightsUnavailable` (with what the user can do, ending with
    ``missing_hint`` when downloads are not allowed) when a file is missing and
    cannot be fetched.
    """
    if local_path is not None:
        folder = Path(local_path).expanduser()
        missing = [name for name in spec.file_names if not (folder / name).is_file()]
        if missing:
            raise WeightsUnavailable(
                f"model {spec.name}: {_names(missing)} not found in {folder}: "
                f"put {_names(spec.file_names)} in {folder}, or remove the configured "
                "path to use the cache folder"
            )
        return {name: folder / name for name in spec.file_names}

    folder = cache_dir(data_dir, spec.name)
    missing_now = missing_files(spec, folder)
    if missing_now:
        if not allow_download:
            raise WeightsUnavailable(
                f"model {spec.name}: {_names(f.name for f in missing_now)} not found: "
                f"put {_names(spec.file_names)} in {folder}, {missing_hint}"
            )
        fetch_weights(spec, folder, progress=progress, timeout_s=timeout_s)
    return {name: folder / name for name in spec.file_names}


def fetch_weights(
    spec: WeightsSpec,
    folder: Path,
    *,
    progress: DownloadProgress | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Download every missing file of ``spec`` into ``folder``, one process at a time."""
    no_url = [f.name for f in missing_files(spec, folder) if not f.url]
    if no_url:
        raise WeightsUnavailable(
            f"model {spec.name}: {_names(no_url)} has no download address: "
            f"put {_names(spec.file_names)} in {folder}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder, spec.name):
        for f in missing_files(spec, folder):  # again: another process may have done it
            assert f.url is not None
            download_file(f.url, folder / f.name, sha256=f.sha256,
                          progress=_named(progress, f.name), timeout_s=timeout_s)


def _named(progress: DownloadProgress | None, name: str) -> DownloadProgress | None:
    """Progress reported under the file's name in the model (``visual/model.onnx``)."""
    if progress is None:
        return None
    return lambda _file, done, total: progress(name, done, total)


@contextmanager
def _folder_lock(folder: Path, name: str) -> Iterator[None]:
    from pximse.file_lock import try_lock, unlock

    with (folder.parent / f".{folder.name}{LOCK_SUFFIX}").open("a+") as handle:
        told = False
        while not try_lock(handle):
            if not told:
                log.info("model %s: another process is downloading it; waiting", name)
                told = True
            time.sleep(0.5)
        try:
            yield
        finally:
            unlock(handle)


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects and keeps each hop's headers: Hugging Face names a
    file's checksum on its first answer, the redirect to the CDN."""

    def __init__(self, hops: list[Mapping[str, str]]) -> None:
        super().__init__()
        self.hops = hops

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _header(headers: Any, name: str) -> str:
    value = str(headers.get(name) or "").strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower()


@dataclass(frozen=True)
class _Expected:
    """What the whole file must hash to, and who said so."""

    sha256: str | None = None
    git_sha1: str | None = None
    said_by: str = ""


def _expected(pinned: str | None, hops: list[Any]) -> _Expected:
    if pinned:
        return _Expected(sha256=pinned.lower(), said_by="PxIMSE's pinned checksum")
    for headers in hops:
        linked = _header(headers, "X-Linked-Etag")
        if _HEX64.fullmatch(linked):
            return _Expected(sha256=linked, said_by="the server's X-Linked-Etag")
    for headers in hops:
        etag = _header(headers, "ETag")
        if _HEX64.fullmatch(etag):
            return _Expected(sha256=etag, said_by="the server's ETag")
        # A Hugging Face answer (it says which commit) names a small file's git blob.
        if headers.get("X-Repo-Commit") and _HEX40.fullmatch(etag):
            return _Expected(git_sha1=etag, said_by="the server's ETag (git blob)")
    return _Expected()


def _git_blob_sha1(path: Path) -> str:
    hasher = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _content_range_total(value: str) -> int | None:
    match = re.fullmatch(r"bytes (?:\d+-\d+|\*)/(\d+)", value.strip())
    return int(match.group(1)) if match else None


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: DownloadProgress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming what is there.

    ``dest`` appears complete or not at all. A network error or a short read
    keeps the part (the next call resumes it) and raises
    :class:`WeightsDownloadFailed`; a checksum mismatch deletes it and raises.
    """
    from pximse import __version__

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    have = part.stat().st_size if part.is_file() else 0
    hops: list[Any] = []
    opener = urllib.request.build_opener(_RecordingRedirects(hops))
    request = urllib.request.Request(url, headers={"User-Agent": f"pximse/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    log.info("downloading %s to %s%s", url, dest, f" (resuming at {have} bytes)" if have else "")
    retry_hint = f"it resumes on the next try, or put the file in {dest.parent} yourself"
    try:
        response = opener.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part may be whole
            total = _content_range_total(str(e.headers.get("Content-Range", "")))
            if total is not None and total == have:
                _finish(part, dest, _expected(sha256, [*hops, e.headers]), url)
                return dest
            part.unlink(missing_ok=True)
        raise WeightsDownloadFailed(
            f"could not download {dest.name} from {url}: {e}; {retry_hint}") from e
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise WeightsDownloadFailed(
            f"could not download {dest.name} from {url}: {_reason(e)}; {retry_hint}") from e

    with response:
        hops.append(response.headers)
        if response.status == 206:
            total = _content_range_total(str(response.headers.get("Content-Range", "")))
            mode = "ab"
        else:  # the whole file (a server that ignores ranges, or a fresh start)
            have = 0
            length = str(response.headers.get("Content-Length") or "")
            total = int(length) if length.isdigit() else None
            mode = "wb"
        done = have
        try:
            with part.open(mode) as out:
                if progress is not None:
                    progress(dest.name, done, total)
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(dest.name, done, total)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            raise WeightsDownloadFailed(
                f"download of {dest.name} from {url} stopped after {done} bytes "
                f"({_reason(e)}); {retry_hint}") from e
    if total is not None and done != total:
        raise WeightsDownloadFailed(
            f"download of {dest.name} from {url} stopped after {done} of "
            f"{total} bytes; {retry_hint}")
    _finish(part, dest, _expected(sha256, hops), url)
    log.info("downloaded %s (%d bytes)", dest, done)
    return dest


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error) or type(error).__name__


def _finish(part: Path, dest: Path, expected: _Expected, url: str) -> None:
    """Check the whole part against its checksum, then rename it into place."""
    if expected.sha256 is not None:
        kind, wanted, actual = "SHA-256", expected.sha256, _sha256_of(part)
    elif expected.git_sha1 is not None:
        kind, wanted, actual = "git SHA-1", expected.git_sha1, _git_blob_sha1(part)
    else:
        log.info("%s: the server named no checksum; its digest goes into the model id", url)
        kind = wanted = actual = ""
    if actual != wanted:
        part.unlink(missing_ok=True)
        raise WeightsDownloadFailed(
            f"{dest.name} downloaded from {url} has {kind} {actual}, expected {wanted} "
            f"({expected.said_by}): the file on the server changed or was damaged on the "
            "way; nothing was saved")
    os.replace(part, dest)


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


class DigestCache:
    """SHA-256 digests of weights files, kept in a JSON file across processes.

    A model id needs a digest of the weights' bytes, and reading 300 MB to make
    it costs about a second: the digest is kept with the file's size and
    modification time, and made again only when either changes. Every process
    keeps what it read in memory too; the file is rewritten atomically.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, list[Any]] | None = None

    def _load(self) -> dict[str, list[Any]]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    if isinstance(data, dict):
                        self._entries = data
                except (OSError, ValueError):
                    pass
        return self._entries

    def digest(self, path: Path) -> bytes:
        """The SHA-256 of the file's bytes."""
        path = Path(path)
        st = path.stat()
        value = self.remember(str(path.resolve()), [st.st_size, st.st_mtime_ns],
                              lambda: _sha256_of(path))
        return bytes.fromhex(value)

    def remember(self, key: str, stamp: list[Any], make: Callable[[], str]) -> str:
        """``make()``, kept under ``key`` for as long as ``stamp`` (sizes and
        modification times of what it reads) stays the same."""
        with self._lock:
            entry = self._load().get(key)
            if entry and entry[:-1] == stamp:
                return str(entry[-1])
        value = make()
        with self._lock:
            self._load()[key] = [*stamp, value]
            self._save()
        return value

    def _save(self) -> None:
        if self.path is None or self._entries is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            handle: IO[str]
            with tmp.open("w", encoding="utf-8") as handle:
                json.dump(self._entries, handle)
            os.replace(tmp, self.path)
        except OSError as exc:  # a read-only data folder: digests are made again next time
            log.debug("cannot keep weights digests in %s: %s", self.path, exc)


_memory_digests = DigestCache(None)
_caches: dict[Path, DigestCache] = {}
_caches_lock = threading.Lock()


def digest_cache(data_dir: Path | None) -> DigestCache:
    """The digest cache of a data folder (``models/digests.json``); in memory only without one."""
    if data_dir is None:
        return _memory_digests
    path = Path(data_dir) / "models" / "digests.json"
    with _caches_lock:
        return _caches.setdefault(path, DigestCache(path))


def model_digest(paths: Iterable[Path] | Mapping[str, Path], *,
                 data_dir: Path | None = None) -> str:
    """A short hex digest of the files' bytes, in the order given.

    It goes into model ids, so results computed by different weights (or a
    different tag list) are never mistaken for each other. Files are streamed,
    never read whole, and a file's digest is kept (see :class:`DigestCache`).
    """
    files = list(paths.values()) if isinstance(paths, Mapping) else list(paths)
    cache = digest_cache(data_dir)
    combined = hashlib.sha256()
    for path in files:
        combined.update(cache.digest(Path(path)))
    return combined.hexdigest()[:_DIGEST_HEX_CHARS]
