"""What PxIMSE has sent to a Hydrus client, per hash, so that only changes go out.

A file of its own in the data folder (``hydrus.sqlite3``), not tables in the
catalogue: the bridge sits outside the daemon, and forgetting everything that
was pushed (``pximse hydrus push --again``) is deleting rows here, never
touching the catalogue. Rows are per *target*, a client's URL and tag service
key together, so pointing PxIMSE at another client or service starts afresh.

Per hash it keeps the tags, URLs and note digest last sent, and the tags
PxIMSE itself removed since (``withdrawn``: the only deleted mappings it may
overwrite, because the user did not make them). Hashes the client did not
hold are remembered with the time they were looked up, so that a continuous
push asks about them again only now and then.

A row is *confirmed* once Hydrus is known to have kept what it says: Hydrus
answers a write before it commits it, so a row is written confirmed only
after a forced commit and a read-back, and otherwise unconfirmed, with the
session key of the Hydrus process that took the write, until a later read
(after Hydrus committed, or restarted) shows what it kept. Rows from before
this column existed count as unconfirmed: the next push checks them once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LEDGER_FILE", "Ledger", "PushedState"]

LEDGER_FILE = "hydrus.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pushed (
    target TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    digest TEXT NOT NULL,
    tags TEXT NOT NULL,
    urls TEXT NOT NULL,
    note TEXT NOT NULL,
    withdrawn TEXT NOT NULL,
    pushed_ns INTEGER NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    session TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (target, sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS absent (
    target TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    checked_ns INTEGER NOT NULL,
    PRIMARY KEY (target, sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS watermark (
    target TEXT PRIMARY KEY,
    gen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sidecar (
    path TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    written_ns INTEGER NOT NULL
);
"""


