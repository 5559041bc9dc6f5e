"""The difference between what a sidecar holds and what it should hold, worked out
in Python so that a sidecar is written only when something really changes.

Only PxIMSE's entries are ever added or removed: paths under the root in
``TagsList`` and ``hierarchicalSubject``, and in ``dc:subject`` the leaves of
those paths that no path of the user's claims. Everything else keeps its place.

>>> current = SidecarKeywords(tags_list=("People/Ann", "PxIMSE/general/smile"),
...                           subjects=("Ann", "smile"))
>>> ours = ImageKeywords(("PxIMSE/general/long hair",), ("PxIMSE|general|long hair",),
...                      ("long hair",))
>>> merged = merge_keywords(current, ours, "PxIMSE")
>>> merged.tags_list, merged.subjects
(('People/Ann', 'PxIMSE/general/long hair'), ('Ann', 'long hair'))
>>> strip_keywords(merged, "PxIMSE").tags_list
('People/Ann',)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pximse.integrations.digikam.tag_paths import ImageKeywords

__all__ = ["SidecarKeywords", "merge_keywords", "seed_keywords", "strip_keywords"]


@dataclass(frozen=True)
class SidecarKeywords:
    """The keyword fields of one XMP packet (a sidecar, or an image's own)."""

    tags_list: tuple[str, ...] = ()  # Xmp.digiKam.TagsList, "/" paths
    hierarchical: tuple[str, ...] = ()  # Xmp.lr.hierarchicalSubject, "|" paths
    subjects: tuple[str, ...] = ()  # Xmp.dc.subject, flat
    last_keywords: tuple[str, ...] = ()  # Xmp.MicrosoftPhoto.LastKeywordXMP, "/" paths
    description: str = ""  # Xmp.dc.description (x-default)


Roots = str | Sequence[str]
"""PxIMSE's tag root, or several: the one in use first, then roots used before
(``tag_root`` was changed), whose entries are PxIMSE's to remove as well."""


def _roots(root: Roots) -> tuple[str, ...]:
    return tuple(r for r in ((root,) if isinstance(root, str) else root) if r)


def _is_ours(path: str, roots: tuple[str, ...], sep: str) -> bool:
    return any(path == root or path.startswith(root + sep) for root in roots)


def _leaf(path: str, sep: str) -> str:
    return path.rsplit(sep, 1)[-1].strip()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def seed_keywords(
    own: SidecarKeywords, iptc_keywords: Iterable[str] = (), root: Roots = ""
) -> SidecarKeywords:
    """The user's keywords as a sidecar must carry them, from an image's own XMP
    and IPTC keywords (or a sidecar without a ``TagsList``).

    digiKam reads only the first non-empty of ``TagsList``, ``LastKeywordXMP``,
    ``hierarchicalSubject``, ..., ``dc:subject``, and a sidecar's XMP replaces
    the file's: so a ``TagsList`` that PxIMSE adds must already hold the user's
    keywords, or they would vanish from digiKam.

    Entries under ``root`` (PxIMSE's own, from an earlier write whose
    ``TagsList`` another program dropped) are not taken for the user's.

    >>> seed_keywords(SidecarKeywords(subjects=("cat",)), ["cat", "sky"]).tags_list
    ('cat', 'sky')
    """
    subjects = _unique([*own.subjects, *iptc_keywords])
    roots = _roots(root)
    ours = {_leaf(p, "|") for p in own.hierarchical if _is_ours(p, roots, "|")}
    if own.tags_list:
        tags_list = own.tags_list
    elif own.last_keywords:
        tags_list = own.last_keywords
    elif any(not _is_ours(p, roots, "|") for p in own.hierarchical):
        tags_list = _unique(path.replace("|", "/") for path in own.hierarchical
                            if not _is_ours(path, roots, "|"))
    else:
        tags_list = tuple(s for s in subjects if s not in ours)
    return replace(own, tags_list=tuple(tags_list), subjects=subjects)


def merge_keywords(current: SidecarKeywords, ours: ImageKeywords, root: Roots) -> SidecarKeywords:
    """``current`` with PxIMSE's entries replaced by ``ours``. Entries that stay
    keep their places, so merging the same keywords twice changes nothing."""
    roots = _roots(root)
    old_leaves = {_leaf(p, "/") for p in current.tags_list if _is_ours(p, roots, "/")}
    old_leaves |= {_leaf(p, "|") for p in current.hierarchical if _is_ours(p, roots, "|")}
    claimed = {_leaf(p, "/") for p in current.tags_list if not _is_ours(p, roots, "/")}
    claimed |= {_leaf(p, "|") for p in current.hierarchical if not _is_ours(p, roots, "|")}
    claimed |= {_leaf(p, "/") for p in current.last_keywords}
    stale_leaves = old_leaves - claimed - set(ours.subjects)
    return replace(
        current,
        tags_list=_replace_ours(current.tags_list, ours.tags_list, roots, "/"),
        hierarchical=_replace_ours(current.hierarchical, ours.hierarchical, roots, "|"),
        subjects=_updated(
            [s for s in current.subjects if s not in stale_leaves], ours.subjects
        ),
    )


def strip_keywords(current: SidecarKeywords, root: Roots) -> SidecarKeywords:
    """``current`` without any of PxIMSE's entries."""
    return merge_keywords(current, ImageKeywords(), root)


def _replace_ours(
    entries: tuple[str, ...], wanted: tuple[str, ...], roots: tuple[str, ...], sep: str
) -> tuple[str, ...]:
    keep = set(wanted)
    kept = [e for e in entries if not _is_ours(e, roots, sep) or e in keep]
    return _updated(kept, wanted)


def _updated(kept: list[str], wanted: Iterable[str]) -> tuple[str, ...]:
    present = set(kept)
    return tuple(kept) + tuple(w for w in dict.fromkeys(wanted) if w not in present)
