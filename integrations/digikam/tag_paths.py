"""Which of an image's catalogue tags go into its sidecar, and under which paths.

A tag becomes one keyword path under the configured root: ``PxIMSE/general/long
hair`` in digiKam's ``TagsList`` (``/``-separated), ``PxIMSE|general|long hair``
in Lightroom's ``hierarchicalSubject`` (``|``-separated), and its leaf ``long
hair`` in ``dc:subject``. Confidences stay in the catalogue: the sidecar only
says which tags passed the threshold.

>>> options = TagOptions(root="PxIMSE")
>>> keywords = image_keywords(
...     [("long_hair", 0, 0.9), ("character:hatsune_miku", 0, 0.95),
...      ("rating:general", 0, 0.8), ("rating:sensitive", 0, 0.2), ("smile", 0, 0.3)],
...     source="pixiv", user_name=None, options=options)
>>> keywords.tags_list[:2]
('PxIMSE/general/long hair', 'PxIMSE/character/hatsune miku')
>>> keywords.tags_list[2:]
('PxIMSE/rating/general', 'PxIMSE/source/pixiv')
>>> keywords.subjects
('long hair', 'hatsune miku', 'general', 'pixiv')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORIES",
    "ImageKeywords",
    "TagOptions",
    "display_name",
    "image_keywords",
]

CATEGORIES: tuple[str, ...] = (
    "general", "character", "copyright", "artist", "meta", "rating", "source",
)
"""Every category a path can have. ``source`` is the site the image came from
(``pixiv``, ``twitter``, ``yandere``...), ``artist`` its artist (a tag's
``artist:`` namespace, or the user name the file name carries), ``rating`` the
top rating the tagger gave; the others are tag namespaces (no namespace:
``general``)."""

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "general", "character", "copyright", "artist", "rating", "source",
)

_NAMESPACES = {
    "character": "character",
    "copyright": "copyright",
    "series": "copyright",
    "artist": "artist",
    "creator": "artist",
    "meta": "meta",
    "rating": "rating",
}

# Danbooru tags whose underscores are part of the face, not word separators
# (the list the WD14 taggers' reference code keeps as it is).
_KAOMOJI = frozenset({
    "0_0", "(o)_(o)", "+_+", "+_-", "._.", "<o>_<o>", "<|>_<|>", "=_=", ">_<", "3_3",
    "6_9", ">_o", "@_@", "^_^", "o_o", "u_u", "x_x", "|_|", "||_||",
})

KIND_MODEL = 0
"""``image_tag.kind`` of a tagger's tags (the only ones a threshold applies to)."""


@dataclass(frozen=True)
class TagOptions:
    """What goes into a sidecar (the ``[xmp]`` settings). ``root`` is one path
    level: no ``/`` or ``|`` (the configuration checks it)."""

    root: str = "PxIMSE"
    threshold: float = 0.5
    character_threshold: float = 0.85
    categories: tuple[str, ...] = DEFAULT_CATEGORIES


@dataclass(frozen=True)
class ImageKeywords:
    """PxIMSE's keywords for one image, in the three forms a sidecar holds."""

    tags_list: tuple[str, ...] = ()
    hierarchical: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tags_list)


def display_name(name: str) -> str:
    """A tag as people write it: ``long_hair`` -> ``long hair`` (kaomoji such as
    ``^_^`` kept), and without the characters that separate path levels (``/``
    in digiKam, ``|`` in Lightroom), which become their full-width forms."""
    text = name.strip()
    if text not in _KAOMOJI:
        text = " ".join(text.replace("_", " ").split())
    return text.replace("/", "\uff0f").replace("|", "\uff5c")


def split_category(name: str) -> tuple[str, str]:
    """(category, bare name) of a catalogue tag name."""
    namespace, colon, rest = name.partition(":")
    if colon and rest and namespace.lower() in _NAMESPACES:
        return _NAMESPACES[namespace.lower()], rest
    return "general", name


def image_keywords(
    tags: Iterable[tuple[str, int, float]],
    *,
    source: str | None,
    user_name: str | None,
    options: TagOptions,
) -> ImageKeywords:
    """The keywords for an image from its catalogue tags (name, kind, score), the
    source site and artist the catalogue knows. A tagger's tags count from the
    threshold up (characters from ``character_threshold``); tags from sources
    and manual tags always count; of the ratings only the highest-scoring one."""
    wanted = set(options.categories)
    chosen: set[tuple[str, str]] = set()
    best_rating: tuple[float, str] | None = None
    for name, kind, score in tags:
        category, bare = split_category(name)
        if category not in wanted:
            continue
        if category == "rating":
            if best_rating is None or score > best_rating[0]:
                best_rating = (score, bare)
            continue
        if kind == KIND_MODEL:
            limit = options.character_threshold if category == "character" else options.threshold
            if score < limit:
                continue
        chosen.add((category, display_name(bare)))
    if best_rating is not None:
        chosen.add(("rating", display_name(best_rating[1])))
    if source and source != "other" and "source" in wanted:
        chosen.add(("source", display_name(source)))
    if user_name and "artist" in wanted:
        chosen.add(("artist", display_name(user_name)))
    chosen = {(category, leaf) for category, leaf in chosen if leaf}
    order = {category: index for index, category in enumerate(CATEGORIES)}
    ordered = sorted(chosen, key=lambda item: (order[item[0]], item[1]))
    root = options.root
    return ImageKeywords(
        tags_list=tuple(f"{root}/{category}/{leaf}" for category, leaf in ordered),
        hierarchical=tuple(f"{root}|{category}|{leaf}" for category, leaf in ordered),
        subjects=tuple(dict.fromkeys(leaf for _, leaf in ordered)),
    )
