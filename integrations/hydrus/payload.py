"""What PxIMSE wants a Hydrus client to hold for each image: tags, URLs, the OCR note.

Read from the catalogue in batches and put in Hydrus's terms
(:mod:`~pximse.integrations.hydrus.tagmap`). Model tags pass the threshold;
of a model's ``rating:`` tags only the top one goes (the catalogue keeps every
rating's score; Hydrus users expect one rating). Tags from file names and
manual tags always go. A digest of the whole payload lets a push skip an
image whose payload did not change without asking Hydrus anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.tagmap import creator_tag, hydrus_tag, marker_tag, source_urls
from pximse.query.sql import KIND_MODEL

__all__ = ["NOTE_NAME", "ImagePayload", "PayloadOptions", "read_payloads"]

NOTE_NAME = "ocr"


@dataclass(frozen=True)
class PayloadOptions:
    tag_threshold: float = 0.5
    urls: bool = True
    ocr_note: bool = True
    creator: bool = True

    @classmethod
    def from_config(cls, hydrus: Any) -> PayloadOptions:
        return cls(tag_threshold=hydrus.tag_threshold, urls=hydrus.push_urls,
                   ocr_note=hydrus.push_ocr)


@dataclass(frozen=True)
class ImagePayload:
    sha256: str
    tags: frozenset[str] = frozenset()
    urls: tuple[str, ...] = ()
    note: str | None = None
    digest: str = field(default="", compare=False)

    @staticmethod
    def make(sha256: str, tags: set[str], urls: list[str], note: str | None) -> ImagePayload:
        body = json.dumps([sorted(tags), sorted(set(urls)), note], ensure_ascii=False)
        digest = hashlib.sha1(body.encode()).hexdigest()
        return ImagePayload(sha256, frozenset(tags), tuple(sorted(set(urls))), note, digest)

    @property
    def note_digest(self) -> str:
        return "" if self.note is None else hashlib.sha1(self.note.encode()).hexdigest()


def read_payloads(catalog: Any, content_ids: Sequence[int], options: PayloadOptions
                  ) -> list[ImagePayload]:
    """The payloads of these images, in the order given (unknown ids are left out)."""
    rows = reads_for(catalog).payload_rows(content_ids, notes=options.ocr_note)
    payloads = []
    for content_id in content_ids:
        row = rows.get(content_id)
        if row is None:
            continue
        wanted = _tags(row.tags, options.tag_threshold)
        if options.creator and (creator := creator_tag(row.source, row.user_id,
                                                       row.user_name)):
            wanted.add(creator)
        urls = source_urls(row.source, row.user_id, row.post_id) if options.urls else []
        text = (row.note or "").strip() if options.ocr_note else ""
        payloads.append(ImagePayload.make(row.sha256, wanted, urls, text or None))
    return payloads


def _tags(entries: list[tuple[str, str, int, float]], threshold: float) -> set[str]:
    wanted: set[str] = set()
    ratings: dict[str, tuple[float, str]] = {}
    models: set[str] = set()
    for name, origin, kind, score in entries:
        if kind == KIND_MODEL:
            if name.lower().startswith("rating:"):
                best = ratings.get(origin)
                if best is None or score > best[0]:
                    ratings[origin] = (score, name)
                continue
            if score < threshold:
                continue
            models.add(origin)
        tag = hydrus_tag(name)
        if tag:
            wanted.add(tag)
    for origin, (_, name) in ratings.items():
        models.add(origin)
        if tag := hydrus_tag(name):
            wanted.add(tag)
    wanted.update(marker_tag(origin) for origin in models)
    return wanted
