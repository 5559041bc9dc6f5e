"""The difference between what a sidecar holds and what it should hold, worked out
in Python so that a sidecar is written only when something really changes.

digiKam writes an image's tag tree five times over (``TagsList``,
``LastKeywordXMP``, ``hierarchicalSubject``, ``CatalogSets`` and ACDSee's
categories) and the leaves once more in ``dc:subject``; it reads the first of
them that is not empty. So PxIMSE keeps every one of them that a sidecar has
in step: only PxIMSE's entries are ever added or removed (paths under the
root, and in ``dc:subject`` the leaves of those paths that no path of the
user's claims), and an entry under the root is PxIMSE's in whichever field it
is found. Everything else keeps its place.

>>> current = SidecarKeywords(tags_list=("People/Ann", "PxIMSE/general/smile"),
...                           last_keywords=("People/Ann", "PxIMSE/general/smile"),
...                           subjects=("Ann", "smile"))
>>> ours = ImageKeywords(("PxIMSE/general/long hair",), ("PxIMSE|general|long hair",),
...                      ("long hair",))
>>> merged = merge_keywords(current, ours, "PxIMSE")
>>> merged.tags_list, merged.subjects
(('People/Ann', 'PxIMSE/general/long hair'), ('Ann', 'long hair'))
>>> merged.last_keywords == merged.tags_list
True
>>> stripped = strip_keywords(merged, "PxIMSE")
>>> stripped.tags_list, stripped.last_keywords, stripped.subjects
(('People/Ann',), ('People/Ann',), ('Ann',))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from pximse.integrations.digikam.tag_paths import ImageKeywords

__all__ = ["SidecarKeywords", "merge_keywords", "seed_keywords", "strip_keywords", "users_paths"]


@dataclass(frozen=True)
class SidecarKeywords:
    """The keyword fields of one XMP packet (a sidecar, or an image's own)."""

    tags_list: tuple[str, ...] = ()  # Xmp.digiKam.TagsList, "/" paths
    hierarchical: tuple[str, ...] = ()  # Xmp.lr.hierarchicalSubject, "|" paths
    subjects: tuple[str, ...] = ()  # Xmp.dc.subject, flat
    last_keywords: tuple[str, ...] = ()  # Xmp.MicrosoftPhoto.LastKeywordXMP, "/" paths
    description: str = ""  # Xmp.dc.description (x-default)
    catalog_sets: tuple[str, ...] = ()  # Xmp.mediapro.CatalogSets, "|" paths
    acdsee: tuple[str, ...] = ()  # Xmp.acdsee.categories, read as "/" paths

    def path_fields(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """The fields that hold paths, in the order digiKam reads them, with
        each one's separator."""
        return ((self.tags_list, "/"), (self.last_keywords, "/"), (self.hierarchical, "|"),
                (self.catalog_sets, "|"), (self.acdsee, "/"))


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


def _leaves(keywords: SidecarKeywords, roots: tuple[str, ...], ours: bool) -> set[str]:
    """The leaves of PxIMSE's paths (``ours``) or of the user's, in any path field."""
    return {_leaf(path, sep) for paths, sep in keywords.path_fields() for path in paths
            if _is_ours(path, roots, sep) == ours}


def users_paths(keywords: SidecarKeywords, root: Roots) -> tuple[str, ...]:
    """The user's keyword paths (``/``-separated) as digiKam reads them: from the
    first path field that has any of the user's, PxIMSE's entries left out."""
    roots = _roots(root)
    for paths, sep in keywords.path_fields():
        mine = [path.replace(sep, "/") for path in paths if not _is_ours(path, roots, sep)]
        if mine:
            return _unique(mine)
    return ()


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
    if own.tags_list:
        tags_list = own.tags_list
    else:
        ours = _leaves(own, roots, ours=True)
        tags_list = users_paths(own, roots) or tuple(s for s in subjects if s not in ours)
    return replace(own, tags_list=tuple(tags_list), subjects=subjects)


def merge_keywords(current: SidecarKeywords, ours: ImageKeywords, root: Roots) -> SidecarKeywords:
    """``current`` with PxIMSE's entries replaced by ``ours`` in every path field
    it has (``TagsList`` and ``hierarchicalSubject`` always; ``LastKeywordXMP``,
    ``CatalogSets`` and ACDSee's categories where the sidecar has them). Entries
    that stay keep their places, so merging the same keywords twice changes nothing."""
    roots = _roots(root)
    stale_leaves = (_leaves(current, roots, ours=True) - _leaves(current, roots, ours=False)
                    - set(ours.subjects))

    def mirror(entries: tuple[str, ...], wanted: tuple[str, ...], sep: str) -> tuple[str, ...]:
        # A field digiKam writes beside TagsList follows it where it is there at all.
        return _replace_ours(entries, wanted if entries else (), roots, sep)

    return replace(
        current,
        tags_list=_replace_ours(current.tags_list, ours.tags_list, roots, "/"),
        hierarchical=_replace_ours(current.hierarchical, ours.hierarchical, roots, "|"),
        last_keywords=mirror(current.last_keywords, ours.tags_list, "/"),
        catalog_sets=mirror(current.catalog_sets, ours.hierarchical, "|"),
        acdsee=mirror(current.acdsee, ours.tags_list, "/"),
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
