"""The per-file work a scan hands to its process pool.

``identify_file`` decides cheaply whether a file is an image (a look at its
first bytes) and hashes it; ``probe_for_catalog`` decodes content the catalogue
has never seen. Both take and return picklable values only.
"""

from __future__ import annotations

import os
from pathlib import Path

from pximse.library.filekinds import open_regular
from pximse.library.probe import ImageFacts, ProbeFailure, probe_image, sha256_file, sniff_format
from pximse.store.sqlite.catalog import FileRecord

IMAGE_EXTENSIONS = frozenset(
    ".png .apng .jpg .jpeg .jpe .jfif .gif .webp .bmp .dib .tif .tiff .avif .avifs".split()
)
"""Names that promise an image: when the content is not one, that is an error to report.
Other files that turn out not to be images are skipped quietly."""


def identify_file(job: tuple[str, int, int]) -> FileRecord:
    path, size, mtime_ns = job
    promised = os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS
    try:
        with open_regular(path) as handle:  # a pipe swapped in would block a plain open
            head = handle.read(64)
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
        return FileRecord(path, size, mtime_ns, "ok", sha256_file(path))
    except OSError as exc:
        return FileRecord(path, size, mtime_ns, "error", None, "unreadable",
                          f"cannot read the file: {exc.strerror or exc}")


def probe_for_catalog(job: tuple[str, str, int, int]) -> ImageFacts | ProbeFailure:
    path, thumbnail_dir, thumbnail_size, max_pixels = job
    return probe_image(
        path, Path(thumbnail_dir), thumbnail_size=thumbnail_size, max_pixels=max_pixels
    )
