"""The configuration's shape: frozen dataclasses the rest of the daemon reads.

Kept apart from loading and validation so that code which only needs the types
(the scanner, the API, tests building a root in code) imports nothing that
touches files or the environment.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from pximse.config.patterns import compile_patterns
from pximse.config.uris import redact_uri

__all__ = [
    "DEFAULT_EXCLUDE",
    "Config",
    "RootConfig",
    "ScanConfig",
    "SearchConfig",
    "ServerConfig",
]

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*",
    "@eaDir",
    "#recycle",
    "$RECYCLE.BIN",
    "System Volume Information",
)
"""What a root in the file skips when it does not say ``exclude``: hidden files
and folders (names starting with ``.``, which also covers macOS ``._*`` files),
Synology's thumbnail folders and recycle bin, and Windows' recycle bin and
system folder at the top of a drive. Writing ``exclude`` replaces this list."""


@dataclass(frozen=True)
class RootConfig:
    """A library folder to index, and which files in it count.

    Patterns are globs on the path relative to the root, ``/``-separated (a
    ``\\`` in a pattern is read as ``/``), matched without regard to case, in
    the manner of ``.gitignore`` (see :mod:`pximse.config.patterns`):

    - ``*`` and ``?`` match within one name, ``[abc]``/``[!abc]`` one character,
      ``**`` as a whole segment any number of folders (``**/x``, ``a/**/b``);
    - a pattern without a ``/`` matches a file or folder name at any depth
      (``*.png``, ``.*``, ``@eaDir``); one with a ``/`` is anchored at the root
      (``pixiv/*.png``, ``/*.png``);
    - a pattern that matches a folder matches everything under it; a trailing
      ``/`` (``tmp/``) matches folders only.

    A file counts when ``include`` is empty or one include pattern matches it,
    and no exclude pattern does: exclude wins. Built in code, a root excludes
    nothing; read from the file, a root that leaves ``exclude`` out gets
    :data:`DEFAULT_EXCLUDE`.
    """

    name: str
    path: Path
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    xmp: bool | None = None  # write XMP sidecars here; None: as [xmp] write says
    _include_re: re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None
    )
    _exclude_re: re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        # Accept lists and strings from callers, keep the instance hashable, and
        # compile the patterns once: includes() runs for every file of a scan.
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "_include_re", compile_patterns(self.include))
        object.__setattr__(self, "_exclude_re", compile_patterns(self.exclude))

    def includes(self, relpath: str) -> bool:
        """Whether the file at ``relpath`` (POSIX, relative to the root) counts.

        A file in a subfolder of a root that is not recursive does not.
        """
        if not self.recursive and "/" in relpath:
            return False
        if self._exclude_re is not None and self._exclude_re.fullmatch(relpath):
            return False
        return self._include_re is None or self._include_re.fullmatch(relpath) is not None

    def skips_folder(self, relpath: str) -> bool:
        """Whether nothing under the folder at ``relpath`` can count, so a scan
        or a watch need not go into it (``.git``, an excluded tree).

        When this is True, :meth:`includes` is False for every path under the
        folder; when it is False, some files under it may still be excluded.
        """
        if not relpath:
            return False
        if not self.recursive:
            return True
        exclude = self._exclude_re
        return exclude is not None and exclude.fullmatch(relpath + "/") is not None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8741
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Names (``name`` or ``name:port``) a request's ``Host`` may carry besides
    loopback and ``host``: a reverse proxy's name, say."""
    cors_origins: tuple[str, ...] = ()
    """Web origins (``http://name:port``) of a front end served elsewhere that may
    call the API from a browser."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the API (no token needed)."""
        return _is_loopback(self.host)


@dataclass(frozen=True)
class ScanConfig:
    workers: int = 0
    batch_size: int = 256
    thumbnail_size: int = 256
    max_image_pixels: int = 100_000_000
    follow_symlinks: bool = False


@dataclass(frozen=True)
class SearchConfig:
    tag_threshold: float = 0.5
    default_sort: str = "-date"
    page_size: int = 50
    max_page_size: int = 1000
    original_api_limit: int = 1200
    """The most results ``POST /api/query/`` (the original PxIMSE's form) answers
    when the request names no limit: the original's 1200."""
    query_timeout_ms: int = 5000
    dupe_distance: int = 4
    dupe_similarity: float = 0.95
    max_query_image_pixels: int = 100_000_000


@dataclass(frozen=True)
class ModelsConfig:
    allow_download: bool = True
    download_url: str = ""
    device: str = "auto"
    tagger: str = "wd-vit-tagger-v3"
    tagger_path: str = ""
    tag_min_score: float = 0.05
    ocr: str = "rapidocr"
    ocr_min_confidence: float = 0.7
    clip: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_path: str = ""
    clip_quick_gelu: str = "auto"
    clip_runtime: str = "auto"
    clip_precision: str = "fp32"
    batch_size: int = 16


@dataclass(frozen=True)
class WatchConfig:
    """[watch]: following the library roots while the daemon runs."""

    enabled: bool = True
    debounce_ms: int = 400
    rescan_minutes: int = 60
    poll_seconds: int = 10


@dataclass(frozen=True)
class IndexingConfig:
    """[indexing]: the daemon's background model runs."""

    paused: bool = False
    cpu_share: float = 1.0
    only_when_idle: bool = False


@dataclass(frozen=True)
class XmpConfig:
    """[xmp]: tags written to XMP sidecars for digiKam and other photo managers."""

    write: bool = False
    tag_root: str = "PxIMSE"
    threshold: float = 0.5
    character_threshold: float = 0.85
    categories: tuple[str, ...] = (
        "general", "character", "copyright", "artist", "rating", "source",
    )
    ocr_description: bool = False


@dataclass(frozen=True)
class HydrusConfig:
    """[hydrus]: the bridge to a Hydrus Network client's Client API."""

    url: str = "http://127.0.0.1:45869"
    access_key: str = ""
    tag_service: str = ""
    push: bool = False
    tag_threshold: float = 0.5
    push_urls: bool = True
    push_ocr: bool = True
    batch_size: int = 256
    requests_per_second: float = 0.0
    push_interval_s: int = 60
    client_files: str = ""


@dataclass(frozen=True)
class PixivConfig:
    """[pixiv]: fetching Pixiv's metadata for the library's Pixiv works."""

    refresh_token: str = ""
    language: str = "en"
    max_age_days: int = 30
    request_interval_s: float = 2.0
    jitter_s: float = 1.0
    max_retries: int = 5
    backoff_max_s: float = 300.0
    timeout_s: float = 30.0
    background: bool = False
    background_interval_minutes: int = 60
    app_api_url: str = "https://app-api.pixiv.net"
    ajax_url: str = "https://www.pixiv.net"

    def __repr__(self) -> str:
        """Never shows the refresh token (a config object can end up in a log)."""
        shown = "set" if self.refresh_token else "not set"
        return f"PixivConfig(refresh_token=<{shown}>, language={self.language!r}, ...)"


@dataclass(frozen=True)
class BackendConfig:
    """[backend]: where the catalogue, the vectors and the text index live."""

    kind: str = "embedded"
    mongodb_uri: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "pximse"
    milvus_uri: str = ""
    milvus_token: str = ""
    meili_url: str = ""
    meili_key: str = ""
    meili_index: str = "pximse_text"

    def __repr__(self) -> str:
        """Never shows a password or a key (a config object can end up in a log)."""
        return (f"BackendConfig(kind={self.kind!r}, "
                f"mongodb_uri={redact_uri(self.mongodb_uri)!r}, "
                f"mongodb_database={self.mongodb_database!r}, milvus_uri="
                f"{redact_uri(self.milvus_uri)!r}, meili_url={self.meili_url!r}, ...)")


@dataclass(frozen=True)
class Config:
    config_path: Path
    data_dir: Path
    roots: tuple[RootConfig, ...]
    server: ServerConfig
    scan: ScanConfig
    search: SearchConfig
    models: ModelsConfig = ModelsConfig()
    watch: WatchConfig = WatchConfig()
    indexing: IndexingConfig = IndexingConfig()
    xmp: XmpConfig = XmpConfig()
    hydrus: HydrusConfig = HydrusConfig()
    pixiv: PixivConfig = PixivConfig()
    backend: BackendConfig = BackendConfig()

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def thumbnail_dir(self) -> Path:
        return self.data_dir / "thumbnails"


# The sections that are one flat table each, in the file's order: what the
# validator checks and the tests hold the default file and the docs to.
SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "scan": ScanConfig,
    "search": SearchConfig,
    "models": ModelsConfig,
    "watch": WatchConfig,
    "indexing": IndexingConfig,
    "xmp": XmpConfig,
    "hydrus": HydrusConfig,
    "pixiv": PixivConfig,
    "backend": BackendConfig,
}


def _is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.x``,
    ``::1``, bracketed or not); anything else may be reachable from outside,
    which is what decides whether the API needs a token."""
    bare = host.strip("[]")
    if bare.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False
