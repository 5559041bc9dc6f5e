"""SQLite connections for the catalogue: a small pool of readers, one writer.

As datasette does, reads use one connection per thread (the API runs its
handlers in a thread pool, so the event loop never waits on SQLite) and every
write goes through a single connection behind a lock, in short batched
transactions. WAL lets readers go on while a batch is written.

The write-ahead log is kept bounded: SQLite's own checkpoints cannot start the
log over while some reader always holds a snapshot (a busy API, a long
search), so the writer checkpoints it in full and truncates it every
:data:`CHECKPOINT_EVERY_S` once it passed :data:`WAL_CHECKPOINT_BYTES`, waiting
a moment for readers to move to the new snapshot; ``journal_size_limit``
trims what is left after SQLite's own checkpoints. A write that fails (a full
disk) is rolled back whole, the ``COMMIT`` included.

Memory is bounded across threads: a thread's reader goes back to the pool when
the thread ends (the API's worker threads come and go), at most
``IDLE_READERS`` idle ones are kept, and each reader has a small page cache and
no memory map. A memory-mapped catalogue counts every page a query touched in
the daemon's resident memory, once per connection; the catalogue's hot pages
are in the OS cache anyway, and the queries that read a lot use the in-memory
index, not SQLite. The writer keeps the larger cache that batched writes use.
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
    "PRAGMA busy_timeout = 10000",
    "PRAGMA journal_size_limit = 67108864",
)
CHECKPOINT_EVERY_S = 30.0
WAL_CHECKPOINT_BYTES = 16 << 20
"""A write-ahead log larger than this is checkpointed and truncated (at most
every CHECKPOINT_EVERY_S)."""
CHECKPOINT_WAIT_MS = 2000
"""How long a checkpoint waits for readers still on an old snapshot (writes wait
meanwhile); it is tried again later if they are not done."""
WRITER_CACHE_KIB = 16384
READER_CACHE_KIB = 2048
"""Page cache per reader; a page past it is read again from the OS cache."""
IDLE_READERS = 4


def connect(path: Path | str, *, readonly: bool = False,
            cache_kib: int = WRITER_CACHE_KIB, mmap_bytes: int = 0) -> sqlite3.Connection:
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
    conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
    # Unicode case folding for case-insensitive path and OCR text matching
    # (SQLite's own lower() and NOCASE fold ASCII only).
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return conn


def select_in(
    conn: sqlite3.Connection, sql: str, values: Iterable[object], chunk: int = 500,
    tail: str = "",
) -> Iterator[Any]:
    """Rows of ``sql`` for each chunk of ``values``; ``sql`` ends in ``IN`` and gets
    the placeholders appended (SQLite limits the number of parameters), then
    ``tail`` (an ``ORDER BY`` that holds within each chunk)."""
    items = list(values)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        yield from conn.execute(f"{sql} ({','.join('?' * len(part))}){tail}", part)


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
        self._idle: list[sqlite3.Connection] = []
        self._leased = 0
        self._readers_lock = threading.Lock()
        self._checkpointed = time.monotonic()
        self._closed = False

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection, from the pool until the thread ends."""
        lease = getattr(self._local, "lease", None)
        if lease is None:
            lease = self._local.lease = _Lease(self, self._take())
        return lease.conn

    def reader_connection(self) -> sqlite3.Connection:
        """A connection of its own with a reader's bounded memory (the in-memory
        query index keeps one)."""
        return connect(self.path, cache_kib=READER_CACHE_KIB)

    def readers(self) -> tuple[int, int]:
        """Reader connections ``(in use by a live thread, idle in the pool)``."""
        with self._readers_lock:
            return self._leased, len(self._idle)

    def _take(self) -> sqlite3.Connection:
        with self._readers_lock:
            conn = self._idle.pop() if self._idle else None
            self._leased += 1
        return conn or self.reader_connection()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        """A reader whose thread ended: idle in the pool, or closed past IDLE_READERS."""
        with self._readers_lock:
            self._leased -= 1
            if not self._closed and len(self._idle) < IDLE_READERS:
                if not conn.in_transaction:
                    self._idle.append(conn)
                    return
        conn.close()

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
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except BaseException:  # a full disk can fail the commit itself
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            if time.monotonic() - self._checkpointed > CHECKPOINT_EVERY_S:
                self._checkpoint(conn)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Checkpoint the whole log and truncate it, when it grew (see the module)."""
        self._checkpointed = time.monotonic()
        try:
            if self.path.with_name(self.path.name + "-wal").stat().st_size \
                    < WAL_CHECKPOINT_BYTES:
                return
        except OSError:
            return
        conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError:
            pass  # a reader held on: next time
        finally:
            conn.execute("PRAGMA busy_timeout = 10000")

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
            self._closed = True
            for conn in self._idle:
                conn.close()
            self._idle.clear()
        lease = getattr(self._local, "lease", None)
        if lease is not None:  # the closing thread's own reader
            del self._local.lease
        with self._write_lock:
            self._writer.close()


class _Lease:
    """A thread's hold on a reader: the connection goes back to the pool when the
    thread ends (its ``threading.local`` slot, and so this object, is dropped)."""

    def __init__(self, db: Database, conn: sqlite3.Connection) -> None:
        self.db = db
        self.conn = conn

    def __del__(self) -> None:
        try:
            self.db._give_back(self.conn)
        except (sqlite3.Error, AttributeError, TypeError):
            pass  # the interpreter is shutting down: nothing to give back to
