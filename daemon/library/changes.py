"""Applying a batch of changed paths (from the watcher) to the catalogue.

A path may be a file that was created, written or renamed into place, a
folder that appeared (moved in: everything under it is new to this root), or
something that is gone (a file, or a whole folder). Each is compared with the
catalogue by ``stat`` alone, as a scan compares: an unchanged file costs
nothing, a new one is hashed, and only unknown content is decoded.

Moves are recognised. A file that disappears in the batch and reappears under
another path (in the same root or another) with the same size and modification
time, and the same name (a move) or in the same folder (a rename), takes the
old file's content without being read again; any
other new file whose hash the catalogue knows is linked to it. Either way no
model runs again. New paths are written before old ones are removed, so a
moved image never drops out of search.

A root that is not there is marked offline, never emptied: missing, an empty
mount point, another drive in its place (see ``library.presence``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from pximse.config import RootConfig, ScanConfig
from pximse.library.filekinds import special_kind
from pximse.library.presence import SAMPLE_FILES, check_root
from pximse.library.scan import ScanPool, ScanReport, record_files
from pximse.library.walk import stat_key, stat_parts, walk_root
from pximse.store.backends import Catalog
from pximse.store.scan_records import ScanBatch

__all__ = ["ChangeReport", "apply_changes"]

MAX_IDS = 1000
"""Content ids listed in one report (a burst of thousands is counted, not listed)."""


@dataclass
class ChangeReport:
    added: int = 0  # files at paths the catalogue did not have
    changed: int = 0  # files whose content changed in place
    removed: int = 0
    moved: int = 0  # files that left one path for another (renames included)
    new_images: int = 0  # content the catalogue had never seen: the models' work
    ids: list[str] = field(default_factory=list)  # content ids of what was written
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # path, reason, message
    offline_roots: list[str] = field(default_factory=list)
    offline_why: dict[str, str] = field(default_factory=dict)  # root name -> reason
    deferred: dict[str, set[str]] = field(default_factory=dict)  # root name -> paths

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.moved
                    or self.errors or self.offline_roots)


@dataclass
class _Gone:
    root_id: int
    file_id: int
    size: int
    mtime_ns: int
    sha256: str | None


def apply_changes(
    catalog: Catalog,
    changes: Mapping[RootConfig, Set[str]],
    *,
    pool: ScanPool,
    thumbnail_dir: Path,
    config: ScanConfig,
    quiet_since_ns: int | None = None,
) -> ChangeReport:
    """Bring the catalogue in line with the disk for the changed paths of each root.

    Files found inside a folder that were written after ``quiet_since_ns`` may
    still be being written: they are left out and listed in ``deferred``, for
    the caller to look at again once they are quiet.
    """
    report = ChangeReport()
    plans: list[tuple[RootConfig, int, dict[str, int]]] = []
    gone: dict[str, _Gone] = {}
    for root, paths in changes.items():
        root_id = catalog.ensure_root(root.name, str(root.path))
        check = check_root(str(root.path), catalog.root_identity(root_id),
                           partial(catalog.root_sample, root_id, SAMPLE_FILES),
                           empty_rule=False)  # deletions the OS reported are real
        if not check.online:
            catalog.set_root_online(root_id, False, check.why)
            report.offline_roots.append(root.name)
            report.offline_why[root.name] = check.why or "offline"
            continue
        on_disk, known = _compare(catalog, root, root_id, paths, config, report,
                                  quiet_since_ns)
        todo = {path: key for path, key in on_disk.items() if known.get(path) != key}
        gone.update(_gone(catalog, root_id, [p for p in known if p not in on_disk]))
        plans.append((root, root_id, todo))

    # Pair what left with what arrived by size and mtime (a move or rename keeps
    # them), and by name (a move) or folder (a rename).
    leaving: dict[tuple[str, int, int], str] = {}
    for path, old in gone.items():
        if old.sha256:
            leaving[(os.path.basename(path), old.size, old.mtime_ns)] = old.sha256
            leaving[(os.path.dirname(path) + os.sep, old.size, old.mtime_ns)] = old.sha256
    gone_shas: dict[str, int] = {}
    for old in gone.values():
        if old.sha256:
            gone_shas[old.sha256] = gone_shas.get(old.sha256, 0) + 1

    scan_report = ScanReport()
    for _root, root_id, todo in plans:
        if not todo:
            continue
        was_known = set(catalog.file_ids(todo))
        jobs = sorted((path, *stat_parts(key)) for path, key in todo.items())
        known_hashes = {}
        for path, size, mtime_ns in jobs:
            sha = leaving.pop((os.path.basename(path), size, mtime_ns), None) \
                or leaving.pop((os.path.dirname(path) + os.sep, size, mtime_ns), None)
            if sha is not None:
                known_hashes[path] = sha
        written = record_files(catalog, root_id, jobs, pool, thumbnail_dir, config,
                               scan_report, known_hashes=known_hashes)
        for record in written:
            if record.state == "error":
                report.errors.append((record.path, record.reason or "error",
                                      record.error or ""))
            if record.sha256 and len(report.ids) < MAX_IDS:
                report.ids.append(record.sha256)
            if record.path in was_known:
                report.changed += 1
            elif record.sha256 and gone_shas.get(record.sha256, 0) > 0:
                gone_shas[record.sha256] -= 1
                report.moved += 1
            else:
                report.added += 1
    report.new_images = scan_report.new_images

    by_root: dict[int, list[int]] = {}
    for old in gone.values():
        by_root.setdefault(old.root_id, []).append(old.file_id)
    for root_id, file_ids in by_root.items():
        catalog.apply_scan_batch(ScanBatch(root_id, removed=file_ids))
    report.removed = max(0, len(gone) - report.moved)
    return report


def _compare(
    catalog: Catalog, root: RootConfig, root_id: int, paths: Set[str],
    config: ScanConfig, report: ChangeReport, quiet_since_ns: int | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """What is on disk (path -> stat key) for the changed paths, and what the
    catalogue has for the same paths (files, and everything under folders)."""
    root_path = str(root.path)
    on_disk: dict[str, int] = {}
    files: set[str] = set()
    folders: list[str] = []
    unreadable: list[str] = []
    for path in sorted(paths):
        rel = _relative(root_path, path)
        if not rel:
            continue  # the root itself, or outside it
        try:
            st = os.stat(path) if config.follow_symlinks else os.lstat(path)
        except OSError:  # gone: a file, or a folder with everything in it
            files.add(path)
            folders.append(path)
            continue
        if stat.S_ISDIR(st.st_mode):
            if root.skips_folder(rel):
                continue
            walked = walk_root(
                path, recursive=root.recursive, follow_symlinks=config.follow_symlinks,
                include_file=_under(rel, root.includes),
                include_folder=_under(rel, lambda sub: not root.skips_folder(sub)),
                library_root=root_path,
            )
            for folder in walked.folders.values():
                on_disk.update(folder.files)
                if quiet_since_ns is None:
                    continue
                for found, key in folder.files.items():
                    if stat_parts(key)[1] > quiet_since_ns and found not in paths:
                        report.deferred.setdefault(root.name, set()).add(found)
                        del on_disk[found]
            for bad, error in walked.unreadable:
                report.errors.append((bad, "unreadable", error))
                unreadable.append(bad)
            folders.append(path)
        elif stat.S_ISREG(st.st_mode) and root.includes(rel):
            on_disk[path] = stat_key(st.st_size, st.st_mtime_ns)
            files.add(path)
        elif special_kind(st.st_mode) and root.includes(rel):  # recorded, never opened
            on_disk[path] = stat_key(0, st.st_mtime_ns)
            files.add(path)
        else:
            # A link (when links are not followed), a file now excluded: not a
            # library file, so one the catalogue had at this path is gone.
            files.add(path)
    known = _catalogued(catalog, root_id, files, folders)
    for bad in unreadable:  # what could not be read is not taken for deleted
        prefix = bad + os.sep
        for path in [p for p in known if p == bad or p.startswith(prefix)]:
            on_disk.setdefault(path, known[path])
    return on_disk, known


def _under(prefix: str, test: Callable[[str], bool]) -> Callable[[str], bool]:
    """``test`` on paths relative to the root, for a walk that starts at ``prefix``."""
    return lambda sub: test(f"{prefix}/{sub}")


def _relative(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators; None outside the root."""
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(path, root).replace(os.sep, "/")


def _catalogued(catalog: Catalog, root_id: int, files: set[str],
                folders: list[str]) -> dict[str, int]:
    return {path: stat_key(size, mtime_ns)
            for path, (size, mtime_ns) in catalog.catalogued_stats(root_id, files,
                                                                     folders).items()}


def _gone(catalog: Catalog, root_id: int, paths: list[str]) -> dict[str, _Gone]:
    return {path: _Gone(root_id, file_id, size, mtime_ns, sha)
            for path, file_id, size, mtime_ns, sha in catalog.gone_files(paths)}
