"""What a catalogue hands back: plain dataclasses, the same for every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple


def iso_to_epoch(value: str) -> int:
    """Seconds since the epoch for an ISO-8601 date or date-time read as UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


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
        # Every field is a plain value: a shallow copy is asdict's answer, 10x faster
        # (a page of results holds up to thousands).
        return dict(vars(self))


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


@dataclass(frozen=True)
class PixivTag:
    name: str
    translation: str | None = None


@dataclass
class PixivWork:
    """What Pixiv said about one work (an illust id), and when.

    ``state`` is ``ok``, ``deleted`` (Pixiv answered that the work does not
    exist) or ``private`` (it exists but is hidden: private, My pixiv only).
    A work that disappears keeps what was known of it before. ``via`` says
    which door answered: ``app`` (the app API, with a refresh token) or
    ``ajax`` (the public web endpoint). Times are epoch seconds.
    """

    illust_id: str
    state: str
    via: str
    fetched_at: int
    title: str | None = None
    caption: str | None = None
    created: int | None = None
    views: int | None = None
    bookmarks: int | None = None
    likes: int | None = None
    comments: int | None = None
    user_id: str | None = None
    user_name: str | None = None
    ai: bool | None = None
    r18: bool | None = None
    x_restrict: int | None = None
    pages: int | None = None
    tags: list[PixivTag] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The image detail's ``pixiv`` object."""
        return {
            "illust_id": self.illust_id,
            "state": self.state,
            "title": self.title,
            "caption": self.caption,
            "created": epoch_to_iso(self.created),
            "views": self.views,
            "bookmarks": self.bookmarks,
            "likes": self.likes,
            "comments": self.comments,
            "tags": [{"name": tag.name, "translation": tag.translation} for tag in self.tags],
            "user_id": self.user_id,
            "user_name": self.user_name,
            "ai": self.ai,
            "r18": self.r18,
            "pages": self.pages,
            "fetched_at": epoch_to_iso(self.fetched_at),
            "via": self.via,
        }


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
    pixiv: dict[str, Any] | None = None  # PixivWork.to_json(), once fetched

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the paths and tags are dataclasses too


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


# -- what the integrations and the search page read of many contents at once -------
# Named tuples: these come by the hundred thousand (a tag per image and origin),
# and a tuple is made several times faster than a dataclass.


class ContentFile(NamedTuple):
    """A file holding a content, as the catalogue recorded it."""

    content_id: int
    sha256: str
    path: str  # as the OS holds it
    name: str  # the file's name, what filename parsers read
    root: str  # the name of its library root


class ContentSource(NamedTuple):
    """Where a content came from: its site and the artist and post there."""

    sha256: str
    source: str
    user_id: str | None
    user_name: str | None
    post_id: str | None


class ContentTag(NamedTuple):
    """One tag of a content as one origin gave it (a tagger's model id, a site)."""

    name: str
    origin: str
    kind: int  # KIND_MODEL, KIND_SOURCE or KIND_MANUAL (store.content_fields)
    score: float


class OcrText(NamedTuple):
    """A content's OCR text and, when asked for, each line with its confidence
    (None where OCR gave no score; ``line_scores`` None where no lines are kept)."""

    text: str
    line_scores: tuple[tuple[str, float | None], ...] | None = None


@dataclass
class TagTally:
    """The tags a set of images carries, each with how many of them carry it and
    whether a tagger gave it (to any of them); and their artists,
    ``(user_name, user_id, source)``, with how many images each has."""

    tags: dict[str, tuple[int, bool]]
    artists: dict[tuple[str | None, str | None, str | None], int]
