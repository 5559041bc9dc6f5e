"""What an image's file name says about where it came from.

Downloaders name files after the post they came from: a Pixiv illust id and
page, a tweet id and its date, a booru post id, md5 and tags. :func:`parse_name`
reads those names back into a :class:`SourceInfo`. It is pure (no I/O, no
clock) and never raises for a string: a name no rule knows gives
``SourceInfo(source="other")``.

The parser is a table: :data:`RULES` lists ``(name, regex, builder)`` rows,
tried in order against the file name's stem (the base name without its
extension, NFC-normalised, with a browser's duplicate marker such as `` (1)``
removed). Each rule's comment shows a name it reads. A few downloaders put the
artist in the folder instead (:data:`FOLDER_PATTERNS`); ``parse_name`` reads
the parent folder for Pixiv names only.

>>> parse_name("12345_67890123_p0.png")
SourceInfo(source='pixiv', user_id='12345', post_id='67890123', page=0)
>>> parse_name("pixiv/ウサギ-123456/98765432_p1-夏の日.jpg").user_name
'ウサギ'
>>> parse_name("yande.re 431721 breasts christmas thighhighs.jpg").tags
('breasts', 'christmas', 'thighhighs')
>>> parse_name("holiday.jpg")
SourceInfo(source='other')

Danbooru writes a post's characters, copyright and artists into its file
names, joined in a way that loses where one tag ends. With the tagger's own
tag list (:class:`TagVocabulary`, which knows which names are characters) the
name is taken apart again into ``character:``, ``copyright:`` and ``artist:``
tags; :func:`set_default_vocabulary` sets the list ``parse_name`` uses when it
is given none.

``docs/filenames.md`` is the user-facing reference for every format here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

__all__ = [
    "FOLDER_PATTERNS", "RULES", "SOURCES", "Rule", "SourceInfo", "TagVocabulary",
    "danbooru_slug", "default_vocabulary", "parse_name", "set_default_vocabulary",
]

SOURCES: tuple[str, ...] = ("pixiv", "twitter", "yandere", "danbooru", "gelbooru", "other")
"""Every value ``SourceInfo.source`` can take."""


@dataclass(frozen=True, repr=False)
class SourceInfo:
    """What a file name says about the post an image came from.

    Every field but ``source`` is ``None`` (or empty) when the name does not
    carry it. Ids are decimal strings without leading zeros.
    """

    source: str
    """One of :data:`SOURCES`."""
    user_id: str | None = None
    """Pixiv user id; Twitter screen name (the part after ``@``)."""
    user_name: str | None = None
    """Pixiv user name (from the folder); Twitter display name; booru artist tag(s)."""
    post_id: str | None = None
    """Pixiv illust id, tweet id or booru post id (an md5 goes in ``md5``)."""
    page: int | None = None
    """Index of the image within its post, from 0: the Pixiv page, the tweet's media."""
    posted: str | None = None
    """When the post was published, ISO-8601 UTC ``YYYY-MM-DDTHH:MM:SS``."""
    tags: tuple[str, ...] = ()
    """Source tags the name carries (yande.re, Danbooru), underscores for spaces."""
    md5: str | None = None
    """The booru file's md5, lower case."""
    title: str | None = None
    """The work's title (Pixiv downloaders) or Danbooru's tag slug."""

    def __repr__(self) -> str:
        """Only the fields the name gave, so examples stay short."""
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name == "source" or getattr(self, f.name) != f.default
        ]
        return f"SourceInfo({', '.join(shown)})"

    @property
    def work_key(self) -> str | None:
        """``"{source}:{post_id}"``, the same for every page of one post.

        ``None`` when the name carries no post id (plain md5 names, Danbooru's
        tagged names) or the source is ``other``.

        >>> parse_name("67890123_p12_master1200.jpg").work_key
        'pixiv:67890123'
        """
        if self.source == "other" or self.post_id is None:
            return None
        return f"{self.source}:{self.post_id}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: every field, ``tags`` as a list."""
        return {
            "source": self.source,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "post_id": self.post_id,
            "page": self.page,
            "posted": self.posted,
            "tags": list(self.tags),
            "md5": self.md5,
            "title": self.title,
        }


