"""How tag names are normalised so that queries find them however they are typed."""

from __future__ import annotations

import unicodedata


def tag_key(name: str) -> str:
    """The form tags are matched by: NFKC, case-folded, spaces as underscores.

    >>> tag_key("Long Hair")
    'long_hair'
    >>> tag_key("初音ミク")
    '初音ミク'
    """
    return "_".join(unicodedata.normalize("NFKC", name).casefold().split())
