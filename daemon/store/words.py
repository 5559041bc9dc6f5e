"""What a word search (``m;``, ``mt;``) matches, whichever text store answers it.

The original PxIMSE sent ``m;`` to Meilisearch, so the rules are Meilisearch's
defaults as its documentation states them, and the embedded index follows the
same rules (the text-search tests run the same queries on both):

- **Words**: text is cut into words at anything that is not a letter or a
  digit (spaces, punctuation, ``_``, ``-``), then folded: NFKC, case folding,
  accents dropped from letters outside CJK (``Café`` is ``cafe``; ``ＡＢＣ`` is
  ``abc``). Each CJK character (Han, kana, Hangul) is a word of its own, and a
  query's run of CJK characters must appear in that order, side by side: ``東京``
  finds "東京都" and "東京 タワー". (Meilisearch cuts Chinese and Japanese with
  dictionaries instead, so it matches a dictionary word or its beginning; on
  OCR text, where words are often cut wrongly, the character sequence finds
  what a dictionary split would miss.)
- **Every word must match** (Meilisearch's ``matchingStrategy: "all"``).
- **Prefix**: the query's last word also matches the beginning of a longer word
  (``hel`` finds "hello"), unless the query ends with a space.
- **Typos**: a query word of 5 to 8 characters may differ from the text's word by
  one typo, of 9 or more by two (an insertion, a deletion, a substitution or two
  neighbours swapped); shorter words must be exact. A wrong first letter costs
  two typos. CJK words take no typos.
- **Ranking**: images whose words match with fewer typos first; among equals,
  the text engine's relevance (BM25 on the embedded index, Meilisearch's
  ranking rules on the server).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ONE_TYPO = 5
"""Query words this long or longer may have one typo (Meilisearch's ``oneTypo``)."""
TWO_TYPOS = 9
"""... and this long or longer two (``twoTypos``)."""


def is_cjk(char: str) -> bool:
    """A character of the scripts written without spaces between words."""
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF  # kana
            or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF  # Han
            or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF
            or 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF  # Hangul
            or 0x3130 <= code <= 0x318F)


def _fold_char(char: str) -> str:
    if is_cjk(char):
        return char
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def fold_words(text: str) -> str:
    """``text`` in the form words are compared in (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFC", "".join(_fold_char(c) for c in folded))


def _pieces(text: str) -> list[tuple[str, bool, bool]]:
    """(word, is CJK, followed by a separator) of folded ``text``, in order."""
    found: list[tuple[str, bool, bool]] = []
    word = ""
    for char in fold_words(text):
        if is_cjk(char):
            if word:
                found.append((word, False, False))
                word = ""
            found.append((char, True, False))
        elif char.isalnum():
            word += char
        else:
            if word:
                found.append((word, False, False))
                word = ""
            if found:
                last = found[-1]
                found[-1] = (last[0], last[1], True)
    if word:
        found.append((word, False, False))
    return found


def tokens(text: str) -> list[str]:
    """The words of a text as an index stores them (each CJK character alone)."""
    return [word for word, _, _ in _pieces(text)]


@dataclass(frozen=True)
class Term:
    """One part of a word query: a word, or a run of CJK characters."""

    text: str
    cjk: bool
    prefix: bool
    """Also matches the beginning of a longer word (the query's last word)."""

    @property
    def typos(self) -> int:
        """How many typos the word may have."""
        if self.cjk or len(self.text) < ONE_TYPO:
            return 0
        return 1 if len(self.text) < TWO_TYPOS else 2


def query_terms(query: str) -> list[Term]:
    """The terms of a word query, in order.

    >>> [(t.text, t.cjk, t.prefix) for t in query_terms("Hello wörld")]
    [('hello', False, False), ('world', False, True)]
    >>> [(t.text, t.cjk) for t in query_terms("東京タワー 2024")]
    [('東京タワー', True), ('2024', False)]
    """
    terms: list[Term] = []
    run = ""
    pieces = _pieces(query)
    for word, cjk, _ in pieces:
        if cjk:
            run += word
            continue
        if run:
            terms.append(Term(run, True, False))
            run = ""
        terms.append(Term(word, False, False))
    if run:
        terms.append(Term(run, True, False))
    if terms and not terms[-1].cjk and pieces and not pieces[-1][2]:
        last = terms[-1]
        terms[-1] = Term(last.text, False, True)
    return terms


def typos_between(word: str, found: str, limit: int) -> int | None:
    """Typos from query ``word`` to a text's word ``found``, or None past ``limit``
    (Damerau-Levenshtein with adjacent swaps; a wrong first letter costs two)."""
    from rapidfuzz.distance import OSA

    if word == found:
        return 0
    if limit <= 0:
        return None
    extra = 0 if word[:1] == found[:1] else 1
    if extra > limit - 1:
        return None
    distance = int(OSA.distance(word, found, score_cutoff=limit - extra))
    total = distance + extra
    return total if total <= limit else None


def prefix_typos(word: str, found: str, limit: int) -> int | None:
    """Typos from ``word`` to the best beginning of ``found`` (the last query word)."""
    if found.startswith(word):
        return 0
    best: int | None = None
    for size in range(max(1, len(word) - limit), min(len(found), len(word) + limit) + 1):
        typos = typos_between(word, found[:size], limit)
        if typos is not None and (best is None or typos < best):
            best = typos
    return best
