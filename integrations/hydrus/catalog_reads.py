"""What the Hydrus push reads from the catalogue, on any backend.

The push, the payloads and the sidecars read through :func:`reads_for`, which
puts the catalogue's own reads of many contents at once
(:class:`pximse.store.backends.Catalog`: changed since a generation, files,
sources, tags, OCR text) in the shape a payload is built from. Every backend
gives the same answers for the same writes. The push ledger is a SQLite file
of its own in the data folder whatever the catalogue is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pximse.store.backends import Catalog
from pximse.store.names import parse_name

__all__ = ["HydrusReads", "PayloadRow", "TagRow", "add_md5s", "md5_wanted", "reads_for"]

TagRow = tuple[str, str, int, float]
"""One tag of an image: (name, origin, kind, score)."""


@dataclass
class PayloadRow:
    """What a payload is built from: the image's source columns, tags and OCR text."""

    sha256: str
    source: str
    user_id: str | None
    user_name: str | None
    post_id: str | None
    tags: list[TagRow] = field(default_factory=list)
    note: str | None = None
    note_lines: list[tuple[str, float | None]] | None = None
    """The OCR lines with their confidence (None where OCR gave no score), when known."""
    md5: str | None = None
    """The md5 a booru file's name gives, for a post known by it alone (Danbooru)."""


def add_md5s(rows: dict[int, PayloadRow], names: Iterable[tuple[int, str]]) -> None:
    """The md5 of the Danbooru posts known by md5 alone, from their files' names."""
    for content_id, name in names:
        row = rows.get(content_id)
        if row is not None and row.md5 is None:
            row.md5 = parse_name(name).md5


def md5_wanted(rows: dict[int, PayloadRow]) -> list[int]:
    return [cid for cid, row in rows.items() if row.source == "danbooru" and not row.post_id]


def reads_for(catalog: Catalog) -> HydrusReads:
    return HydrusReads(catalog)


class HydrusReads:
    """The catalogue's reads, as the push, the payloads and the sidecars ask them."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def count_images(self) -> int:
        """Images the catalogue has results for (present or offline)."""
        return self.catalog.count_images()

    def image_ids_after(self, after: int, limit: int) -> list[int]:
        """The next ``limit`` of those images' content ids above ``after``, ascending."""
        return self.catalog.content_ids_after(after, limit)

    def changed_since(self, gen: int) -> tuple[int, list[int]]:
        """The generation up to which every write has been seen, and the images
        written after write generation ``gen`` (ascending)."""
        return self.catalog.changed_since(gen)

    def sha256s(self, ids: Sequence[int]) -> dict[int, str]:
        """The SHA-256 of each of these images the catalogue knows."""
        return {cid: source.sha256 for cid, source in self.catalog.content_sources(ids).items()}

    def payload_rows(self, ids: Sequence[int], *, notes: bool) -> dict[int, PayloadRow]:
        """The rows of these images (unknown ids are left out); ``notes``: read OCR text."""
        rows = {cid: PayloadRow(s.sha256, s.source, s.user_id, s.user_name, s.post_id)
                for cid, s in self.catalog.content_sources(ids).items()}
        for content_id, tags in self.catalog.content_tags(ids).items():
            if content_id in rows:
                rows[content_id].tags = list(tags)  # (name, origin, kind, score) tuples
        if wanted := md5_wanted(rows):
            add_md5s(rows, ((f.content_id, f.name) for f in
                            self.catalog.content_files(wanted, online_only=False)))
        if notes:
            for content_id, ocr in self.catalog.ocr_texts(ids, line_scores=True).items():
                if content_id in rows:
                    rows[content_id].note = ocr.text
                    rows[content_id].note_lines = None if ocr.line_scores is None \
                        else list(ocr.line_scores)
        return rows

    def online_files(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """(path, sha256) of every online file of these images."""
        return [(f.path, f.sha256) for f in self.catalog.content_files(ids)]
