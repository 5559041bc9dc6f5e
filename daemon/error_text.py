"""Errors as one line a user reads: the last line of a traceback, no object
addresses (``<_io.BytesIO object at 0x7f…>`` says nothing to anyone)."""

from __future__ import annotations

import re

__all__ = ["one_line"]

_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")
MAX_CHARS = 300


def one_line(error: BaseException | str) -> str:
    """``error`` in one line: an exception's type and message, or the last line of
    a traceback carried as text (a model process's), shortened to MAX_CHARS."""
    if isinstance(error, BaseException):
        message = str(error).strip()
        lines = [line for line in message.splitlines() if line.strip()]
        if len(lines) > 1 and lines[-1][:1].isalpha() and "Traceback" in message:
            text = lines[-1].strip()  # the traceback's last line says what happened
            head = lines[0].strip().rstrip(":")
            text = f"{head}: {text}" if head and "Traceback" not in head else text
        else:
            text = f"{type(error).__name__}: {lines[0].strip()}" if lines \
                else type(error).__name__
    else:
        lines = [line for line in error.splitlines() if line.strip()]
        text = lines[-1].strip() if lines else ""
    text = _OBJECT_REPR.sub("", text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
