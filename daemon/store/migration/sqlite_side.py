"""The embedded (SQLite) catalogue as migration records."""

from __future__ import annotations

import json
from typing import Any

from pximse.store.migration.records import COLUMNS, KEYS, Record
from pximse.store.sqlite.catalog import SqliteCatalog
from pximse.store.sqlite.ocrindex import write_ocr

_TABLES = {"root": "root", "folder_state": "folder_state", "file": "file", "tag": "tag",
           "content": "content", "pixiv_work": "pixiv_work", "pixiv_error": "pixiv_error",
           "pixiv_user_name": "pixiv_user_name"}
_DATA_TABLES = ("root", "folder_state", "file", "tag", "image_tag", "content", "stage",
                "ocr_text", "ocr_result", "ocr_gram", "pixiv_work", "pixiv_error",
                "pixiv_user_name")


class SqliteSide:
    def __init__(self, catalog: SqliteCatalog) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.name = f"SQLite {self.db.path}"

    # -- reading ------------------------------------------------------------------------

    def read(self, kind: str, after: tuple[Any, ...] | None, limit: int) -> list[Record]:
        columns = COLUMNS[kind]
        keys = KEYS[kind]
        where, params = "", []
        if after is not None:
            where = f" WHERE ({', '.join(keys)}) > ({', '.join('?' * len(keys))})"
            params = list(after)
        conn = self.db.reader()
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {_TABLES[kind]}{where}"
            f" ORDER BY {', '.join(keys)} LIMIT ?", [*params, limit]).fetchall()
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        if kind == "pixiv_work":
            for record in records:
                record["tags"] = json.loads(record["tags"])
        if kind == "content" and records:
            self._complete_content(conn, records)
        return records

    @staticmethod
    def _complete_content(conn: Any, records: list[Record]) -> None:
        by_id = {record["id"]: record for record in records}
        for record in records:
            record.update(tags=[], stages=[], ocr=None)
        marks = ",".join("?" * len(by_id))
        ids = list(by_id)
        for cid, key, origin, kind, score in conn.execute(
                "SELECT it.content_id, t.key, it.origin, it.kind, it.score FROM image_tag it"
                f" JOIN tag t ON t.id = it.tag_id WHERE it.content_id IN ({marks})", ids):
            by_id[cid]["tags"].append([key, origin, kind, score])
        for cid, stage, model_id, status, error, updated in conn.execute(
                "SELECT content_id, stage, model_id, status, error, updated_ns FROM stage"
                f" WHERE content_id IN ({marks})", ids):
            by_id[cid]["stages"].append([stage, model_id, status, error, updated])
        for cid, text, model_id, lines in conn.execute(
                "SELECT t.content_id, t.text, r.model_id, r.lines FROM ocr_text t"
                f" LEFT JOIN ocr_result r ON r.content_id = t.content_id"
                f" WHERE t.content_id IN ({marks})", ids):
            by_id[cid]["ocr"] = {"model_id": model_id or "", "text": text,
                                 "lines": json.loads(lines) if lines else []}
        for record in records:
            record["tags"].sort()
            record["stages"].sort()

    def count(self, kind: str) -> int:
        return int(self.db.reader().execute(
            f"SELECT count(*) FROM {_TABLES[kind]}").fetchone()[0])

    def counters(self) -> dict[str, int]:
        conn = self.db.reader()
        found = {name: int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
                 for name, table in (("root", "root"), ("file", "file"),
                                     ("content", "content"))}
        found["gen"] = int(conn.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()[0])
        return found

    # -- writing ------------------------------------------------------------------------

    def write(self, kind: str, records: list[Record]) -> None:
        if not records:
            return
        with self.db.write() as conn:
            if kind == "content":
                self._write_content(conn, records)
                return
            columns = COLUMNS[kind]
            rows = [[json.dumps(r[c], ensure_ascii=False) if (kind, c) == ("pixiv_work", "tags")
                     else r[c] for c in columns] for r in records]
            if kind == "tag":
                conn.executemany(
                    "INSERT INTO tag (key, name, count) VALUES (?, ?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET name = excluded.name, count = excluded.count", rows)
                return
            conn.executemany(
                f"INSERT OR REPLACE INTO {_TABLES[kind]} ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))})", rows)

    def _write_content(self, conn: Any, records: list[Record]) -> None:
        from pximse.store.migration.records import CONTENT_COLUMNS

        conn.executemany(
            f"INSERT OR REPLACE INTO content ({', '.join(CONTENT_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(CONTENT_COLUMNS))})",
            [[r[c] for c in CONTENT_COLUMNS] for r in records])
        ids = [(r["id"],) for r in records]
        for table in ("image_tag", "stage"):
            conn.executemany(f"DELETE FROM {table} WHERE content_id = ?", ids)
        keys = sorted({tag[0] for r in records for tag in r["tags"]})
        tag_ids: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            tag_ids.update(conn.execute(
                f"SELECT key, id FROM tag WHERE key IN ({','.join('?' * len(chunk))})", chunk))
        missing = [key for key in keys if key not in tag_ids]
        if missing:
            raise ValueError(f"tags {missing[:5]} are on images but not in the tag list")
        conn.executemany(
            "INSERT INTO image_tag (tag_id, content_id, origin, kind, score) VALUES (?,?,?,?,?)",
            [(tag_ids[key], r["id"], origin, kind, score)
             for r in records for key, origin, kind, score in r["tags"]])
        conn.executemany(
            "INSERT INTO stage (content_id, stage, model_id, status, error, updated_ns)"
            " VALUES (?,?,?,?,?,?)",
            [(r["id"], *stage) for r in records for stage in r["stages"]])
        for record in records:
            ocr = record["ocr"]
            if ocr is None:
                continue
            lines = [(text, box, confidence) for text, box, confidence in ocr["lines"]]
            write_ocr(conn, record["id"], ocr["model_id"],
                      lines if lines or not ocr["text"] else ocr["text"], record["gen"])
            conn.execute("UPDATE content SET textlen = ?, gen = ? WHERE id = ?",
                         (record["textlen"], record["gen"], record["id"]))

    # -- bookkeeping --------------------------------------------------------------------

    def checkpoint(self, kind: str) -> tuple[Any, ...] | None:
        row = self.db.reader().execute("SELECT value FROM meta WHERE key = ?",
                                       (f"migrate:{kind}",)).fetchone()
        return None if row is None else tuple(json.loads(row[0]))

    def set_checkpoint(self, kind: str, key: tuple[Any, ...] | None) -> None:
        with self.db.write() as conn:
            if key is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (f"migrate:{kind}",))
            else:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (f"migrate:{kind}", json.dumps(list(key), ensure_ascii=False)))

    def is_empty(self) -> bool:
        conn = self.db.reader()
        return not any(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
                       for table in ("root", "file", "content", "tag"))

    def clear(self) -> None:
        with self.db.write() as conn:
            for table in _DATA_TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM meta WHERE key LIKE 'migrate:%'")

    def finish(self, counters: dict[str, int]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'gen'",
                         (counters.get("gen", 0),))
