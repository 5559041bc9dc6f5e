"""What the catalogue says each image's sidecar should hold, and which images
a command or the follower has to look at."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pximse.integrations.digikam.sidecar_writer import SidecarJob
from pximse.integrations.digikam.tag_paths import TagOptions, image_keywords
from pximse.store.records import ContentFile, ContentSource, ContentTag, OcrText

__all__ = [
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
    """The catalogue does not offer the reads the sidecars are written from."""


@runtime_checkable
class _SidecarReads(Protocol):
    """The catalogue calls the sidecars are written from (every backend of
    :class:`pximse.store.backends.Catalog` offers them)."""

    def identity(self) -> str: ...
    def settled_generation(self) -> int: ...
    def changed_since(self, generation: int, *, include_offline: bool = True
                      ) -> tuple[int, list[int]]: ...
    def content_ids_after(self, after: int = 0, limit: int | None = None, *,
                          include_offline: bool = True) -> list[int]: ...
    def content_files(self, content_ids: Sequence[int], *, online_only: bool = True
                      ) -> list[ContentFile]: ...
    def content_sources(self, content_ids: Sequence[int]) -> dict[int, ContentSource]: ...
    def content_tags(self, content_ids: Sequence[int]) -> dict[int, list[ContentTag]]: ...
    def ocr_texts(self, content_ids: Sequence[int], *, line_scores: bool = False
                  ) -> dict[int, OcrText]: ...


def supports(catalog: object) -> bool:
    return isinstance(catalog, _SidecarReads)


def _reads(catalog: object) -> _SidecarReads:
    if not isinstance(catalog, _SidecarReads):
        raise CatalogUnsupported(
            "XMP sidecars are written from the SQLite or the MongoDB catalogue; "
            f"{type(catalog).__name__} is not supported"
        )
    return catalog


def write_generation(catalog: object) -> int:
    """The catalogue's settled write generation: every content row a later write
    touches (tags, OCR text, files) gets a higher one, and every write up to it
    has finished (so none is half-seen)."""
    return _reads(catalog).settled_generation()


def changed_content_ids(catalog: object, since: int) -> list[int]:
    """Online contents written after generation ``since``, in id order."""
    return _reads(catalog).changed_since(since, include_offline=False)[1]


def catalog_identity(catalog: object) -> str:
    return _reads(catalog).identity()


def all_content_ids(catalog: object) -> list[int]:
    """Every online content, in id order."""
    return _reads(catalog).content_ids_after(include_offline=False)


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


def online_paths(catalog: object, content_ids: Sequence[int]) -> list[str]:
    """The paths of these contents' online files, in every root."""
    reads = _reads(catalog)
    return [file.path for part in _chunks(list(content_ids))
            for file in reads.content_files(part)]


def sidecar_jobs(
    catalog: object,
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
    reads = _reads(catalog)
    jobs: list[SidecarJob] = []
    for part in _chunks(list(content_ids)):
        files: dict[int, list[str]] = defaultdict(list)
        for file in reads.content_files(part):
            if every_root or settings.writes(file.root):
                files[file.content_id].append(file.path)
        if not files:
            continue
        wanted = list(files)
        tags = reads.content_tags(wanted)
        about = reads.content_sources(wanted)
        ocr = reads.ocr_texts(wanted) if with_ocr else {}
        for content_id, paths in files.items():
            source = about.get(content_id)
            keywords = image_keywords(
                sorted((name, kind, score) for name, _origin, kind, score
                       in tags.get(content_id, ())),
                source=None if source is None else source.source,
                user_name=None if source is None else source.user_name,
                options=settings.options,
            )
            found = ocr.get(content_id)
            text = (found.text if found else "").strip()
            for path in paths:
                jobs.append(SidecarJob(path, keywords, text, content_id))
    return jobs
