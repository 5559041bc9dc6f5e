"""The per-file work a scan hands to its process pool.

``read_new_file`` is the one read of a new or changed file: a look at its
first bytes decides whether it is an image, the whole file is read and hashed,
and, when the catalogue does not know the hash (asked through a
``ContentLookup``), the same bytes are decoded into the facts, the pHash and
the thumbnail. A known hash (a move, a rename, a copy) is only hashed.

``identify_file`` (hash only) and ``probe_for_catalog`` (a second read that
decodes) serve catalogues that offer no lookup. All take and return picklable
values only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from pximse.library.filekinds import NotRegularFile, open_regular
from pximse.library.probe import (
    SNIFF_SIZE,
    Hashed,
    ImageFacts,
    ProbeFailure,
    probe_image,
    probe_open,
    sha256_open,
    sniff_format,
)
from pximse.store.scan_records import FileRecord

IMAGE_EXTENSIONS = frozenset(
    ".png .apng .jpg .jpeg .jpe .jfif .gif .webp .bmp .dib .tif .tiff .avif .avifs".split()
)
"""Names that promise an image: when the content is not one, that is an error to report.
Other files that turn out not to be images are skipped quietly."""


class KnownContent(Protocol):
    def knows(self, sha256: str) -> bool: ...


def identify_file(job: tuple[str, int, int]) -> FileRecord:
    path, size, mtime_ns = job
    try:
        with open_regular(path) as handle:  # a pipe swapped in would block a plain open
            head = handle.read(SNIFF_SIZE)
            refused = _refused(path, size, mtime_ns, head)
            if refused is not None:
                return refused
            return FileRecord(path, size, mtime_ns, "ok", sha256_open(handle))
    except NotRegularFile as exc:
        return special_record(path, mtime_ns, exc.kind)
    except OSError as exc:
        return _unreadable(path, size, mtime_ns, exc)


def read_new_file(job: tuple[str, int, int, str, int, int, KnownContent]
                  ) -> tuple[FileRecord, ImageFacts | ProbeFailure | None]:
    """One read of a new or changed file: its record, and what decoding it found
    (None when it was only hashed: not an image, or content the catalogue knows)."""
    path, size, mtime_ns, thumbnail_dir, thumbnail_size, max_pixels, known = job
    try:
        with open_regular(path) as handle:  # a pipe swapped in would block a plain open
            head = handle.read(SNIFF_SIZE)
            refused = _refused(path, size, mtime_ns, head)
            if refused is not None:
                return refused, None
            found = probe_open(handle, path, os.fstat(handle.fileno()).st_size,
                               Path(thumbnail_dir), thumbnail_size=thumbnail_size,
                               max_pixels=max_pixels,
                               wanted=lambda sha256: not known.knows(sha256))
    except NotRegularFile as exc:  # swapped for a pipe or a socket since the walk
        return special_record(path, mtime_ns, exc.kind), None
    except OSError as exc:
        return _unreadable(path, size, mtime_ns, exc), None
    if isinstance(found, Hashed):
        return FileRecord(path, size, mtime_ns, "ok", found.sha256), None
    if isinstance(found, ImageFacts):
        return FileRecord(path, size, mtime_ns, "ok", found.sha256), found
    if found.sha256 is None:  # unreadable midway
        return FileRecord(path, size, mtime_ns, "error", None, found.reason,
                          found.message), found
    return FileRecord(path, size, mtime_ns, "ok", found.sha256), found


def probe_for_catalog(job: tuple[str, str, int, int]) -> ImageFacts | ProbeFailure:
    path, thumbnail_dir, thumbnail_size, max_pixels = job
    return probe_image(
        path, Path(thumbnail_dir), thumbnail_size=thumbnail_size, max_pixels=max_pixels
    )


def special_record(path: str, mtime_ns: int, kind: str | None) -> FileRecord:
    """The record of a pipe, socket or device: skipped with its kind, never opened
    for reading."""
    return FileRecord(path, 0, mtime_ns, "skipped", None, "special",
                      f"{kind}, not a regular file: not read" if kind
                      else "not a regular file: not read")


def _refused(path: str, size: int, mtime_ns: int, head: bytes) -> FileRecord | None:
    """The record of a file that is no image to index, judged by its first bytes."""
    promised = os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS
    if not head:
        if promised:
            return FileRecord(path, size, mtime_ns, "error", None, "empty",
                              "the file is empty (0 bytes)")
        return FileRecord(path, size, mtime_ns, "skipped", None, "empty")
    if sniff_format(head) is None:
        if promised:
            return FileRecord(
                path, size, mtime_ns, "error", None, "not-image",
                "the name says image but the content is not a supported image format",
            )
        return FileRecord(path, size, mtime_ns, "skipped", None, "not-image")
    return None


def _unreadable(path: str, size: int, mtime_ns: int, exc: OSError) -> FileRecord:
    return FileRecord(path, size, mtime_ns, "error", None, "unreadable",
                      f"cannot read the file: {exc.strerror or exc}")
