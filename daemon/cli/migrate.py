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
    from pximse.store.backends import BackendUnavailable, mongodb_uri
    from pximse.store.migration.backends import Migration
    from pximse.store.migration.copy import MigrationError

    config = obj.load(config_path, data_dir)
    address = uri or mongodb_uri(config)
    name = database or config.backend.mongodb_database
    try:
        migration = Migration(config, target, address, name)
    except BackendUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    say = _Reporter(as_json)
    say.line(f"copying {migration.source.name} to {migration.sink.name} "
             f"(MongoDB at {redact_uri(address)})")
    try:
        reports = migration.copy_catalogue(batch=batch, replace=replace,
                                           progress=say.progress)
        if milvus_uri:
            reports += migration.copy_vectors(milvus_uri, say.progress)
        if meili_url and target == "mongodb":
            reports.append(migration.fill_text(meili_url))
    except (MigrationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        migration.close()
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
