"""``pximse hydrus``: push tags to a Hydrus client, index its files, show searches in it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from pximse.cli.common import Context, config_options, progress_bar

__all__ = ["hydrus_group"]

F = TypeVar("F", bound=Callable[..., Any])
MANAGE_DATABASE = 6  # the Client API's number for the "manage database" permission


@click.group("hydrus")
def hydrus_group() -> None:
    """Hydrus Network: tags, URLs and OCR notes into a tag service of yours; Hydrus's
    files indexed in place; PxIMSE searches shown as Hydrus pages."""


def _errors(func: F) -> F:
    """Hydrus and query errors as one-line messages, exit status 1."""
    import functools

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        from pximse.integrations.hydrus.errors import HydrusError
        from pximse.query.errors import QueryError
        from pximse.search.planner import QueryImageRejected, VectorSearchUnavailable

        try:
            return func(*args, **kwargs)
        except HydrusError as exc:
            raise click.ClickException(exc.message) from exc
        except QueryError as exc:
            raise click.ClickException(exc.describe()) from exc
        except (VectorSearchUnavailable, QueryImageRejected) as exc:
            raise click.ClickException(str(exc)) from exc

    return run  # type: ignore[return-value]


def _bridge(config: Any) -> Any:
    from pximse.integrations.hydrus.bridge import HydrusBridge

    return HydrusBridge(config)


def _selection(catalog: Any, query: tuple[str, ...]) -> tuple[int, Iterator[list[int]]]:
    from pximse.integrations.hydrus.push import all_images, images_matching
    from pximse.query.ast import Nearest, walk
    from pximse.query.errors import QueryError
    from pximse.query.parse import parse_query

    text = " ".join(query).strip()
    if not text:
        return all_images(catalog)
    parsed = parse_query(text)
    if any(isinstance(node, Nearest) for node in walk(parsed.where)):
        raise QueryError("clip: and similar: rank images rather than select them; "
                         "give a filter query (tags, fields, ocr:)", query=text)
    return images_matching(catalog, parsed)


@hydrus_group.command("status")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
@_errors
def hydrus_status(obj: Context, config_path: Path | None, data_dir: Path | None,
                  as_json: bool) -> None:
    """Check the connection, the access key and the tag service; count what was pushed."""
    config = obj.load(config_path, data_dir)
    bridge = _bridge(config)
    body: dict[str, Any] = bridge.describe()
    try:
        client = bridge.client()
        body["client"] = client.api_version()
        access = client.verify_access_key()
        body["access"] = access.get("human_description", "")
        body["can_commit"] = bool(access.get("permits_everything")) or \
            MANAGE_DATABASE in (access.get("basic_permissions") or [])
        if config.hydrus.tag_service:
            service = client.tag_service(config.hydrus.tag_service)
            body["service_key"] = service.key
            body["ledger"] = bridge.ledger().counts(f"{client.url}|{service.key}")
    finally:
        bridge.close()
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    version = body["client"]
    click.echo(f"Hydrus v{version.get('hydrus_version', '?')} (Client API "
               f"{version.get('version', '?')}) at {body['url']}")
    if body.get("access"):
        click.echo(f"  access: {body['access']}")
    if not body.get("can_commit", True):
        click.echo("  the key lacks 'Manage Database': each push is confirmed by reading it "
                   "back a minute later instead of by a commit (see docs/hydrus.md)")
    if "service_key" in body:
        click.echo(f"  tag service {body['tag_service']!r}: {body['service_key']}")
        counts = body["ledger"]
        click.echo(f"  {counts['pushed']} images pushed, {counts['not_in_hydrus']} "
                   "not in this Hydrus")


@hydrus_group.command("push")
@config_options
@click.argument("query", nargs=-1)
@click.option("--again", is_flag=True,
              help="Forget what was pushed and send everything again (tags the user "
                   "deleted in Hydrus stay deleted).")
@click.option("--dry-run", is_flag=True, help="Count what would be sent; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_errors
def hydrus_push(obj: Context, config_path: Path | None, data_dir: Path | None,
                query: tuple[str, ...], again: bool, dry_run: bool, as_json: bool) -> None:
    """Send tags, source URLs and OCR notes of the images QUERY selects (all images
    without one) to the files Hydrus has; only what changed since the last push."""
    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    bridge = _bridge(config)
    try:
        pusher = bridge.pusher(catalog)
        total, batches = _selection(catalog, query)
        progress, callback = progress_bar(quiet=as_json)
        with progress:
            report = pusher.push(batches, total=total, progress=callback, dry_run=dry_run,
                                 again=again)
    finally:
        bridge.close()
        catalog.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        verb = "would get" if dry_run else "got"
        click.echo(
            f"{report.images} images in {report.seconds:.1f}s: {report.updated} {verb} changes "
            f"(+{report.tags_added}/-{report.tags_removed} tags, {report.urls_added} URLs, "
            f"{report.notes_set} notes set, {report.notes_deleted} removed), "
            f"{report.unchanged} unchanged, {report.not_in_hydrus} not in Hydrus; "
            f"{report.requests} requests")
        if report.repaired:
            click.echo(f"{report.repaired} images had not been kept by Hydrus as recorded "
                       "(it stopped before committing them): sent again", err=True)
        if report.committed is False:
            click.echo("Hydrus was not asked to commit (the access key lacks 'Manage "
                       "Database'): the next push checks what it kept", err=True)
    if report.stopped:
        raise click.ClickException(f"stopped early: {_sentence(report.stopped)} What was sent "
                                   "and accepted is recorded; run the push again later to go on.")


@hydrus_group.command("import")
@config_options
@click.option("--path", "paths", multiple=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Hydrus's file folder (db/client_files); repeat for several locations. "
                   "Default: [hydrus] client_files, or ask the Client API.")
@click.option("--save", is_flag=True,
              help="Add the roots to the configuration file, so the daemon keeps them indexed.")
@click.option("--models/--no-models", default=True,
              help="Run the tagger, OCR and CLIP on the new images after the scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_errors
def hydrus_import(obj: Context, config_path: Path | None, data_dir: Path | None,
                  paths: tuple[Path, ...], save: bool, models: bool, as_json: bool) -> None:
    """Index a Hydrus client's files where they are (by the same SHA-256), so that
    tag, OCR and CLIP searches cover them."""
    from pximse.cli.models import run_models
    from pximse.integrations.hydrus.importer import discover_file_folders, hydrus_roots
    from pximse.library.scan import scan_roots

    config = obj.load(config_path, data_dir)
    folders = list(paths)
    if not folders and config.hydrus.client_files.strip():
        folders = [Path(config.hydrus.client_files)]
    if not folders:
        bridge = _bridge(config)
        try:
            folders = discover_file_folders(bridge.client())
        finally:
            bridge.close()
    existing = {r.path.resolve(): r for r in config.roots}
    taken = [r.name for r in config.roots]
    roots = [existing.get(folder.expanduser().resolve()) or new
             for folder, new in zip(folders, hydrus_roots(folders, taken), strict=True)]
    if save:
        _save_roots(config, [r for r in roots if r.path.resolve() not in existing])
    catalog = obj.catalog(config)
    progress, callback = progress_bar(quiet=as_json)
    try:
        with progress:
            report = scan_roots(catalog, roots, thumbnail_dir=config.thumbnail_dir,
                                config=config.scan, progress=callback)
            pipeline = run_models(catalog, config, callback) if models else None
    finally:
        catalog.close()
    body = {"roots": [{"name": r.name, "path": str(r.path)} for r in roots],
            "scan": report.to_json(), "models": pipeline}
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    for root in roots:
        click.echo(f"root {root.name!r}: {root.path}")
    click.echo(f"{report.files} files: {report.new_images} new images, {report.unchanged} "
               f"unchanged, {report.skipped} not images, {report.errors} errors")
    if not save and any(r.path.resolve() not in existing for r in roots):
        click.echo("Run again with --save (or add the roots to the configuration) for the "
                   "daemon to keep them indexed.", err=True)


def _sentence(text: str) -> str:
    """``text`` ending as a sentence ends (without doubling a ``?`` or ``.``)."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _save_roots(config: Any, roots: list[Any]) -> None:
    """Append the roots to the configuration file; put it back if it no longer loads."""
    from pximse.config import ConfigError, load_config
    from pximse.config.files import write_atomically
    from pximse.integrations.hydrus.importer import roots_toml

    if not roots:
        return
    path = config.config_path
    before = path.read_text(encoding="utf-8")
    write_atomically(path, before.rstrip("\n") + "\n\n" + roots_toml(roots))
    try:
        load_config(path, config.data_dir)
    except ConfigError as exc:
        write_atomically(path, before)
        raise click.ClickException(
            f"the roots could not be added to {path} ({exc}); add them by hand:\n"
            + roots_toml(roots)) from exc
    click.echo(f"added {', '.join(r.name for r in roots)} to {path}", err=True)


