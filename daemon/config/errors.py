"""The one exception a bad configuration raises, shared by every step that can
find one (locating, reading, parsing, validating) so that callers catch one type."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A configuration that cannot be used, with what to fix.

    ``message`` names the key and the problem (``server.port: must be between 1
    and 65535``); ``key`` is that key alone (None for a file that cannot be read
    or parsed); ``path`` is the configuration file; ``line`` and ``column`` are
    set for TOML syntax errors. ``str()`` puts them together for people.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        path: Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.key = key
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = "" if self.path is None else str(self.path)
        if self.line is not None:
            where += f":{self.line}" + ("" if self.column is None else f":{self.column}")
        return f"{where}: {self.message}" if where else self.message
