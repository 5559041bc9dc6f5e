"""The configuration file on disk: read it as TOML, with the line and column of
a syntax error in the :class:`ConfigError`, and write a new one without ever
leaving half a file for a second process to read."""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from pximse.config.errors import ConfigError

__all__ = ["os_reason", "read_toml", "write_atomically"]


def os_reason(exc: OSError) -> str:
    """The OS's words for a failed file operation, without the errno and path
    that :class:`ConfigError` already shows."""
    return exc.strerror or str(exc)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, creating its folder. Raises :class:`OSError`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside and rename, so that a second process starting at the same
    # moment never reads half a file.
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)$")


def read_toml(path: Path) -> dict[str, Any]:
    """The file's tables, or a :class:`ConfigError` that says why not."""
    if path.is_dir():
        raise ConfigError("is a folder, not a configuration file", path=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {os_reason(exc)}",
                          path=path) from exc
    try:
        text = raw.decode("utf-8-sig")  # Notepad's byte-order mark is harmless
    except UnicodeDecodeError as exc:
        raise ConfigError("invalid TOML: the file is not UTF-8 text", path=path,
                          line=raw[: exc.start].count(b"\n") + 1) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        column: int | None = None
        if found := _TOML_POSITION_RE.search(message):
            line, column = int(found.group(1)), int(found.group(2))
            message = message[: found.start()]
        elif found := _TOML_END_RE.search(message):
            lines = text.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
            message = message[: found.start()] + " at the end of the file"
        raise ConfigError(f"invalid TOML: {message}", path=path, line=line,
                          column=column) from exc
