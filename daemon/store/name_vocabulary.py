"""The configured tagger's tag list, for reading Danbooru's file names.

Danbooru's file names join characters and copyrights with ``_``; which words
make a character only a tag list can say. The tagger PxIMSE runs has one, in
its model folder: WD14's ``selected_tags.csv`` (``tag_id,name,category,count``,
category 4 for characters, 3 for copyrights where a list has them) or
DeepDanbooru's ``tags-character.txt``. It is read when a catalogue is opened
from the configuration (:func:`use_tag_vocabulary`); before the tagger's files
are there, there is none, and Danbooru names keep that part as their title;
the folder is looked at again every 30 seconds, so a list that appears (the
first run downloads it) is used from then on.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from pathlib import Path
from typing import Any

from pximse.store.names import TagVocabulary, set_default_vocabulary

__all__ = ["load_vocabulary", "tagger_folder", "use_tag_vocabulary"]

log = logging.getLogger(__name__)

WD14_TAGS = "selected_tags.csv"
DEEPDANBOORU_CHARACTERS = "tags-character.txt"
_CATEGORIES = {"3": "copyright", "4": "character"}

RECHECK_S = 30.0
"""How often the tagger's folder is looked at again for a tag list that appeared
(the first run downloads it after the first scan) or changed."""


def tagger_folder(config: Any) -> Path:
    """Where the configured tagger's files are: ``[models] tagger_path``, else its
    folder in the data folder's model cache."""
    models = config.models
    if models.tagger_path:
        return Path(models.tagger_path).expanduser()
    return Path(config.data_dir, "models", models.tagger)


def load_vocabulary(folder: Path) -> TagVocabulary | None:
    """The tag list in a tagger's folder, or None when it has none that names
    characters."""
    wd14 = folder / WD14_TAGS
    if wd14.is_file():
        with wd14.open(newline="", encoding="utf-8") as f:
            rows = [(row.get("name") or "", _CATEGORIES.get(str(row.get("category")), ""),
                     int(row.get("count") or 0)) for row in csv.DictReader(f)]
        vocabulary = TagVocabulary.from_tags(rows)
        return vocabulary or None
    characters = folder / DEEPDANBOORU_CHARACTERS
    if characters.is_file():
        names = [line.strip() for line in characters.read_text("utf-8").splitlines()]
        vocabulary = TagVocabulary.from_tags((name, "character", 0) for name in names if name)
        return vocabulary or None
    return None


class _FolderVocabulary:
    """The tag list of a tagger's folder, read again when its file changes (looked
    at no more than every :data:`RECHECK_S` seconds)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._key: tuple[str, int, int] | None = None
        self._vocabulary: TagVocabulary | None = None
        self._checked = -RECHECK_S

    def __call__(self) -> TagVocabulary | None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= RECHECK_S:
                self._checked = now
                self._refresh()
            return self._vocabulary

    def _refresh(self) -> None:
        key = None
        for name in (WD14_TAGS, DEEPDANBOORU_CHARACTERS):
            try:
                stat = (self.folder / name).stat()
            except OSError:
                continue
            key = (name, stat.st_mtime_ns, stat.st_size)
            break
        if key == self._key:
            return
        self._key = key
        try:
            self._vocabulary = load_vocabulary(self.folder) if key else None
        except (OSError, ValueError, csv.Error) as exc:
            log.warning("cannot read the tag list in %s (%s): Danbooru file names are read "
                        "without it", self.folder, exc)
            self._vocabulary = None


def use_tag_vocabulary(config: Any) -> TagVocabulary | None:
    """Make the configured tagger's tag list the one file names are read with (from
    now on, and as soon as it appears); the list as it is now."""
    source = _FolderVocabulary(tagger_folder(config))
    set_default_vocabulary(source)
    return source()
