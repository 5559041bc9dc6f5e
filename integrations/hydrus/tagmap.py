"""PxIMSE's tags and sources in Hydrus's terms.

Hydrus lowercases tags and keeps underscores as they are, so ``long_hair``
would become a second tag beside the ``long hair`` its users (and the PTR)
have: underscores become spaces, except in kaomoji such as ``^_^`` where the
underscore is the mouth. Namespaces follow Hydrus's habits (``character:``,
``creator:``, ``series:``, ``rating:``). Which model's results these are goes
along as ``pximse:<model id>``, so that a Hydrus search can find (or a user
can clear) one model's work.

>>> hydrus_tag("long_hair")
'long hair'
>>> hydrus_tag("character:hatsune_miku")
'character:hatsune miku'
>>> hydrus_tag("^_^")
'^_^'
>>> hydrus_tag("artist:Wlop")
'creator:wlop'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "KAOMOJI", "MARKER_NAMESPACE", "creator_tag", "hydrus_tag", "is_kaomoji", "marker_tag",
    "source_urls",
]

MARKER_NAMESPACE = "pximse"

KAOMOJI = frozenset({
    "0_0", "(o)_(o)", "+_+", "+_-", "._.", "<o>_<o>", "<|>_<|>", "=_=", ">_<", "3_3",
    "6_9", ">_o", "@_@", "^_^", "o_o", "u_u", "x_x", "|_|", "||_||", "t_t", ";_;", "-_-",
    "^_^;", "o_0", "0_o", "v_v", "._.;", "=_=;", "-_-;",
})
"""Danbooru's kaomoji tags whose underscores are part of the face."""

# Danbooru's categories as namespaces, in Hydrus's words.
_NAMESPACES = {
    "character": "character",
    "artist": "creator",
    "creator": "creator",
    "copyright": "series",
    "series": "series",
    "rating": "rating",
    "meta": "meta",
    "general": "",
}

_TWO_LETTERS = re.compile(r"[^\W\d_]{2}")


def is_kaomoji(tag: str) -> bool:
    """A face whose underscores must stay: a known one, or a short run of symbols and
    single letters around an underscore (``>_<``, ``t_t``), never a word."""
    if tag in KAOMOJI:
        return True
    return "_" in tag and len(tag) <= 8 and _TWO_LETTERS.search(tag) is None \
        and not tag.replace("_", "").isdigit()


@lru_cache(maxsize=1 << 16)  # a library uses a few thousand distinct tags, many times over
def hydrus_tag(name: str) -> str | None:
    """The tag as Hydrus should store it, or None for one that cannot be a Hydrus tag."""
    text = unicodedata.normalize("NFKC", name).strip().lower()
    namespace, sep, subtag = text.partition(":")
    if sep and namespace in _NAMESPACES and subtag:
        namespace = _NAMESPACES[namespace]
    elif sep and namespace and " " not in namespace and subtag and namespace != "system":
        pass  # another namespace (``pixiv:``, ``series:``...) as it is
    else:
        namespace, subtag = "", text  # ``:d``, ``:3`` and plain tags
    if not is_kaomoji(subtag):
        subtag = subtag.replace("_", " ")
    subtag = " ".join(subtag.split())
    if not subtag or subtag.startswith("-"):
        return None  # Hydrus reads a leading hyphen as "not"
    if namespace == "system" or (not namespace and subtag.startswith("system:")):
        return None
    return f"{namespace}:{subtag}" if namespace else subtag


def marker_tag(model_id: str) -> str:
    return f"{MARKER_NAMESPACE}:{' '.join(model_id.lower().split())}"


def creator_tag(source: str, user_id: str | None, user_name: str | None) -> str | None:
    """``creator:<name>`` from what a file name says of the artist (Pixiv user name,
    Twitter display name or screen name, a booru's artist tag)."""
    if source not in ("pixiv", "twitter", "yandere", "danbooru", "gelbooru"):
        return None
    name = user_name or (user_id if source == "twitter" else None)
    return hydrus_tag(f"creator:{name}") if name else None


def source_urls(source: str, user_id: str | None, post_id: str | None) -> list[str]:
    """The post's page (and the Pixiv artist's page) on the site the file came from."""
    urls: list[str] = []
    if source == "pixiv":
        if post_id:
            urls.append(f"https://www.pixiv.net/artworks/{post_id}")
        if user_id and user_id.isdigit():
            urls.append(f"https://www.pixiv.net/users/{user_id}")
    elif source == "twitter" and post_id:
        who = user_id if user_id and re.fullmatch(r"\w{1,50}", user_id) else "i/web"
        urls.append(f"https://twitter.com/{who}/status/{post_id}")
    elif source == "yandere" and post_id:
        urls.append(f"https://yande.re/post/show/{post_id}")
    elif source == "danbooru" and post_id:
        urls.append(f"https://danbooru.donmai.us/posts/{post_id}")
    elif source == "gelbooru" and post_id:
        urls.append(f"https://gelbooru.com/index.php?page=post&s=view&id={post_id}")
    return urls
