"""A library watcher over real folders, with what it reported."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from helpers.waiting import wait_for
from pximse.config import RootConfig, ScanConfig
from pximse.library.changes import ChangeReport
from pximse.library.scan import scan_roots
from pximse.library.watch import LibraryWatcher
from pximse.store.sqlite.catalog import SqliteCatalog


class Watched:
    """A watcher over real roots, with what it reported."""

    def __init__(self, tmp_path: Path, roots: list[RootConfig], workers: int = 1,
                 **options: Any) -> None:
        self.catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
        self.roots = roots
        self.reports: list[ChangeReport] = []
        self.modes: list[tuple[str, str, str | None]] = []
        self.thumbs = tmp_path / "thumbs"
        self.config = ScanConfig(workers=workers)
        scan_roots(self.catalog, roots, thumbnail_dir=self.thumbs, config=self.config)
        self.watcher = LibraryWatcher(
            self.catalog, roots, thumbnail_dir=self.thumbs, scan_config=self.config,
            debounce_ms=200, on_batch=self.reports.append,
            on_mode=lambda root, mode, why: self.modes.append((root.name, mode, why)),
            on_rescan=lambda root, reason: scan_roots(
                self.catalog, [root], thumbnail_dir=self.thumbs, config=self.config),
            **options,
        )
        self.watcher.start()
        wait_for(lambda: len(self.watcher.modes) == len(roots), what="watching")
        time.sleep(0.2)  # the OS's watches are in place shortly after the thread starts

    def state(self, path: Path) -> str | None:
        row = self.catalog.db.reader().execute(
            "SELECT state FROM file WHERE path = ?", (str(path),)).fetchone()
        return None if row is None else row[0]

    def sha(self, path: Path) -> str | None:
        row = self.catalog.db.reader().execute(
            "SELECT c.sha256 FROM file f JOIN content c ON c.id = f.content_id"
            " WHERE f.path = ?", (str(path),)).fetchone()
        return None if row is None else row[0]

    def count(self, where: str = "1", *args: Any) -> int:
        return int(self.catalog.db.reader().execute(
            f"SELECT count(*) FROM file WHERE {where}", args).fetchone()[0])

    def total(self, field: str) -> int:
        return sum(getattr(report, field) for report in self.reports)

    def close(self) -> None:
        self.watcher.stop()
        self.catalog.close()
