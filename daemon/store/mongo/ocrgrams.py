"""``ocr:`` on MongoDB without reading every document: an indexed field of n-grams.

A regular expression over the folded OCR text is the exact answer to
``ocr:text`` (a substring, after NFKC and case folding), but no index serves
an unanchored one, so on its own it reads every searchable document. So each
content document also carries ``ocr_grams``: every distinct 1-, 2- and
3-character substring of its folded text (as the SQLite catalogue's
``ocr_gram`` table holds them), under a multikey index.

- A query of 1 to 3 characters is one gram: ``{ocr_grams: q}`` is the exact
  answer, read from the index.
- A longer query needs all of its 3-grams; MongoDB reads the documents under
  one of them (the index) and the others and the regular expression are then
  checked on those few, so the answer stays the exact substring match.
"""

from __future__ import annotations

from typing import Any

from pximse.store.sqlite.ocrindex import MAX_GRAM

GRAMS_FIELD = "ocr_grams"
_PROBES = 4
"""3-grams of a long query that the filter names (MongoDB picks one for the index)."""


def text_grams(folded: str | None) -> list[str] | None:
    """The distinct 1..3-character substrings of ``folded`` text (None before OCR)."""
    if folded is None:
        return None
    found = {folded[start:start + size] for size in range(1, MAX_GRAM + 1)
             for start in range(len(folded) - size + 1)}
    return sorted(found)


def grams_filter(folded: str, regex: str) -> dict[str, Any]:
    """The filter for folded query text ``folded`` (non-empty); ``regex`` matches it
    anywhere in ``ocr_folded``."""
    if len(folded) <= MAX_GRAM:
        return {GRAMS_FIELD: folded}
    trigrams = sorted({folded[start:start + MAX_GRAM]
                       for start in range(len(folded) - MAX_GRAM + 1)})
    step = max(1, len(trigrams) // _PROBES)
    probes = trigrams[::step][:_PROBES]
    return {GRAMS_FIELD: {"$all": probes}, "ocr_folded": {"$regex": regex}}


def backfill_grams(content: Any) -> int:
    """Give ``ocr_grams`` to documents whose OCR text was written before the field
    existed (once, on the first start after an upgrade); returns how many."""
    done = 0
    for doc in list(content.find({"ocr_folded": {"$ne": None},
                                  GRAMS_FIELD: {"$exists": False}}, {"ocr_folded": 1})):
        content.update_one({"_id": doc["_id"]},
                           {"$set": {GRAMS_FIELD: text_grams(doc["ocr_folded"])}})
        done += 1
    return done
