"""Where a model's files come from: a configured folder, the cache, or one download.

Every model family resolves its files here, in this order:

1. a folder the user configured (``local_path``): used as it is, never written to,
   and never silently replaced by a download — a file missing there is an error;
2. the cache folder ``<data_dir>/models/<name>/``;
3. only when downloads are allowed: each missing file is downloaded once from its
   URL into the cache, its SHA-256 checked when one is known, and renamed into
   place atomically (a temp file in the same folder, then ``os.replace``), so an
   interrupted or corrupt download never leaves a file that looks complete.

Downloads use ``urllib`` so that this needs no dependency; the caller passes a
progress callback (the CLI draws a rich progress bar with it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WeightsFile",
    "WeightsSpec",
    "WeightsUnavailable",
    "WeightsDownloadFailed",
    "DownloadProgress",
    "cache_dir",
    "hub_url",
    "resolve_weights",
    "download_file",
    "model_digest",
]

log = logging.getLogger(__name__)

#: ``progress(file_name, bytes_done, bytes_total_or_None)``, called as bytes arrive.
DownloadProgress = Callable[[str, int, int | None], None]

_CHUNK_BYTES = 1 << 20
_DIGEST_HEX_CHARS = 12


@dataclass(frozen=True)
class WeightsFile:
    """One file a model needs, by its name inside the model's folder."""

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


def hub_url(repo: str, file: str) -> str:
    """A file of a Hugging Face repository, from ``HF_ENDPOINT`` when it is set
    (a mirror, as Hugging Face's own tools honour it), else huggingface.co."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"
    return f"{endpoint}/{repo}/resolve/main/{file}"


def cache_dir(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "models" / name


def _names(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def resolve_weights(
    spec: WeightsSpec,
    *,
    data_dir: Path,
    local_path: Path | None = None,
    allow_download: bool = False,
    progress: DownloadProgress | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Path]:
    """File name -> path of every file in ``spec``, downloading only when allowed.

    Raises :class:`WeightsUnavailable` (with what the user can do) when a file is
    missing and cannot be fetched.
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
    missing_files = [f for f in spec.files if not (folder / f.name).is_file()]
    if missing_files:
        if not allow_download:
            raise WeightsUnavailable(
                f"model {spec.name}: {_names(f.name for f in missing_files)} not found: "
                f"put {_names(spec.file_names)} in {folder}, "
                "or set models.allow_download = true"
            )
        no_url = [f.name for f in missing_files if not f.url]
        if no_url:
            raise WeightsUnavailable(
                f"model {spec.name}: {_names(no_url)} has no download address: "
                f"put {_names(spec.file_names)} in {folder}"
            )
        for f in missing_files:
            assert f.url is not None
            download_file(
                f.url,
                folder / f.name,
                sha256=f.sha256,
                progress=progress,
                timeout_s=timeout_s,
            )
    return {name: folder / name for name in spec.file_names}


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: DownloadProgress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` through a temp file beside it, then rename.

    ``dest`` appears complete or not at all: a short read, a network error or a
    checksum mismatch removes the temp file and raises
    :class:`WeightsDownloadFailed`. Two processes downloading the same file at
    once each write their own temp file; the last rename wins, with the same bytes.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    log.info("downloading %s to %s", url, dest)
    try:
        hasher = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    if progress is not None:
                        progress(dest.name, 0, total)
                    while chunk := response.read(_CHUNK_BYTES):
                        out.write(chunk)
                        hasher.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(dest.name, done, total)
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise WeightsDownloadFailed(
                    f"could not download {dest.name} from {url}: {e}; try again, "
                    f"or put the file in {dest.parent} yourself"
                ) from e
            if total is not None and done != total:
                raise WeightsDownloadFailed(
                    f"download of {dest.name} from {url} stopped after {done} of "
                    f"{total} bytes; try again, or put the file in {dest.parent} yourself"
                )
            out.flush()
            os.fsync(out.fileno())
        if sha256 is not None and hasher.hexdigest() != sha256.lower():
            raise WeightsDownloadFailed(
                f"{dest.name} downloaded from {url} has SHA-256 {hasher.hexdigest()}, "
                f"expected {sha256.lower()}: the file on the server changed or was "
                "damaged on the way; nothing was saved"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s (%d bytes)", dest, done)
    return dest


# (path, size, mtime_ns) -> sha256 of the file's bytes, so that a model id costs
# one read of the weights per process rather than one per model instance.
_file_digests: dict[tuple[str, int, int], bytes] = {}


def _file_digest(path: Path) -> bytes:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _file_digests.get(key)
    if cached is not None:
        return cached
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            hasher.update(chunk)
    digest = hasher.digest()
    _file_digests[key] = digest
    return digest


def model_digest(paths: Iterable[Path] | Mapping[str, Path]) -> str:
    """A short hex digest of the files' bytes, in the order given.

    It goes into model ids, so results computed by different weights (or a
    different tag list) are never mistaken for each other. Files are streamed,
    never read whole.
    """
    files = list(paths.values()) if isinstance(paths, Mapping) else list(paths)
    combined = hashlib.sha256()
    for path in files:
        combined.update(_file_digest(Path(path)))
    return combined.hexdigest()[:_DIGEST_HEX_CHARS]
