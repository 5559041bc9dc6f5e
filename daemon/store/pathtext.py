"""File paths as the catalogue stores them, and as people read them.

A POSIX file name is any bytes but NUL and ``/``; Python hands the bytes that
are not UTF-8 over as lone surrogates (U+DC80–U+DCFF, PEP 383), and a Windows
name may hold an unpaired UTF-16 surrogate. SQLite and MongoDB take only valid
UTF-8 text, so such a path cannot be stored as it is.

The stored form writes each lone surrogate as NUL and four hex digits. No path
can hold a NUL, so the form is unambiguous and lossless (:func:`os_path` gives
back the very name the OS holds), and an ordinary path is stored as itself:
nothing to migrate, and a stored path still starts with its folder's stored
path (prefix queries keep working). The readable form, for messages, the API
and the page, shows a byte that is not UTF-8 as ``\\xe9``.
"""

from __future__ import annotations

import re

__all__ = ["os_path", "readable", "stored_path"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile("\x00([0-9a-f]{4})")


def stored_path(path: str) -> str:
    """``path`` as valid UTF-8 text that :func:`os_path` turns back into it."""
    if path.isascii():
        return path
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda m: f"\x00{ord(m.group()):04x}", path)
    return path


def os_path(text: str) -> str:
    """The path the OS holds, from its stored form."""
    if "\x00" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def readable(text: str) -> str:
    """A path (stored or not) or a message holding one, as text any output takes:
    a byte that is not UTF-8 shows as ``\\xe9``, an unpaired surrogate as ``\\udc00``."""
    text = os_path(text)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(_escape, text)
    return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
