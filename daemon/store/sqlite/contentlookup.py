"""Whether the catalogue knows a content hash, asked from the scan's worker processes.

A scan worker reads a new file once: it hashes the bytes and, when the
catalogue does not know the hash yet, decodes the same bytes. Knowing the
hash is this lookup: picklable (only the catalogue's path travels to the
worker; the jobs of one chunk share one unpickled lookup), with a read-only
connection opened on first use. A hash seen as unknown here may become known
before the scan writes (another copy in the same scan): the scan links it
then, and the decode was only wasted work.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any


class ContentLookup:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def knows(self, sha256: str) -> bool:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                             check_same_thread=False, isolation_level=None)
                self._conn.execute("PRAGMA busy_timeout = 10000")
            found = self._conn.execute("SELECT 1 FROM content WHERE sha256 = ?",
                                       (sha256.lower(),)).fetchone()
        return found is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]
