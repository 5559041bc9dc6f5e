"""What PxIMSE wants a Hydrus client to hold for each image: tags, URLs, the OCR note.

Read from the catalogue in batches and put in Hydrus's terms
(:mod:`~pximse.integrations.hydrus.tagmap`). Model tags pass the threshold;
of a model's ``rating:`` tags only the top one goes (the catalogue keeps every
rating's score; Hydrus users expect one rating). Tags from file names and
manual tags always go. A digest of the whole payload lets a push skip an
image whose payload did not change without asking Hydrus anything.

The OCR note carries only text worth keeping (:func:`note_text`): OCR finds
``■``, ``1`` or ``--`` on images without any text, and a note is something a
Hydrus user reads, so a line goes only when the recogniser was sure of it and
the note only when it has a few letters or digits in it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.tagmap import creator_tag, hydrus_tag, marker_tag, source_urls
from pximse.store.content_fields import KIND_MODEL

__all__ = ["NOTE_MIN_CONFIDENCE", "NOTE_MIN_WEIGHT", "NOTE_NAME", "ImagePayload",
           "PayloadOptions", "note_text", "read_payloads"]

NOTE_NAME = "ocr"
NOTE_MIN_CONFIDENCE = 0.8
"""A line goes into the note when the recogniser gave it at least this (the OCR
stage itself keeps lines from 0.7, for search)."""
NOTE_MIN_WEIGHT = 3
"""A note needs this much text: a letter or digit counts 1, a CJK character,
kana or hangul 2 (``yes``, ``はい``, ``1st`` are notes; ``1``, ``ok``, ``■`` are not)."""


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
        urls = source_urls(row.source, row.user_id, row.post_id, row.md5) if options.urls else []
        text = note_text(row.note, row.note_lines) if options.ocr_note else None
        payloads.append(ImagePayload.make(row.sha256, wanted, urls, text))
    return payloads


def _weight(text: str) -> int:
    weight = 0
    for char in text:
        if not unicodedata.category(char).startswith(("L", "N")):
            continue
        wide = unicodedata.east_asian_width(char) in ("W", "F") or "\u1100" <= char <= "\u11ff"
        weight += 2 if wide else 1
    return weight


def note_text(text: str | None, lines: list[tuple[str, float | None]] | None = None
              ) -> str | None:
    """The OCR text worth a note, or None. With ``lines`` (text, confidence), only
    the lines recognised with :data:`NOTE_MIN_CONFIDENCE` or more (a line without
    a score counts) and holding a letter or digit; the whole must weigh
    :data:`NOTE_MIN_WEIGHT`.

    >>> note_text("■"), note_text("1 --"), note_text("ok"), note_text("はい")
    (None, None, None, 'はい')
    >>> note_text("ignored", [("Thank you!", 0.97), ("~", 0.99), ("x7%q", 0.71)])
    'Thank you!'
    """
    if lines is not None:
        kept = [line.strip() for line, confidence in lines
                if (confidence is None or confidence >= NOTE_MIN_CONFIDENCE) and _weight(line)]
        text = "\n".join(line for line in kept if line)
    text = (text or "").strip()
    return text if _weight(text) >= NOTE_MIN_WEIGHT else None


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
