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

Every tag is also put in the exact form Hydrus stores it (:func:`clean_tag`,
Hydrus's own ``HydrusTags.CleanTag`` rules): ``:d`` is stored as ``::d``, so
that is what PxIMSE sends, records and compares with what Hydrus answers.

>>> hydrus_tag(":d")
'::d'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "KAOMOJI", "MARKER_NAMESPACE", "clean_tag", "creator_tag", "hydrus_tag", "is_kaomoji",
    "marker_tag", "source_urls",
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


# What Hydrus (HydrusText, v682) takes out of a tag: control and format characters
# (zero-width joiners aside), private-use characters and lone surrogates.
_UNWANTED = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
    "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd\ud800-\udfff]")
_LEADING_GARBAGE = re.compile(r"^(?:-|system:)+")
_LONE_COLON = re.compile(r"^:(?=[^:]+$)")
_JOINERS = re.compile("[\u200c\u200d]")
_LATIN_ONLY = re.compile("^[\u0020-\u007e\u00a0-\u024f\u200c\u200d]+$")
_HANGUL = re.compile("[\u1100-\u11ff\uac00-\ud7af]")
_HANGUL_FILLER = "\u3164"
MAX_TAG_LENGTH = 1024


def _tidy(text: str) -> str:
    """One part of a tag as Hydrus tidies it (``StripTagTextOfGumpf``)."""
    text = " ".join(_UNWANTED.sub("", text).split())
    text = _LEADING_GARBAGE.sub("", text).strip()
    if not _HANGUL.search(text):
        text = text.replace(_HANGUL_FILLER, "")
    if _LATIN_ONLY.match(text) or not _JOINERS.sub("", text):
        text = _JOINERS.sub("", text)
    return " ".join(text.split())


def clean_tag(tag: str) -> str | None:
    """``tag`` as Hydrus stores it, or None for what Hydrus would drop (an empty
    subtag). Hydrus cleans every tag it is given (``HydrusTags.CleanTag``): at
    most 1,024 characters, lower case, whitespace collapsed, leading hyphens and
    ``system:`` taken off, and a leading lone colon doubled, since a tag that
    starts with ``:`` has an empty namespace (``:d`` -> ``::d``).

    >>> clean_tag("  Character :  Space   Bounty Hunter "), clean_tag(":3"), clean_tag("::d")
    ('character:space bounty hunter', '::3', '::d')
    >>> clean_tag("-flower"), clean_tag("system:wew"), clean_tag("   ")
    ('flower', 'wew', None)
    """
    text = tag[:MAX_TAG_LENGTH].lower()
    if _LONE_COLON.match(text):
        text = ":" + text
    if ":" not in text:
        text = _tidy(text)
        return text or None
    tidied = _tidy(text)
    namespace, subtag = tidied.split(":", 1) if ":" in tidied else ("", tidied)
    namespace, subtag = _tidy(namespace), _tidy(subtag)
    if not subtag:
        return None
    if not namespace and ":" in subtag:
        return ":" + subtag
    return f"{namespace}:{subtag}" if namespace else subtag


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
    return clean_tag(f"{namespace}:{subtag}" if namespace else subtag)


def marker_tag(model_id: str) -> str:
    return f"{MARKER_NAMESPACE}:{' '.join(model_id.lower().split())}"


def creator_tag(source: str, user_id: str | None, user_name: str | None) -> str | None:
    """``creator:<name>`` from what a file name says of the artist (Pixiv user name,
    Twitter display name or screen name, a booru's artist tag)."""
    if source not in ("pixiv", "twitter", "yandere", "danbooru", "gelbooru"):
        return None
    name = user_name or (user_id if source == "twitter" else None)
    return hydrus_tag(f"creator:{name}") if name else None


def source_urls(source: str, user_id: str | None, post_id: str | None,
                md5: str | None = None) -> list[str]:
    """The post's page (and the Pixiv artist's page) on the site the file came from.
    A Danbooru file named by its md5 alone links to the post by md5 (Danbooru
    answers ``/posts?md5=`` with the post).

    >>> source_urls("danbooru", None, None, "0123456789abcdef0123456789abcdef")
    ['https://danbooru.donmai.us/posts?md5=0123456789abcdef0123456789abcdef']
    """
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
    elif source == "danbooru" and md5:
        urls.append(f"https://danbooru.donmai.us/posts?md5={md5}")
    elif source == "gelbooru" and post_id:
        urls.append(f"https://gelbooru.com/index.php?page=post&s=view&id={post_id}")
    return urls
