"""Gitignore-style globs on library paths, compiled to one regex per list.

A root's ``include`` and ``exclude`` lists are tested against every file of a
scan (and every event of a folder watch), so each list becomes a single regex
that ``fullmatch``-es a POSIX path relative to the root, instead of a loop over
``fnmatch`` calls. The syntax, matched without regard to case:

- ``*`` and ``?`` match within one name, ``[abc]``/``[!abc]`` one character,
  ``**`` as a whole segment any number of folders (``**/x``, ``a/**/b``);
- a pattern without a ``/`` matches a file or folder name at any depth
  (``*.png``, ``.*``, ``@eaDir``); one with a ``/`` is anchored at the root
  (``pixiv/*.png``, ``/*.png``); a ``\\`` is read as ``/``;
- a pattern that matches a folder matches everything under it; a trailing
  ``/`` (``tmp/``) matches folders only, so testing ``folder + "/"`` tells
  whether a whole folder is excluded.
"""

from __future__ import annotations

import re

__all__ = ["compile_patterns", "pattern_regex"]


def _segment_regex(segment: str) -> str:
    """One path segment of a glob as a regex that never crosses a ``/``."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1
            if j < n and segment[j] == "!":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '[', as fnmatch does
                out.append(re.escape(ch))
            else:
                body = segment[i + 1 : j]
                negate = body.startswith("!")
                if negate:
                    body = body[1:]
                body = "".join("\\" + c if c in "\\[]^&~|" else c for c in body)
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def pattern_regex(pattern: str) -> str:
    """A glob as the source of a regex for ``fullmatch`` on a relative path.

    Returned uncompiled so that a caller can check one pattern on its own (and
    name it in an error) before :func:`compile_patterns` joins a whole list.
    """
    text = re.sub(r"/+", "/", pattern.replace("\\", "/"))
    folders_only = text.endswith("/")
    text = text.rstrip("/")
    anchored = "/" in text
    segments = text.lstrip("/").split("/")
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]*/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    prefix = "" if anchored else "(?:[^/]*/)*"
    suffix = "/.*" if folders_only else "(?:/.*)?"
    return prefix + "".join(parts) + suffix


def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """All of ``patterns`` as one case-insensitive regex that matches a path when
    any of them does; None for no patterns, so that "no include list" (every
    file counts) stays distinct from a list that matches nothing."""
    if not patterns:
        return None
    joined = "|".join(f"(?:{pattern_regex(p)})" for p in patterns)
    return re.compile(joined, re.IGNORECASE | re.DOTALL)