@dataclass
class PushedState:
    """What one hash holds from PxIMSE in the client, as far as PxIMSE knows."""

    digest: str = ""
    tags: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    note: str = ""
    withdrawn: set[str] = field(default_factory=set)


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(pushed)")}
        with self._conn:
            if "confirmed" not in columns:  # a ledger from before: checked once
                self._conn.execute("ALTER TABLE pushed ADD COLUMN confirmed INTEGER NOT NULL"
                                   " DEFAULT 0")
            if "session" not in columns:
                self._conn.execute("ALTER TABLE pushed ADD COLUMN session TEXT NOT NULL"
                                   " DEFAULT ''")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- pushes ---------------------------------------------------------------------

    def digests(self, target: str, hashes: Sequence[str]) -> dict[str, str]:
        return {sha: digest for sha, digest in self._select(
            "SELECT sha256, digest FROM pushed WHERE target = ? AND sha256 IN", target, hashes)}

    def states(self, target: str, hashes: Sequence[str]) -> dict[str, PushedState]:
        rows = self._select(
            "SELECT sha256, digest, tags, urls, note, withdrawn FROM pushed"
            " WHERE target = ? AND sha256 IN", target, hashes)
        return {sha: PushedState(digest, set(json.loads(tags)), set(json.loads(urls)), note,
                                 set(json.loads(withdrawn)))
                for sha, digest, tags, urls, note, withdrawn in rows}

    def record(self, target: str, states: dict[str, PushedState], *, confirmed: bool,
               session: str = "") -> None:
        """What was sent; ``confirmed`` when Hydrus is known to have kept it, else
        with the ``session`` key of the Hydrus process that took it."""
        now = time.time_ns()
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO pushed (target, sha256, digest, tags, urls, note,"
                " withdrawn, pushed_ns, confirmed, session) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(target, sha, s.digest, json.dumps(sorted(s.tags), ensure_ascii=False),
                  json.dumps(sorted(s.urls), ensure_ascii=False), s.note,
                  json.dumps(sorted(s.withdrawn), ensure_ascii=False), now, int(confirmed),
                  "" if confirmed else session)
                 for sha, s in states.items()])
            self._conn.executemany("DELETE FROM absent WHERE target = ? AND sha256 = ?",
                                   [(target, sha) for sha in states])

    def unconfirmed(self, target: str, limit: int = 100_000) -> list[tuple[str, int, str]]:
        """(sha256, when sent in ns, session key) of the rows not yet confirmed,
        oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT sha256, pushed_ns, session FROM pushed WHERE target = ? AND"
                " confirmed = 0 ORDER BY pushed_ns LIMIT ?",
                (target, limit)).fetchall()
        return [(str(sha), int(when), str(session)) for sha, when, session in rows]

    def confirm(self, target: str, hashes: Iterable[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "UPDATE pushed SET confirmed = 1, session = '' WHERE target = ? AND sha256 = ?",
                [(target, sha) for sha in hashes])

    def forget(self, target: str, hashes: Iterable[str] | None = None) -> int:
        """Forget what was pushed (all of it when ``hashes`` is None): the next push
        sends everything again, and Hydrus ignores what it already has. The tags
        PxIMSE removed itself stay remembered: those it may still put back."""
        reset = ("UPDATE pushed SET digest = '', tags = '[]', urls = '[]', note = ''"
                 " WHERE target = ?")
        with self._lock, self._conn:
            if hashes is None:
                self._conn.execute("DELETE FROM absent WHERE target = ?", (target,))
                self._conn.execute("DELETE FROM watermark WHERE target = ?", (target,))
                return self._conn.execute(reset, (target,)).rowcount
            rows = [(target, sha) for sha in hashes]
            self._conn.executemany("DELETE FROM absent WHERE target = ? AND sha256 = ?", rows)
            return self._conn.executemany(reset + " AND sha256 = ?", rows).rowcount

    # -- files the client lacks ------------------------------------------------------

    def mark_absent(self, target: str, hashes: Iterable[str]) -> None:
        now = time.time_ns()
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO absent (target, sha256, checked_ns) VALUES (?,?,?)",
                [(target, sha, now) for sha in hashes])

    def absent_since(self, target: str, hashes: Sequence[str]) -> dict[str, int]:
        """When each of ``hashes`` the client lacked was last looked up (ns)."""
        return {sha: int(when) for sha, when in self._select(
            "SELECT sha256, checked_ns FROM absent WHERE target = ? AND sha256 IN",
            target, hashes)}

    def absent_due(self, target: str, older_than_ns: int, limit: int = 100_000) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT sha256 FROM absent WHERE target = ? AND checked_ns < ?"
                " ORDER BY checked_ns LIMIT ?", (target, older_than_ns, limit)).fetchall()
        return [row[0] for row in rows]

    # -- the continuous push's position ------------------------------------------------

    def watermark(self, target: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT gen FROM watermark WHERE target = ?",
                                     (target,)).fetchone()
        return int(row[0]) if row else 0

    def set_watermark(self, target: str, gen: int) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO watermark (target, gen) VALUES (?, ?)",
                               (target, gen))

    def counts(self, target: str) -> dict[str, int]:
        with self._lock:
            pushed = self._conn.execute("SELECT count(*) FROM pushed WHERE target = ?",
                                        (target,)).fetchone()[0]
            absent = self._conn.execute("SELECT count(*) FROM absent WHERE target = ?",
                                        (target,)).fetchone()[0]
        return {"pushed": int(pushed), "not_in_hydrus": int(absent)}

    # -- sidecars ---------------------------------------------------------------------

    def sidecar_digests(self, paths: Sequence[str]) -> dict[str, str]:
        return dict(self._select("SELECT path, digest FROM sidecar WHERE 1 = ? AND path IN",
                                 1, paths))

    def record_sidecars(self, written: dict[str, str | None]) -> None:
        """Path -> digest of what was written, or None for a sidecar removed."""
        now = time.time_ns()
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO sidecar (path, digest, written_ns) VALUES (?,?,?)",
                [(path, digest, now) for path, digest in written.items() if digest])
            self._conn.executemany("DELETE FROM sidecar WHERE path = ?",
                                   [(path,) for path, digest in written.items() if not digest])

    def sidecar_paths(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._conn.execute("SELECT path FROM sidecar")]

    # -- helpers ----------------------------------------------------------------------

    def _select(self, sql: str, first: object, values: Sequence[str]) -> list[tuple]:
        found: list[tuple] = []
        with self._lock:
            for start in range(0, len(values), 500):
                chunk = list(values[start:start + 500])
                marks = ",".join("?" * len(chunk))
                found.extend(self._conn.execute(f"{sql} ({marks})", (first, *chunk)))
        return found
