"""A text column of the in-memory query index: one code per row into a vocabulary
of the distinct values, so that equality is an integer compare and the
case-insensitive and substring matches are decided once per distinct value
(thousands of artists or titles), not once per image (a million)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TextColumn:
    codes: np.ndarray  # int32, -1 for null
    vocabulary: list[str]  # only ever appended to, so codes stay valid
    index: dict[str, int]
    _folded: dict[str, list[int]] | None = None
    _folded_size: int = 0
    _casefolded: list[str] = field(default_factory=list)

    def codes_ignoring_case(self, value: str) -> list[int]:
        """Codes of the values equal to ``value`` under SQLite's NOCASE (ASCII only)."""
        if self._folded is None or self._folded_size != len(self.vocabulary):
            self._folded = {}
            for code, text in enumerate(self.vocabulary):
                self._folded.setdefault(ascii_lower(text), []).append(code)
            self._folded_size = len(self.vocabulary)
        return self._folded.get(ascii_lower(value), [])

    def codes_containing(self, value: str) -> list[int]:
        """Codes of the values that contain ``value`` under Unicode case folding
        (the SQL path's ``instr(casefold(column), casefold(value))``)."""
        known = len(self._casefolded)
        if known < len(self.vocabulary):
            self._casefolded.extend(text.casefold() for text in self.vocabulary[known:])
        needle = value.casefold()
        return [code for code, text in enumerate(self._casefolded) if needle in text]


def ascii_lower(text: str) -> str:
    """SQLite's NOCASE: only ASCII letters fold."""
    return text.translate(_ASCII_FOLD)


_ASCII_FOLD = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
