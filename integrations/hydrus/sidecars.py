"""``image.ext.txt`` sidecars for Hydrus import folders: one tag per line.

That is Hydrus's default sidecar format for import folders (and for its "add
tags/urls with the import" step): the file next to the image, named after it
with ``.txt`` added. Users who bring files into Hydrus through an import folder
rather than the Client API get PxIMSE's tags that way.

A sidecar PxIMSE did not write (the user's own, or one they edited since) is
never overwritten or removed: the ledger records a digest of each file written,
and a file whose content no longer matches it is reported and left alone.
Unchanged sidecars are not rewritten (an import folder would see a new file).

Nothing is written inside Hydrus's own file store (``client_files/fXX/<sha256>.ext``,
indexed in place by ``pximse hydrus import``): Hydrus already has those files
(push their tags instead), and a stray file there outlives the file Hydrus
deletes. An image without tags gets no sidecar (an empty one says nothing),
and a sidecar PxIMSE wrote for it before is removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pximse.integrations.hydrus.catalog_reads import reads_for
from pximse.integrations.hydrus.ledger import Ledger
from pximse.integrations.hydrus.payload import PayloadOptions, read_payloads

__all__ = ["SIDECAR_SUFFIX", "SidecarReport", "in_hydrus_store", "remove_sidecars",
           "sidecar_text", "write_sidecars"]

SIDECAR_SUFFIX = ".txt"
PHASE = "Writing Hydrus sidecars"
_STORE_FOLDER = re.compile(r"f[0-9a-f]{2}")
_STORE_NAME = re.compile(r"[0-9a-f]{64}(?:\.[0-9a-z]{1,8})?")


@dataclass
class SidecarReport:
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    kept: list[str] = field(default_factory=list)
    """Sidecars left alone: the user's own, or edited since PxIMSE wrote them."""
    errors: list[str] = field(default_factory=list)
    in_hydrus: int = 0
    """Files in Hydrus's own store, which get no sidecar."""
    no_tags: int = 0
    """Images without tags, which get no sidecar."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def in_hydrus_store(path: str) -> bool:
    """Whether ``path`` is a file of a Hydrus file store: ``fXX/<sha256>.ext``."""
    folder, name = os.path.split(path)
    return bool(_STORE_FOLDER.fullmatch(os.path.basename(folder))
                and _STORE_NAME.fullmatch(name.lower()))


def sidecar_text(tags: Iterable[str]) -> str:
    return "".join(f"{tag}\n" for tag in sorted(tags))


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def write_sidecars(catalog: Any, ledger: Ledger, images: Iterable[Sequence[int]],
                   options: PayloadOptions, *, total: int | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> SidecarReport:
    """A sidecar beside every online file of these images (batches of content ids)."""
    report = SidecarReport()
    reads = reads_for(catalog)
    done = 0
    for batch in images:
        payloads = {p.sha256: p for p in read_payloads(catalog, list(batch), options)}
        files = reads.online_files(list(batch))
        paths = [path + SIDECAR_SUFFIX for path, _ in files]
        known = ledger.sidecar_digests(paths)
        written: dict[str, str | None] = {}
        for (image, sha), sidecar in zip(files, paths, strict=True):
            payload = payloads.get(sha)
            if payload is None:
                continue
            if in_hydrus_store(image):
                report.in_hydrus += 1
                continue
            data = sidecar_text(payload.tags).encode("utf-8")
            try:
                current = Path(sidecar).read_bytes()
            except FileNotFoundError:
                current = None
            except OSError as exc:
                report.errors.append(f"{sidecar}: {exc.strerror or exc}")
                continue
            if not payload.tags:
                report.no_tags += 1
                if current is not None and known.get(sidecar) == _digest(current):
                    _remove(sidecar, report, written)  # PxIMSE's own, now saying nothing
                continue
            if current == data:
                report.unchanged += 1
                written[sidecar] = _digest(data)
                continue
            if current is not None and known.get(sidecar) != _digest(current):
                report.kept.append(sidecar)
                continue
            try:
                _write_atomically(Path(sidecar), data)
            except OSError as exc:
                report.errors.append(f"{sidecar}: {exc.strerror or exc}")
                continue
            report.written += 1
            written[sidecar] = _digest(data)
        ledger.record_sidecars(written)
        done += len(batch)
        if progress is not None:
            progress(PHASE, done, max(total or 0, done))
    return report


def remove_sidecars(ledger: Ledger) -> SidecarReport:
    """Remove the sidecars PxIMSE wrote and nobody changed since."""
    report = SidecarReport()
    paths = ledger.sidecar_paths()
    known = ledger.sidecar_digests(paths)
    gone: dict[str, str | None] = {}
    for sidecar in paths:
        try:
            current = Path(sidecar).read_bytes()
        except FileNotFoundError:
            gone[sidecar] = None
            continue
        except OSError as exc:
            report.errors.append(f"{sidecar}: {exc.strerror or exc}")
            continue
        if _digest(current) != known.get(sidecar):
            report.kept.append(sidecar)
            gone[sidecar] = None  # the user's now: forget it
            continue
        _remove(sidecar, report, gone)
    ledger.record_sidecars(gone)
    return report


def _remove(sidecar: str, report: SidecarReport, record: dict[str, str | None]) -> None:
    try:
        os.unlink(sidecar)
    except FileNotFoundError:
        pass
    except OSError as exc:
        report.errors.append(f"{sidecar}: {exc.strerror or exc}")
        return
    else:
        report.removed += 1
    record[sidecar] = None


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".pximse-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
