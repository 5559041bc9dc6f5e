"""``pximse migrate``: copy the catalogue (and vectors, and text) between backends."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options


@click.command()
@config_options
@click.option("--to", "target", type=click.Choice(["mongodb", "embedded"]), required=True,
              help="Where the catalogue goes: a MongoDB server, or the data folder's SQLite.")
@click.option("--uri", default=None,
              help="The MongoDB address (default: PXIMSE_MONGODB_URI, then [backend] "
                   "mongodb_uri).")
@click.option("--database", default=None, help="The MongoDB database (default: [backend] "
              "mongodb_database).")
@click.option("--milvus-uri", default=None,
              help="Copy the CLIP vectors too: to this Milvus server or milvus-lite file "
                   "(--to mongodb), or from it (--to embedded).")
@click.option("--meili-url", default=None,
              help="With --to mongodb: fill this Meilisearch server's text index as well.")
@click.option("--replace", is_flag=True,
              help="Overwrite a target that already holds a catalogue.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Records per write.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.pass_obj
def migrate(obj: Context, config_path: Path | None, data_dir: Path | None, target: str,
            uri: str | None, database: str | None, milvus_uri: str | None,
            meili_url: str | None, replace: bool, batch: int, as_json: bool) -> None:
    """Copy everything to another backend, resumably, and check the copy.

    `--to mongodb` copies the data folder's catalogue to MongoDB; `--to embedded`
    copies a MongoDB catalogue into the data folder. A copy that stops (Ctrl-C,
    a lost connection) goes on where it was when run again. At the end both
    sides are compared kind by kind (counts and checksums); any difference is
    an error exit. Then set [backend] kind to use the copy.
    """
    from pximse.config.uris import redact_uri
    from pximse.store.backends import mongodb_uri
    from pximse.store.migration.copy import MigrationError, copy_catalogue
    from pximse.store.migration.sqlite_side import SqliteSide
    from pximse.store.mongo.database import MongoDatabase, MongoUnavailable
    from pximse.store.mongo.migration_side import MongoSide
    from pximse.store.sqlite.catalog import SqliteCatalog

    config = obj.load(config_path, data_dir)
    address = uri or mongodb_uri(config)
    name = database or config.backend.mongodb_database
    try:
        mongo = MongoDatabase.connect(address, name)
    except MongoUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    sqlite = SqliteCatalog(config.catalog_path, tag_threshold=config.search.tag_threshold,
                           memory_index=False)
    mongo_side, sqlite_side = MongoSide(mongo), SqliteSide(sqlite)
    source, sink = ((sqlite_side, mongo_side) if target == "mongodb"
                    else (mongo_side, sqlite_side))
    say = _Reporter(as_json)
    say.line(f"copying {source.name} to {sink.name} (MongoDB at {redact_uri(address)})")
    try:
        reports = copy_catalogue(source, sink, batch=batch, replace=replace,
                                 progress=say.progress)
        if milvus_uri:
            reports += _copy_vectors(config, target, milvus_uri, sqlite, mongo, say)
        if meili_url and target == "mongodb":
            reports.append(_fill_text(config, meili_url, mongo))
    except (MigrationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sqlite.close()
        mongo.close()
    say.report(reports)
    if not all(report.ok for report in reports):
        raise click.ClickException("the copy differs from its source (see the report); run "
                                   "again with --replace to copy everything afresh")


class _Reporter:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def line(self, text: str) -> None:
        if not self.as_json:
            click.echo(text, err=True)

    def progress(self, kind: str, done: int) -> None:
        if not self.as_json and sys.stderr.isatty():
            click.echo(f"\r{kind}: {done}", nl=False, err=True)

    def report(self, reports: list[Any]) -> None:
        if self.as_json:
            click.echo(json.dumps({"ok": all(r.ok for r in reports),
                                   "kinds": [r.to_json() for r in reports]}, indent=2))
            return
        if sys.stderr.isatty():
            click.echo("", err=True)
        for r in reports:
            mark = "equal" if r.ok else "DIFFERENT"
            click.echo(f"{r.kind:24} {r.source.count:>9} -> {r.target.count:>9}  "
                       f"sha256 {r.source.checksum[:16]}  {mark}")


def _copy_vectors(config: Any, target: str, milvus_uri: str, sqlite: Any, mongo: Any,
                  say: _Reporter) -> list[Any]:
    from dataclasses import replace as changed

    import numpy as np

    from pximse.store.backends import milvus_location, vectors_folder
    from pximse.store.migration.copy import copy_vectors
    from pximse.store.mongo.vectorsync import sync_vector_scalars
    from pximse.store.vectors.embedded import EmbeddedVectorStore, stored_models
    from pximse.store.vectors.milvus import MilvusVectorStore, milvus_models

    location = milvus_location(changed(config, backend=changed(config.backend,
                                                                 milvus_uri=milvus_uri)))
    token = config.backend.milvus_token
    folder = vectors_folder(config)
    reports = []
    if target == "mongodb":
        ids = np.array([cid for cid, in sqlite.db.reader().execute("SELECT id FROM content")],
                       dtype=np.int64)
        for model_id, dims in stored_models(folder).items():
            embedded = EmbeddedVectorStore(folder, dims, model_id)
            milvus = MilvusVectorStore(location, dims, model_id, token=token)
            reports.append(copy_vectors(embedded, milvus, ids, progress=say.progress))
            sync_vector_scalars(mongo, milvus, full=True)
    else:
        for model_id, dims, client in milvus_models(location, token=token):
            milvus = MilvusVectorStore(location, dims, model_id, token=token, client=client)
            embedded = EmbeddedVectorStore(folder, dims, model_id)
            reports.append(copy_vectors(milvus, embedded, milvus.all_ids(),
                                        progress=say.progress))
    return reports


def _fill_text(config: Any, meili_url: str, mongo: Any) -> Any:
    import os

    from pximse.store.meili import MeiliError, MeiliTextStore
    from pximse.store.migration.copy import KindReport
    from pximse.store.migration.records import Summary
    from pximse.store.mongo.catalog import MongoCatalog

    key = os.environ.get("PXIMSE_MEILI_KEY") or config.backend.meili_key
    try:
        text = MeiliTextStore(meili_url, key, index=config.backend.meili_index)
        catalog = MongoCatalog(mongo)
        ids = [doc["_id"] for doc in mongo.content.find({}, {"_id": 1})]
        for start in range(0, len(ids), 1000):
            text.put(catalog.text_documents(ids[start:start + 1000]))
        count = text.count()
    except MeiliError as exc:
        raise ValueError(str(exc)) from exc
    return KindReport("meilisearch text", Summary(len(ids), "-"), Summary(count, "-"))