OTHER = SourceInfo(source="other")

Builder = Callable[[re.Match[str], "TagVocabulary | None"], SourceInfo | None]


_QUALIFIER = re.compile(r"_\([^()]*\)$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def danbooru_slug(text: str) -> str:
    """A name as Danbooru writes it in a file name: lower case, every run of
    characters other than ``a-z0-9`` one ``_`` (``Fate/Grand Order`` ->
    ``fate_grand_order``)."""
    return _NOT_SLUG.sub("_", text.lower()).strip("_")


@dataclass(frozen=True)
class TagVocabulary:
    """The tagger's tag list as names need it: its character tags (and copyright
    tags, where the list has that category) under the form Danbooru writes them
    in file names, each slug to the tag it stands for.

    A character is written without its qualifier (``saber_(fate)`` as ``saber``),
    so a slug several characters share stands for the most used of them. The
    qualifiers name the characters' works, so where the list has no copyright
    category (WD14's) they give a copyright its spelling back (the slug
    ``nier_automata`` is the ``nier:automata`` of ``2b_(nier:automata)``).

    >>> vocabulary = TagVocabulary.from_tags([("hatsune_miku", "character", 9),
    ...     ("saber_(fate)", "character", 5), ("saber_(fate/extra)", "character", 2),
    ...     ("vocaloid", "copyright", 9), ("long_hair", "general", 9)])
    >>> vocabulary.characters["saber"], vocabulary.copyrights["vocaloid"]
    ('saber_(fate)', 'vocaloid')
    >>> wd14 = TagVocabulary.from_tags([("2b_(nier:automata)", "character", 9)])
    >>> wd14.copyright("nier_automata"), wd14.copyright("touhou")
    ('nier:automata', None)
    """

    characters: Mapping[str, str] = field(default_factory=dict)
    copyrights: Mapping[str, str] = field(default_factory=dict)
    longest: int = 0  # the most words a slug has
    qualifiers: Mapping[str, str] = field(default_factory=dict)
    """The characters' qualifiers by slug (``fate_extra`` -> ``fate/extra``)."""

    @classmethod
    def from_tags(cls, tags: Iterable[tuple[str, str, int]]) -> TagVocabulary:
        """From (tag name, category, post count) rows; categories other than
        ``character`` and ``copyright`` are left out."""
        best: dict[str, dict[str, tuple[int, str]]] = {"character": {}, "copyright": {}}
        used: dict[str, dict[str, int]] = {}  # qualifier slug -> spelling -> posts
        for name, category, count in tags:
            if category not in best:
                continue
            bare = _QUALIFIER.sub("", name) if category == "character" else name
            slug = danbooru_slug(bare)
            if slug and (slug not in best[category] or count > best[category][slug][0]):
                best[category][slug] = (count, name)
            if bare != name:
                qualifier = name[len(bare) + 2:-1]
                spellings = used.setdefault(danbooru_slug(qualifier), {})
                spellings[qualifier] = spellings.get(qualifier, 0) + count
        characters = {slug: name for slug, (_, name) in best["character"].items()}
        copyrights = {slug: name for slug, (_, name) in best["copyright"].items()}
        qualifiers = {slug: max(spellings, key=lambda s: (spellings[s], s))
                      for slug, spellings in used.items() if slug}
        longest = max((slug.count("_") + 1 for slug in (*characters, *copyrights)), default=0)
        return cls(characters, copyrights, longest, qualifiers)

    def copyright(self, slug: str) -> str | None:
        """The copyright tag a slug stands for: the list's own, else (a list without
        copyrights) the spelling of the characters' qualifier it matches."""
        if self.copyrights:
            return self.copyrights.get(slug)
        return self.qualifiers.get(slug)

    def __bool__(self) -> bool:
        return bool(self.characters)


VocabularySource = Callable[[], "TagVocabulary | None"]
_DEFAULT: list[TagVocabulary | VocabularySource | None] = [None]
_DEFAULT_LOCK = threading.Lock()


def set_default_vocabulary(vocabulary: TagVocabulary | VocabularySource | None) -> None:
    """The tag list :func:`parse_name` uses when it is given none, or a function
    that gives it (the configured tagger's, which may appear once its files are
    downloaded; set when the catalogue is opened)."""
    with _DEFAULT_LOCK:
        _DEFAULT[0] = vocabulary


def default_vocabulary() -> TagVocabulary | None:
    with _DEFAULT_LOCK:
        current = _DEFAULT[0]
    return current() if callable(current) else current


@dataclass(frozen=True)
class Rule:
    """One row of the parser's table.

    ``build`` turns a full match of ``pattern`` on the stem (and the tag list,
    which the Danbooru rules use) into a :class:`SourceInfo`, or returns
    ``None`` to pass the name on to the next rule. ``needs_folder`` rules only
    apply when the parent folder names a Pixiv artist (see :data:`FOLDER_PATTERNS`).
    """

    name: str
    pattern: re.Pattern[str]
    build: Builder = field(repr=False)
    needs_folder: bool = False


# --- helpers -------------------------------------------------------------------

_FLAGS = re.IGNORECASE | re.ASCII
_MD5 = r"(?P<md5>[0-9a-f]{32})"


def _num(text: str) -> str:
    """A decimal id without leading zeros ("0123" -> "123")."""
    return str(int(text))


def _text(text: str | None) -> str | None:
    """Stripped text, or ``None`` when nothing is left."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def _iso(stamp: str) -> str | None:
    """``20201231-235959`` -> ``2020-12-31T23:59:59``; ``None`` if not a real date."""
    try:
        return datetime.strptime(stamp, "%Y%m%d-%H%M%S").strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


_TWITTER_EPOCH_MS = 1288834974657


def _snowflake_time(tweet_id: int) -> str:
    """The UTC time encoded in a tweet id (Twitter ids are snowflakes since Nov 2010)."""
    ms = (tweet_id >> 22) + _TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


# --- builders ------------------------------------------------------------------


def _twitter_tmd(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
    index = m["index"]
    return SourceInfo(
        source="twitter",
        user_id=m["screen"],
        user_name=_text(m["name"]),
        post_id=_num(m["tweet"]),
        # No suffix: the tweet had a single medium.
        page=int(index) if index is not None else 0,
        posted=_iso(m["date"]),
    )


def _twitter_gallery_dl(m: re.Match[str], vocabulary: TagVocabulary | None = None
                        ) -> SourceInfo | None:
    num = int(m["num"])
    if num < 1:  # gallery-dl counts from 1
        return None
    tweet_id = int(m["tweet"])
    return SourceInfo(
        source="twitter",
        post_id=str(tweet_id),
        page=num - 1,
        posted=_snowflake_time(tweet_id),
    )


def _yandere(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
    tags = [t for t in (m["tags"] or "").split(" ") if t]
    # The site's sample files put the word "sample" right after the id
    # (tags are otherwise sorted), it is not a tag.
    if tags and tags[0].lower() == "sample":
        tags = tags[1:]
    return SourceInfo(source="yandere", post_id=_num(m["id"]), tags=tuple(dict.fromkeys(tags)))


def _gallery_dl_booru(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
    return SourceInfo(source=m["site"].lower(), post_id=_num(m["id"]), md5=m["md5"].lower())


_AND_MORE = re.compile(r"^(?:[0-9]+_more|etc)$")


def _split_slug(words: list[str], vocabulary: TagVocabulary
                ) -> tuple[list[str], list[str], list[str]]:
    """(characters, copyrights, words left unread) of a slug's part before
    ``drawn_by``: "{characters} ({copyright})" with every separator a ``_``.
    Characters come first, each the longest run of words the vocabulary knows
    (``and`` between them, ``and_N_more`` after them); what follows is the
    copyright, when the vocabulary knows it or characters were found before it
    (Danbooru writes a copyright alone, without characters, only in a name
    that has no characters)."""
    characters: list[str] = []
    i = 0
    while i < len(words):
        if characters and words[i] == "and":
            more = "_".join(words[i + 1:i + 3])
            if _AND_MORE.match(more):
                i += 3  # "and_3_more": characters left out by Danbooru
                break
            i += 1
            continue
        for size in range(min(vocabulary.longest, len(words) - i), 0, -1):
            name = vocabulary.characters.get("_".join(words[i:i + size]))
            if name is not None:
                characters.append(name)
                i += size
                break
        else:
            break
    rest = words[i:]
    if len(rest) >= 3 and rest[-3] == "and" and _AND_MORE.match("_".join(rest[-2:])):
        rest = rest[:-3]  # "vocaloid_and_1_more"
    slug = "_".join(rest)
    if not slug:
        return characters, [], []
    if slug in vocabulary.copyrights:
        return characters, [vocabulary.copyrights[slug]], []
    if characters and not vocabulary.copyrights:
        return characters, [vocabulary.copyright(slug) or slug], []
    return characters, [], rest


def _danbooru_slug(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
    slug = m["slug"].strip("_")
    left, sep, artist = slug.rpartition("_drawn_by_")
    if not sep and slug.startswith("drawn_by_"):
        left, artist = "", slug[len("drawn_by_") :]
    elif not sep:
        left, artist = slug, ""
    tags: list[str] = []
    title: str | None = left
    if vocabulary and left:
        characters, copyrights, unread = _split_slug(left.split("_"), vocabulary)
        tags = [f"character:{c}" for c in characters] + [f"copyright:{c}" for c in copyrights]
        title = "_".join(unread) if not tags else None
    if artist:
        tags.append(f"artist:{artist}")
    return SourceInfo(
        source="danbooru",
        user_name=_text(artist),
        tags=tuple(dict.fromkeys(tags)),
        md5=m["md5"].lower(),
        title=_text(title),
    )


_SENTENCE_SPLIT = re.compile(r",\s+and\s+|,\s+|\s+and\s+")
_NOT_A_TAG = re.compile(r"[0-9]+ more|etc|others", re.IGNORECASE)


def _sentence_tags(text: str) -> list[str]:
    """Danbooru's ``to_sentence`` list ("a, b, and c") back to tag names."""
    tags = []
    for item in _SENTENCE_SPLIT.split(text.strip()):
        item = item.strip()
        if item and not _NOT_A_TAG.fullmatch(item):
            tags.append(re.sub(r"\s+", "_", item))
    return tags


_COPYRIGHT = re.compile(r"(?P<characters>.*?)\s*\((?P<copyrights>[^()]*)\)")


def _character(name: str, vocabulary: TagVocabulary | None) -> str:
    """A character as the name writes it (unqualified) to its tag."""
    if vocabulary:
        return vocabulary.characters.get(danbooru_slug(name), name)
    return name


def _copyright(name: str, vocabulary: TagVocabulary | None) -> str:
    """A copyright as the name writes it to its tag, where the list can spell it."""
    if vocabulary:
        return vocabulary.copyright(danbooru_slug(name)) or name
    return name


def _danbooru_download(m: re.Match[str], vocabulary: TagVocabulary | None = None
                       ) -> SourceInfo:
    left, sep, artists_text = (" " + m["human"].strip()).rpartition(" drawn by ")
    if not sep:
        left, artists_text = m["human"], ""
    tags: list[str] = []
    title: str | None = None
    copyright_match = _COPYRIGHT.fullmatch(left.strip())
    if copyright_match:
        tags += [f"character:{_character(t, vocabulary)}"
                 for t in _sentence_tags(copyright_match["characters"])]
        tags += [f"copyright:{_copyright(t, vocabulary)}"
                 for t in _sentence_tags(copyright_match["copyrights"])]
    elif vocabulary:
        # Characters only, or copyrights only: the tag list tells which.
        for item in _sentence_tags(left):
            known = vocabulary.characters.get(danbooru_slug(item))
            tags.append(f"character:{known}" if known
                        else f"copyright:{_copyright(item, vocabulary)}")
    else:
        title = _text(left.replace("_", " "))  # characters or a copyright: cannot tell
    artists = _sentence_tags(artists_text)
    tags += [f"artist:{a}" for a in artists]
    return SourceInfo(
        source="danbooru",
        user_name=artists[0] if artists else None,
        tags=tuple(dict.fromkeys(tags)),
        md5=m["md5"].lower(),
        title=title,
    )


def _booru_md5(source: str) -> Builder:
    def build(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
        return SourceInfo(source=source, md5=m["md5"].lower())

    return build


def _pixiv(m: re.Match[str], vocabulary: TagVocabulary | None = None) -> SourceInfo:
    groups = m.groupdict()
    page = groups.get("page") if groups.get("page") is not None else groups.get("frame")
    user_id = groups.get("user_id")
    return SourceInfo(
        source="pixiv",
        user_id=_num(user_id) if user_id else None,
        post_id=_num(m["illust_id"]),
        page=int(page) if page is not None else None,
        title=_text(m["title"]),
    )


# --- the table -----------------------------------------------------------------

# Pixiv's own suffixes after the page: img-master / square / custom thumbnails.
_PIXIV_SIZE = r"(?:_(?:master|square|custom)[0-9]{1,5})?"
# A title after the id: PixivBatchDownloader writes "-", PixivUtil2 " - ".
_PIXIV_TITLE = r"(?:(?:\s+-\s*|-)(?P<title>.*))?"

RULES: tuple[Rule, ...] = (
    # Twitter Media Downloader (the userscript, greasyfork 482057), default
    # "twitter_{user-name}(@{user-id})_{date-time}_{tweet-id}_{file-type}",
    # "-{n}" (from 0) added when a tweet has several media, {file-type} one of
    # photo, video, gif; {date-time} is UTC:
    #   twitter_初音ミク(@cfm_miku)_20200131-235959_1223344556677889900_photo-1.jpg
    Rule(
        "twitter-media-downloader",
        re.compile(
            r"twitter_(?P<name>.*)\(@(?P<screen>[a-z0-9_]{1,15})\)"
            r"_(?P<date>[0-9]{8}-[0-9]{6})_(?P<tweet>[0-9]{1,20})"
            r"_(?:photo|video|gif)(?:[-_]?(?P<index>[0-9]{1,2}))?",
            _FLAGS,
        ),
        _twitter_tmd,
    ),
    # yande.re's own file names, "yande.re {id} {tags}" (tags space-separated,
    # sorted; sample files have "sample" before the tags; %20 is undone first):
    #   yande.re 431721 breasts christmas thighhighs.jpg
    #   yande.re 12345.png
    Rule(
        "yandere",
        re.compile(r"yande\.re (?P<id>[0-9]{1,10})(?: (?P<tags>.*))?", _FLAGS),
        _yandere,
    ),
    # gallery-dl's default for boorus, "{category}_{id}_{md5}":
    #   gelbooru_7222955_cf589d62afe26ede34c2f4fa802ff70c.jpg
    Rule(
        "gallery-dl-booru",
        re.compile(r"(?P<site>danbooru|gelbooru|yandere)_(?P<id>[0-9]{1,10})_" + _MD5, _FLAGS),
        _gallery_dl_booru,
    ),
    # Danbooru's tagged file URLs, "__{slug}__{md5}" (also "__{slug}__sample-{md5}"),
    # slug = the humanised tag string with every non [a-z0-9] run made "_":
    #   __hatsune_miku_vocaloid_drawn_by_xyz__0123456789abcdef0123456789abcdef.png
    Rule(
        "danbooru-tagged",
        re.compile(r"__(?P<slug>.*)__(?:sample-)?" + _MD5, _FLAGS),
        _danbooru_slug,
    ),
    # Danbooru's download button, "{characters} ({copyrights}) drawn by {artists} - {md5}":
    #   hatsune miku (vocaloid) drawn by xyz - 0123456789abcdef0123456789abcdef.png
    Rule(
        "danbooru-download",
        re.compile(r"(?P<human>.*\S)\s+-\s+" + _MD5, _FLAGS),
        _danbooru_download,
    ),
    # Danbooru's samples: sample-0123456789abcdef0123456789abcdef.jpg
    Rule("danbooru-sample", re.compile(r"sample-" + _MD5, _FLAGS), _booru_md5("danbooru")),
    # Gelbooru's samples and thumbnails: sample_0123456789abcdef0123456789abcdef.jpg
    Rule(
        "gelbooru-sample",
        re.compile(r"(?:sample|thumbnail)_" + _MD5, _FLAGS),
        _booru_md5("gelbooru"),
    ),
    # Pixiv: the site's own names ("{illust}_p{page}", "_master1200" etc. for
    # thumbnails, "_ugoira0" for an ugoira's first frame, "_ugoira1920x1080"
    # for its zip), PxIMSE's recommended "{user}_{illust}_p{page}", PixEZ's and
    # gallery-dl's default "{illust}_p{page}", PixivBatchDownloader's
    # "{illust}_p{page}-{title}", PixivUtil2's "{illust}_p{page} - {title}":
    #   12345_67890123_p0.png
    #   67890123_p12_master1200.jpg
    #   67890123_ugoira0.jpg
    #   98765432_p1-夏の日.jpg
    Rule(
        "pixiv",
        re.compile(
            r"(?:(?P<user_id>[0-9]{1,12})_)?(?P<illust_id>[0-9]{1,12})(?:_big)?"
            r"(?:_p(?P<page>[0-9]{1,4})"
            r"|_ugoira(?:[0-9]{1,5}x[0-9]{1,5}|(?P<frame>[0-9]{1,4}))?)"
            + _PIXIV_SIZE
            + _PIXIV_TITLE,
            _FLAGS | re.DOTALL,
        ),
        _pixiv,
    ),
    # gallery-dl's Twitter default, "{tweet_id}_{num}" (num from 1); the tweet
    # id is a snowflake, so it gives the post time too:
    #   1223344556677889900_1.jpg
    Rule(
        "gallery-dl-twitter",
        re.compile(r"(?P<tweet>[0-9]{15,19})_(?P<num>[0-9]{1,2})", _FLAGS),
        _twitter_gallery_dl,
    ),
    # A bare md5: an original from Danbooru, Gelbooru, Konachan... the site is
    # unknown, so the source is "other" with the md5 kept:
    #   0123456789abcdef0123456789abcdef.jpg
    Rule("md5", re.compile(_MD5, _FLAGS), _booru_md5("other")),
    # PixivBatchDownloader's "{id}-{title}" where {id} has no page (ugoira, or
    # "no serial number" set), only inside a Pixiv artist's folder:
    #   pixiv/ウサギ-123456/98765432-うごくよ.gif
    Rule(
        "pixiv-in-artist-folder",
        re.compile(r"(?P<illust_id>[0-9]{2,12})" + _PIXIV_TITLE, _FLAGS | re.DOTALL),
        _pixiv,
        needs_folder=True,
    ),
)
"""The parser's table, tried in order; the first rule that builds wins."""


FOLDER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # PixivUtil2, default "%artist% (%member_id%)": ウサギ (123456)
    ("pixivutil2", re.compile(r"(?P<name>.+?)\s*\((?P<uid>[0-9]{1,12})\)", re.DOTALL)),
    # PixivBatchDownloader, default "pixiv/{user}-{user_id}/...": ウサギ-123456
    ("pixivbatchdownloader", re.compile(r"(?P<name>.+)-(?P<uid>[0-9]{1,12})", re.DOTALL)),
    # PixEZ with "save in one folder per artist": "{user_name}_{user_id}": ウサギ_123456
    ("pixez", re.compile(r"(?P<name>.+)_(?P<uid>[0-9]{1,12})", re.DOTALL)),
)
"""Folder names that carry a Pixiv artist's name and id."""


# --- parsing -------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\\/]")
# An extension: a dot, a letter, up to four letters or digits ("Ver.2" is kept).
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
# What browsers and file managers append to a second copy: " (1)", "(2)", " - Copy".
_DUPLICATE = re.compile(
    r"(?: \([0-9]{1,3}\)"  # Chrome, Windows: "name (1)"
    r"|(?<![_ ])\([0-9]{1,3}\)"  # Firefox: "name(1)" (not a tag's "_(1)")
    r"|\s+-\s+(?:Copy|コピー|副本|复制)(?: \([0-9]{1,3}\))?)$",  # Explorer: "name - Copy"
    re.IGNORECASE,
)


def _components(path: str) -> list[str]:
    return [unicodedata.normalize("NFC", p).strip() for p in _SEPARATORS.split(path) if p.strip()]


def _stem(base: str) -> str:
    stem = unicodedata.normalize("NFC", base).strip()
    stem = _EXTENSION.sub("", stem).strip()
    stem = _DUPLICATE.sub("", stem).strip()
    if stem[:11].lower() == "yande.re%20":
        stem = unquote(stem, errors="replace")
    return stem


def _folder_user(folders: list[str], post_id: str | None) -> tuple[str, str] | None:
    """``(user_id, user_name)`` from the parent folder, or ``None``.

    A folder named after the work itself (a downloader's "one folder per work"
    option) is skipped for the one above it.
    """
    if not folders:
        return None
    folder = folders[-1]
    if post_id is not None and len(folders) > 1 and folder.lstrip("0") == post_id:
        folder = folders[-2]
    for _name, pattern in FOLDER_PATTERNS:
        m = pattern.fullmatch(folder)
        if m:
            name = m["name"].strip()
            # "2024-05" is a date, not an artist.
            if name and not name.isdigit():
                return _num(m["uid"]), name
    return None


def _with_folder(info: SourceInfo, folders: list[str]) -> SourceInfo:
    user = _folder_user(folders, info.post_id)
    if user is None:
        return info
    user_id, user_name = user
    if info.user_id is None:
        return replace(info, user_id=user_id, user_name=user_name)
    if info.user_id == user_id and info.user_name is None:
        return replace(info, user_name=user_name)
    return info


def parse_name(name: str, folder: str | None = None,
               vocabulary: TagVocabulary | None = None) -> SourceInfo:
    """Read the source of an image from its file name.

    ``name`` is a file name with or without an extension, or a path (``/`` or
    ``\\``), of which only the base name is parsed. ``folder`` is the file's
    parent folder (a name or a path); when it is not given and ``name`` is a
    path, the path's folders are used. The folder only matters for Pixiv
    names, whose artist some downloaders write there (:data:`FOLDER_PATTERNS`).
    ``vocabulary`` (default: :func:`default_vocabulary`) takes Danbooru's names
    apart into characters and copyrights; without one, the part of a Danbooru
    name that holds them is kept as its ``title``.

    Never raises for a string; a name no rule reads gives ``source="other"``.

    >>> parse_name("67890123_p12_master1200.jpg")
    SourceInfo(source='pixiv', post_id='67890123', page=12)
    >>> parse_name("98765432_p0-夏の日.jpg", folder="D:/pixiv/ウサギ-123456")
    SourceInfo(source='pixiv', user_id='123456', user_name='ウサギ', post_id='98765432', page=0, title='夏の日')
    >>> info = parse_name("twitter_ミク(@cfm_miku)_20200131-235959_1223344556677889900_photo-1.jpg")
    >>> info.user_id, info.user_name, info.posted, info.page
    ('cfm_miku', 'ミク', '2020-01-31T23:59:59', 1)
    """  # noqa: E501
    parts = _components(name)
    if not parts or name.endswith(("/", "\\")):
        return OTHER
    folders = _components(folder) if folder is not None else parts[:-1]
    stem = _stem(parts[-1])
    if not stem:
        return OTHER
    if vocabulary is None:
        vocabulary = default_vocabulary()
    for rule in RULES:
        if rule.needs_folder and not folders:
            continue
        m = rule.pattern.fullmatch(stem)
        if m is None:
            continue
        info = rule.build(m, vocabulary)
        if info is None:
            continue
        if info.source == "pixiv":
            with_user = _with_folder(info, folders)
            if rule.needs_folder and with_user.user_id is None:
                continue
            info = with_user
        return info
    return OTHER
