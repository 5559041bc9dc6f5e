"""What a catalogue hands back: plain dataclasses, the same for every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def epoch_to_iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ImageSummary:
    """One search result: the content, and the path to show for it."""

    id: str
    path: str | None
    width: int
    height: int
    filesize: int
    format: str
    frames: int
    animated: bool
    date: str | None
    source: str
    user_id: str | None
    user_name: str | None
    post_id: str | None
    page: int | None
    posted: str | None
    work_key: str | None
    tagcount: int
    textlen: int | None
    offline: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TagEntry:
    name: str
    origin: str
    kind: str  # model | source | manual
    score: float


@dataclass
class FileEntry:
    path: str
    root: str
    size: int
    mtime: str | None
    state: str


@dataclass
class ImageDetail(ImageSummary):
    sha256: str = ""
    phash: str | None = None
    title: str | None = None
    paths: list[FileEntry] = field(default_factory=list)
    tags: list[TagEntry] = field(default_factory=list)
    ocr_text: str | None = None
    ocr_model: str | None = None
    ocr_lines: list[dict[str, Any]] = field(default_factory=list)  # text, box, confidence
    stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SearchPage:
    total: int
    offset: int
    limit: int
    items: list[ImageSummary]
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "items": [item.to_json() for item in self.items],
        }