@hydrus_group.command("show")
@config_options
@click.argument("query", nargs=-1)
@click.option("--text", default=None, help='CLIP text search within the query.')
@click.option("--similar", default=None, metavar="ID", help="More like this image (its id).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--name", default=None, help="The page's name (default: PxIMSE: <query>).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
@_errors
def hydrus_show(obj: Context, config_path: Path | None, data_dir: Path | None,
                query: tuple[str, ...], text: str | None, similar: str | None, limit: int,
                name: str | None, as_json: bool) -> None:
    """Run a PxIMSE search and show its results on a new page in the Hydrus client."""
    from pximse.integrations.hydrus.show import page_name, search_hashes, show_in_hydrus
    from pximse.search.planner import ClipSearch

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    q = " ".join(query)
    bridge = _bridge(config)
    try:
        client = bridge.client()  # not configured: say so before searching
        hashes, total = search_hashes(ClipSearch(config), catalog, config, q=q, text=text,
                                      similar=similar, limit=limit)
        result = show_in_hydrus(client, hashes, name or page_name(q, text, similar), total)
    finally:
        bridge.close()
        catalog.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    if result.page.get("key") is None:
        found = len(hashes)
        click.echo(f"no Hydrus page made: none of the {found} results is in Hydrus" if found
                   else "no Hydrus page made: the search found nothing")
        return
    click.echo(f"{result.sent} files sent to the Hydrus page {result.page['name']!r} "
               f"({result.not_in_hydrus} of the results are not in Hydrus; {result.total} "
               "matched)")


@hydrus_group.command("sidecars")
@config_options
@click.argument("query", nargs=-1)
@click.option("--remove", is_flag=True, help="Remove the sidecars PxIMSE wrote instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_errors
def hydrus_sidecars(obj: Context, config_path: Path | None, data_dir: Path | None,
                    query: tuple[str, ...], remove: bool, as_json: bool) -> None:
    """Write image.ext.txt beside each image QUERY selects (all without one): its tags,
    one per line, as Hydrus import folders read them. Needs no running Hydrus."""
    from pximse.integrations.hydrus.payload import PayloadOptions
    from pximse.integrations.hydrus.sidecars import remove_sidecars, write_sidecars

    config = obj.load(config_path, data_dir)
    bridge = _bridge(config)
    try:
        if remove:
            report = remove_sidecars(bridge.ledger())
        else:
            catalog = obj.catalog(config)
            try:
                total, batches = _selection(catalog, query)
                progress, callback = progress_bar(quiet=as_json)
                options = PayloadOptions.from_config(config.hydrus)
                with progress:
                    report = write_sidecars(catalog, bridge.ledger(), batches, options,
                                            total=total, progress=callback)
            finally:
                catalog.close()
    finally:
        bridge.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    click.echo(f"{report.written} sidecars written, {report.unchanged} already up to date, "
               f"{report.removed} removed, {len(report.kept)} left alone (not PxIMSE's), "
               f"{len(report.errors)} errors"
               + (f"; {report.no_tags} images without tags" if report.no_tags else "")
               + (f"; {report.in_hydrus} files in Hydrus's own store skipped (Hydrus has "
                  "them: push their tags instead)" if report.in_hydrus else ""))
    for line in (report.kept + report.errors)[:50]:
        click.echo(f"  {line}", err=True)
