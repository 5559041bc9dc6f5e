"""SQLite connections for the catalogue: many readers, one writer.

As datasette does, reads use one connection per thread (the API runs its
handlers in a thread pool, so the event loop never waits on SQLite) and every
write goes through a single connection behind a lock, in short batched
transactions. WAL lets readers go on while a batch is written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pximse.config.data_folder import make_private_file, make_private_folder
from pximse.query.errors import QueryError
from pximse.store.sqlite.schema import migrate

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = OFF",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -16384",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA busy_timeout = 10000",
)


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    for pragma in _PRAGMAS:
        if readonly and "journal_mode" in pragma:
            continue
        conn.execute(pragma)
    # Unicode case folding for case-insensitive path and OCR text matching
    # (SQLite's own lower() and NOCASE fold ASCII only).
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return conn


def select_in(
    conn: sqlite3.Connection, sql: str, values: Iterable[object], chunk: int = 500
) -> Iterator[Any]:
    """Rows of ``sql`` for each chunk of ``values``; ``sql`` ends in ``IN`` and gets
    the placeholders appended (SQLite limits the number of parameters)."""
    items = list(values)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        yield from conn.execute(f"{sql} ({','.join('?' * len(part))})", part)


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else text


class Database:
    """The catalogue file: opens it, migrates it, hands out connections."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        make_private_folder(self.path.parent)
        self._writer = connect(self.path)
        # SQLite gives the WAL and shared-memory files the catalogue's own mode.
        for private in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            make_private_file(private)
        migrate(self._writer)
        self._write_lock = threading.RLock()
        self.gen = 0
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the single writer connection.

        Each transaction takes the next write generation (``self.gen`` while it
        runs); rows it changes are stamped with it so readers can catch up.
        """
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                self.gen = int(
                    conn.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1"
                        " WHERE key = 'gen' RETURNING value"
                    ).fetchone()[0]
                )
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def time_limit(self, conn: sqlite3.Connection, limit_ms: int) -> Iterator[None]:
        """Interrupt a query that runs longer than ``limit_ms`` with a QueryError."""
        deadline = time.monotonic() + limit_ms / 1000
        interrupted = False

        def check() -> int:
            nonlocal interrupted
            if time.monotonic() > deadline:
                interrupted = True
                return 1
            return 0

        conn.set_progress_handler(check, 10_000)
        try:
            yield
        except sqlite3.OperationalError as exc:
            if interrupted:
                raise QueryError(
                    f"the query took longer than {limit_ms} ms; make it more specific"
                ) from exc
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
