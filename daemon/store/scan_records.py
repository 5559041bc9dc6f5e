"""What a scan hands to a catalogue: plain dataclasses, the same for every backend.

Kept apart from the catalogues so that the scan's worker processes, which
build these, import nothing heavier.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NewContent:
    """What the scanner learned by decoding a file (see ``library.probe.ImageFacts``)."""

    sha256: str
    filesize: int
    format: str
    width: int
    height: int
    frames: int
    animated: bool
    phash: int | None
    thumbnail: bool
    mtime_ns: int
    phash_version: int = 1


@dataclass(frozen=True)
class FileRecord:
    """One file's row after a scan looked at it."""

    path: str
    size: int
    mtime_ns: int
    state: str  # ok | skipped | error
    sha256: str | None = None
    reason: str | None = None
    error: str | None = None


@dataclass
class ScanBatch:
    root_id: int
    new_content: list[NewContent] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)  # file ids back online, unchanged
    removed: list[int] = field(default_factory=list)  # file ids no longer on disk

    def __len__(self) -> int:
        return len(self.new_content) + len(self.files) + len(self.restored) + len(self.removed)
