"""A catalogue that hands every write to SQLite and to MongoDB, for differential tests.

The library builders of ``test_query_engines`` take one catalogue; given a
:class:`TeeCatalog` they fill a SQLite catalogue and a MongoDB one (mongomock,
or a real server) with the same writes in the same order, so the two hold the
same images under the same content ids and every query must give the same
answer. File ids a write names (removed, restored) are SQLite's; the tee maps
them to the MongoDB catalogue's ids by path.
"""

from __future__ import annotations

from typing import Any

from pximse.store.mongo.catalog import MongoCatalog
from pximse.store.sqlite.catalog import ScanBatch, SqliteCatalog


class TeeCatalog:
    def __init__(self, sqlite: SqliteCatalog, mongo: MongoCatalog) -> None:
        self.sqlite = sqlite
        self.mongo = mongo
        self.db = sqlite.db  # the builders read file ids back with SQL

    def _mongo_file_ids(self, ids: list[int]) -> list[int]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        paths = dict(self.sqlite.db.reader().execute(
            f"SELECT id, path FROM file WHERE id IN ({marks})", ids))
        by_path = self.mongo.file_ids(paths.values())
        return [by_path[paths[i]] for i in ids if i in paths]

    def apply_scan_batch(self, batch: ScanBatch) -> None:
        mirrored = ScanBatch(batch.root_id, list(batch.new_content), list(batch.files),
                             self._mongo_file_ids(batch.restored),
                             self._mongo_file_ids(batch.removed))
        self.sqlite.apply_scan_batch(batch)
        self.mongo.apply_scan_batch(mirrored)

    def __getattr__(self, name: str) -> Any:
        first, second = getattr(self.sqlite, name), getattr(self.mongo, name)
        if not callable(first):
            return first

        def both(*args: Any, **kwargs: Any) -> Any:
            answer = first(*args, **kwargs)
            other = second(*args, **kwargs)
            if name in ("ensure_root", "content_ids", "content_id_for"):
                assert other == answer, f"{name}: MongoDB {other!r} != SQLite {answer!r}"
            return answer

        return both
