"""Copying a catalogue (and its vectors) from one backend to another, resumably.

Kinds are copied in order, in key order, in batches; after each batch the
target remembers the last key it holds (``migrate:<kind>`` in its meta), so a
copy that stopped (a crash, Ctrl-C, a lost connection) goes on from there
when run again. Writes replace by key, so a batch written twice does no harm.
At the end both sides are read back and compared kind by kind (count and
checksum, :mod:`pximse.store.migration.records`); the checkpoints are then
removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pximse.store.migration.records import KINDS, Side, Summary, record_key, summarise

Progress = Callable[[str, int], None]


class MigrationError(RuntimeError):
    """A copy that cannot start or did not come out equal; the message says what to do."""


@dataclass(frozen=True)
class KindReport:
    kind: str
    source: Summary
    target: Summary

    @property
    def ok(self) -> bool:
        return self.source == self.target

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.source.count,
                "target_count": self.target.count, "checksum": self.source.checksum,
                "target_checksum": self.target.checksum, "equal": self.ok}


def copy_catalogue(source: Side, target: Side, *, batch: int = 1000, replace: bool = False,
                   progress: Progress | None = None,
                   stop_after: int | None = None) -> list[KindReport]:
    """Copy every kind from ``source`` to ``target`` and compare them.

    A target that already holds a catalogue (and is not a copy in progress) is
    refused unless ``replace``. ``stop_after`` (batches) stops the copy early,
    as an interruption would: tests use it to check that a copy resumes.
    """
    resuming = any(target.checkpoint(kind) is not None for kind in KINDS)
    if replace:
        target.clear()
    elif not resuming and not target.is_empty():
        raise MigrationError(
            f"{target.name} already holds a catalogue; copy into an empty one, or pass "
            "--replace to overwrite it")
    batches = 0
    for kind in KINDS:
        after = target.checkpoint(kind)
        copied = 0
        while True:
            records = source.read(kind, after, batch)
            if records:
                target.write(kind, records)
                after = record_key(kind, records[-1])
                target.set_checkpoint(kind, after)
                copied += len(records)
                if progress is not None:
                    progress(kind, copied)
                batches += 1
                if stop_after is not None and batches >= stop_after:
                    raise MigrationError(f"stopped after {batches} batches, as asked")
            if len(records) < batch:
                break
        if after is None:
            target.set_checkpoint(kind, ("",))  # nothing to copy: done all the same
    target.finish(source.counters())
    reports = verify(source, target, batch=max(batch, 2000))
    for kind in KINDS:
        target.set_checkpoint(kind, None)
    return reports


def verify(source: Side, target: Side, *, batch: int = 2000) -> list[KindReport]:
    """Both sides read back, kind by kind: counts and checksums."""
    return [KindReport(kind, summarise(source, kind, batch), summarise(target, kind, batch))
            for kind in KINDS]


# -- vectors ----------------------------------------------------------------------------


def vector_checksum(store: Any, ids: np.ndarray, batch: int = 2000,
                    precision: Any = np.float32) -> Summary:
    """Count and SHA-256 of ``(id, float32 vector bytes)`` for the ids the store holds,
    the vectors first rounded to ``precision``."""
    digest = hashlib.sha256()
    count = 0
    ordered = np.unique(np.asarray(ids, dtype=np.int64))
    for start in range(0, len(ordered), batch):
        found, vectors = store.get(ordered[start:start + batch])
        order = np.argsort(found, kind="stable")
        for cid, vector in zip(found[order].tolist(), vectors[order], strict=True):
            digest.update(int(cid).to_bytes(8, "little", signed=True))
            digest.update(np.asarray(vector).astype(precision).astype("<f4").tobytes())
            count += 1
    return Summary(count, digest.hexdigest())


def copy_vectors(source: Any, target: Any, ids: np.ndarray, *, batch: int = 2000,
                 progress: Progress | None = None) -> KindReport:
    """Copy the vectors of ``ids`` (those the source holds) and compare both sides."""
    ordered = np.unique(np.asarray(ids, dtype=np.int64))
    copied = 0
    for start in range(0, len(ordered), batch):
        found, vectors = source.get(ordered[start:start + batch])
        if len(found):
            target.add(found, vectors)
            copied += len(found)
            if progress is not None:
                progress(f"vectors {source.model_id}", copied)
    target.save()
    # The embedded store keeps float16: both sides compare at the coarser precision.
    precision = min((np.dtype(getattr(side, "stored_dtype", np.float32))
                     for side in (source, target)), key=lambda dtype: dtype.itemsize)
    return KindReport(f"vectors {source.model_id}",
                      vector_checksum(source, ordered, batch, precision),
                      vector_checksum(target, ordered, batch, precision))
