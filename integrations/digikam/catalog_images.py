"""What the catalogue says each image's sidecar should hold, and which images
a command or the follower has to look at."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pximse.integrations.digikam.sidecar_writer import SidecarJob
from pximse.integrations.digikam.tag_paths import TagOptions, image_keywords

__all__ = [
    "CatalogImages",
    "CatalogUnsupported",
    "XmpSettings",
    "all_content_ids",
    "catalog_identity",
    "changed_content_ids",
    "online_paths",
    "query_content_ids",
    "sidecar_jobs",
    "supports",
    "write_generation",
]

_CHUNK = 500


@dataclass(frozen=True)
class XmpSettings:
    """The ``[xmp]`` settings and which roots write sidecars."""

    options: TagOptions
    ocr_description: bool
    default_on: bool  # [xmp] write: roots without their own switch
    root_switches: dict[str, bool]  # root name -> its own xmp key, where set

    @classmethod
    def from_config(cls, config: Any) -> XmpSettings:
        xmp = config.xmp
        return cls(
            options=TagOptions(
                root=xmp.tag_root, threshold=xmp.threshold,
                character_threshold=xmp.character_threshold,
                categories=tuple(xmp.categories),
            ),
            ocr_description=xmp.ocr_description,
            default_on=xmp.write,
            root_switches={r.name: r.xmp for r in config.roots if r.xmp is not None},
        )

    def writes(self, root_name: str) -> bool:
        return self.root_switches.get(root_name, self.default_on)

    @property
    def any_on(self) -> bool:
        return self.default_on or any(self.root_switches.values())

    def fingerprint(self) -> str:
        """Changes whenever what a sidecar should hold changes (so the follower
        starts over)."""
        o = self.options
        return repr((o.root, o.threshold, o.character_threshold, sorted(o.categories),
                     self.ocr_description, self.default_on, sorted(self.root_switches.items())))


class CatalogUnsupported(RuntimeError):
    """The catalogue is neither the embedded SQLite one nor the MongoDB one."""


class CatalogImages(Protocol):
    """The catalogue's rows behind the sidecars, as each backend reads them
    (:mod:`~pximse.integrations.digikam.sqlite_images`,
    :mod:`~pximse.integrations.digikam.mongo_images`)."""

    identity: str  # which catalogue: sidecar state kept for another one starts over

    def write_generation(self) -> int: ...
    def changed_content_ids(self, since: int) -> list[int]: ...
    def all_content_ids(self) -> list[int]: ...
    def online_files(self, content_ids: Sequence[int]) -> list[tuple[str, int, str]]: ...
    def tags(self, content_ids: Sequence[int]) -> dict[int, list[tuple[str, int, float]]]: ...
    def about(self, content_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]: ...
    def ocr_texts(self, content_ids: Sequence[int]) -> dict[int, str]: ...


def supports(catalog: Any) -> bool:
    return hasattr(catalog, "mdb") or callable(getattr(getattr(catalog, "db", None), "reader",
                                                       None))


def _images(catalog: Any) -> CatalogImages:
    """The one place the backends part: MongoDB (``catalog.mdb``) or SQLite."""
    if hasattr(catalog, "mdb"):
        from pximse.integrations.digikam.mongo_images import MongoImages

        return MongoImages(catalog)
    if not supports(catalog):
        raise CatalogUnsupported(
            "XMP sidecars are written from the SQLite or the MongoDB catalogue; "
            f"{type(catalog).__name__} is not supported"
        )
    from pximse.integrations.digikam.sqlite_images import SqliteImages

    return SqliteImages(catalog)


def write_generation(catalog: Any) -> int:
    """The catalogue's last finished write generation: every content row a later
    write touches (tags, OCR text, files) gets a higher one."""
    return _images(catalog).write_generation()


def changed_content_ids(catalog: Any, since: int) -> list[int]:
    """Contents written after generation ``since``, in id order."""
    return _images(catalog).changed_content_ids(since)


def catalog_identity(catalog: Any) -> str:
    return _images(catalog).identity


def all_content_ids(catalog: Any) -> list[int]:
    return _images(catalog).all_content_ids()


def query_content_ids(catalog: Any, text: str, *, page: int = 10_000) -> list[int]:
    """The images a query selects (raises ``QueryError`` for a bad query)."""
    from pximse.query.parse import parse_query

    query = parse_query(text)
    shas: list[str] = []
    offset = 0
    while True:
        result = catalog.search(query, limit=page, offset=offset, count=False,
                                timeout_ms=600_000)
        shas.extend(item.id for item in result.items)
        if len(result.items) < page:
            break
        offset += page
    ids = catalog.content_ids(shas)
    return sorted(ids[sha] for sha in shas if sha in ids)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def online_paths(catalog: Any, content_ids: Sequence[int]) -> list[str]:
    """The paths of these contents' online files, in every root."""
    images = _images(catalog)
    return [path for part in _chunks(list(content_ids))
            for path, _content_id, _root in images.online_files(part)]


def sidecar_jobs(
    catalog: Any,
    content_ids: Sequence[int],
    settings: XmpSettings,
    *,
    every_root: bool = False,
    with_ocr: bool | None = None,
) -> list[SidecarJob]:
    """One job per file of these contents (online, in a root that writes
    sidecars, or any root with ``every_root``), with the keywords and (when
    ``with_ocr``, by default ``ocr_description``) the OCR text the catalogue
    has for it."""
    if with_ocr is None:
        with_ocr = settings.ocr_description
    images = _images(catalog)
    jobs: list[SidecarJob] = []
    for part in _chunks(list(content_ids)):
        files: dict[int, list[str]] = defaultdict(list)
        for path, content_id, root in images.online_files(part):
            if every_root or settings.writes(root):
                files[content_id].append(path)
        if not files:
            continue
        wanted = list(files)
        tags = images.tags(wanted)
        about = images.about(wanted)
        ocr = images.ocr_texts(wanted) if with_ocr else {}
        for content_id, paths in files.items():
            source, user = about.get(content_id, (None, None))
            keywords = image_keywords(
                sorted(tags.get(content_id, ())), source=source, user_name=user,
                options=settings.options,
            )
            text = (ocr.get(content_id) or "").strip()
            for path in paths:
                jobs.append(SidecarJob(path, keywords, text, content_id))
    return jobs
