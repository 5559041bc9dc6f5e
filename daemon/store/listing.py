"""What a full listing of search results adds to their summaries, whatever the catalogue.

A result page carries summaries (:class:`~pximse.store.records.ImageSummary`);
a client that shows every field of every result (the original PxIMSE front
end's answer, say) needs more: every tag with its score, the OCR text, the
Pixiv counts and caption, and where each file sits in its library root. Both
catalogues read that for a whole page at once (``result_details``), in a few
queries rather than one image at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pximse.store.pathtext import os_path, readable

__all__ = ["ListedFile", "ResultDetails", "listed_file"]


@dataclass(frozen=True)
class ListedFile:
    """One file of a result, and where it sits in its library root."""

    path: str
    """The whole path, readable (see :mod:`pximse.store.pathtext`)."""
    name: str
    root: str
    """The root's name."""
    folder: str
    """The folder below the root, ``/``-separated; ``""`` for the root itself."""
    online: bool


@dataclass
class ResultDetails:
    files: list[ListedFile] = field(default_factory=list)
    """Online files first, then in the order they were found (the summary's
    ``path`` is the first one's)."""
    model_tags: dict[str, float] = field(default_factory=dict)
    """The tags a tagger gave (those scored at least the asked minimum), with
    their best score, best first."""
    source_tags: list[str] = field(default_factory=list)
    """Tags from the source (Pixiv, file names) and manual ones, in tag-key order."""
    ocr_text: str | None = None
    title: str | None = None
    caption: str | None = None
    """Pixiv's caption of the work (HTML), once fetched."""
    views: int | None = None
    bookmarks: int | None = None
    likes: int | None = None
    comments: int | None = None
    ai: bool | None = None
    r18: bool | None = None
    pixiv_state: str | None = None


def listed_file(path: str, name: str, folder: str, root: str, root_path: str, state: str
                ) -> ListedFile:
    """A file row (stored forms) as a :class:`ListedFile`."""
    below = ""
    folder_text, root_text = os_path(folder), os_path(root_path).rstrip("/\\")
    rest = folder_text[len(root_text):] if folder_text.startswith(root_text) else ""
    if rest[:1] in ("/", os.sep):
        below = rest.strip("/" + os.sep)
        if os.sep != "/":
            below = below.replace(os.sep, "/")
    return ListedFile(readable(path), readable(name), root, readable(below), state == "ok")
