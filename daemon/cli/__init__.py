"""The ``pximse`` command."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click

from pximse import __version__
from pximse.cli.autostart import autostart_group
from pximse.cli.common import (
    Context,
    PximseGroup,
    config_options,
    data_folder_error,
    human_size,
    log,
    progress_bar,
)
from pximse.cli.dupes import dupes
from pximse.cli.migrate import migrate
from pximse.cli.models import models_group, print_models, run_models
from pximse.plugins import commands as plugin_commands


@click.group(cls=PximseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="pximse")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, data_dir: Path | None, verbose: int) -> None:
    """PxIMSE: search your illustration library by tags, metadata and sources."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, data_dir)


@main.command()
@config_options
@click.option("--host", default=None, help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8741).")
@click.option("--scan/--no-scan", default=True, help="Scan the library roots on start.")
@click.option("--models/--no-models", default=True,
              help="Run the tagger and OCR on images that need them, in the background.")
@click.option("--watch/--no-watch", default=None,
              help="Watch the library roots for changes (default from config: watch.enabled).")
@click.pass_obj
def serve(
    obj: Context,
    config_path: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    scan: bool,
    models: bool,
    watch: bool | None,
) -> None:
    """Run the daemon: the HTTP API on 127.0.0.1, a scan of the library roots,
    watching them, and indexing new images in the background."""
    from dataclasses import replace

    from pximse.api.app import create_app
    from pximse.logs import log_to_file
    from pximse.service.serve import serve_app

    log_file = log_to_file("daemon")
    config = obj.load(config_path, data_dir)
    host = host or config.server.host
    port = port or config.server.port
    # The API answers to the address and port it really listens on (its Host check).
    config = replace(config, server=replace(config.server, host=host, port=port))
    if not config.server.is_loopback and not config.server.token:
        raise click.ClickException(
            f"listening on {host} needs server.token in {config.config_path}: "
            "without it anyone on the network could read your library"
        )
    if not config.roots:
        click.echo(
            f"No library roots configured yet: add [[library.roots]] to {config.config_path} "
            "or run `pximse index PATH`.",
            err=True,
        )
    try:
        serve_app(config, lambda catalog: create_app(config, catalog), obj.catalog,
                  host=host, port=port, scan=scan, models=models, watch=watch,
                  announce=lambda url: _announce(url, log_file))
    except RuntimeError as exc:  # DataFolderLocked, a port in use
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a data folder that cannot be made or written
        raise data_folder_error(config, exc) from exc


def _announce(url: str, log_file: Any) -> None:
    click.echo(f"PxIMSE {__version__} on {url}  (API docs: /docs)", err=True)
    log.info("PxIMSE %s serving on %s (pid %d, log %s)", __version__, url, os.getpid(),
             log_file)


@main.command()
@config_options
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--models/--no-models", default=True,
              help="Run the tagger and OCR on new images after the scan.")
@click.pass_obj
def index(
    obj: Context, config_path: Path | None, data_dir: Path | None, paths: tuple[Path, ...],
    as_json: bool, models: bool,
) -> None:
    """Scan PATHS (default: the configured roots) once, run the models on what is
    new, with progress bars, then exit. A daemon running on the same data folder
    is asked to do it instead (or, for folders it does not watch, waited for)."""
    from pximse.cli.handoff import daemon_holding, hand_to_daemon, index_lock

    config = obj.load(config_path, data_dir)

    def tell(message: str) -> None:
        click.echo(message, err=True)

    holder = daemon_holding(config) if paths or config.roots else None
    if holder is not None and _inside_roots(config, paths):
        handed = hand_to_daemon(config, holder, models=models, echo=tell)
        _print_index(handed["report"], None, as_json, daemon=handed["status"])
        return
    try:
        lock = index_lock(config.data_dir, tell)
    except OSError as exc:
        raise data_folder_error(config, exc) from exc
    try:
        from pximse.library.scan import scan_roots
        from pximse.library.thumbnails import remove_leftover_temp_files

        remove_leftover_temp_files(config.thumbnail_dir)
        catalog = obj.catalog(config)
        try:
            roots = _roots_for(config, catalog, paths) if paths else list(config.roots)
            if not roots:
                raise click.ClickException(
                    f"nothing to index: give a PATH or add [[library.roots]] to "
                    f"{config.config_path}")
            progress, callback = progress_bar(quiet=as_json)
            with progress:
                report = scan_roots(
                    catalog, roots, thumbnail_dir=config.thumbnail_dir, config=config.scan,
                    progress=callback,
                )
                pipeline = run_models(catalog, config, callback) if models else None
        finally:
            catalog.close()
    finally:
        lock.release()
    _print_index(report.to_json(), pipeline, as_json)


def _inside_roots(config: Any, paths: tuple[Path, ...]) -> bool:
    """Whether every path lies in a configured root (those the daemon watches)."""
    return all(
        any(path == r.path or r.path in path.parents for r in config.roots)
        for path in (raw.expanduser().resolve() for raw in paths)
    )


def _print_index(report: dict[str, Any], pipeline: dict[str, Any] | None, as_json: bool,
                 daemon: dict[str, Any] | None = None) -> None:
    """What ``pximse index`` did (or had the daemon do)."""
    from pximse.store.pathtext import readable

    if as_json:
        body = dict(report)
        if pipeline is not None:
            body["models"] = pipeline
        if daemon is not None:
            body["daemon"] = {"indexing": daemon.get("indexing"),
                              "data_folder": daemon.get("data_folder")}
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    if "error" in report:  # the daemon's scan stopped
        raise click.ClickException(str(report["error"]))
    click.echo(
        f"{report['files']} files in {report['roots']} root(s) in {report['seconds']:.1f}s: "
        f"{report['new_images']} new images, {report['linked']} known content at new paths, "
        f"{report['unchanged']} unchanged, {report['removed']} removed, "
        f"{report['restored']} back online, {report['skipped']} not images, "
        f"{report['errors']} errors"
    )
    if pipeline is not None:
        print_models(pipeline)
    if daemon is not None:
        from pximse.cli.follow import describe_daemon

        click.echo(describe_daemon(daemon))
    for name in report.get("offline_roots", []):
        why = report.get("offline_why", {}).get(name, "it is missing")
        click.echo(f"root {name!r} is offline ({readable(why)}): its files are kept, "
                   "marked offline", err=True)
    for folder, error in report.get("unreadable", [])[:20]:
        click.echo(f"cannot read {readable(folder)}: {error}", err=True)
    for link in report.get("loops", [])[:20]:
        click.echo(f"not followed (a link back to a folder already walked): {readable(link)}",
                   err=True)


def _roots_for(config: Any, catalog: Any, paths: tuple[Path, ...]) -> list[Any]:
    """Configured roots that hold PATHS, and ad-hoc roots for the others."""
    from pximse.config import RootConfig

    roots: list[Any] = []
    known = dict(catalog.root_paths())
    for raw in paths:
        path = raw.expanduser().resolve()
        owner = next(
            (r for r in config.roots if path == r.path or r.path in path.parents), None
        )
        if owner is not None:
            if owner not in roots:
                roots.append(owner)
            continue
        name = next((n for n, p in known.items() if p == str(path)), None)
        if name is None:
            base = path.name or "root"
            name, number = base, 2
            taken = set(known) | {r.name for r in config.roots}
            while name in taken:
                name, number = f"{base}-{number}", number + 1
            known[name] = str(path)
        roots.append(RootConfig(name=name, path=path))
    return roots


@main.command()
@config_options
@click.argument("query", nargs=-1)
@click.option("--sort", default="", help="e.g. -date, filesize;1, random.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--syntax", type=click.Choice(["auto", "booru", "legacy"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results.")
@click.option("--text", "clip_text", default="",
              help='CLIP text search within the query (the same as clip:"…").')
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="More like this image file, within the query.")
@click.pass_obj
def search(
    obj: Context, config_path: Path | None, data_dir: Path | None, query: tuple[str, ...],
    sort: str, limit: int, offset: int, syntax: str, as_json: bool, clip_text: str,
    image_path: Path | None,
) -> None:
    """Search the catalogue with the query language, optionally ranked by CLIP."""
    from pximse.query.errors import QueryError
    from pximse.query.parse import parse_query
    from pximse.search.planner import (
        ClipSearch,
        QueryImageRejected,
        VectorSearchUnavailable,
        load_query_image,
        plan_query,
        search_json,
    )

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    text = " ".join(query)
    try:
        plan = plan_query(parse_query(text, sort, syntax=syntax),  # type: ignore[arg-type]
                          text=clip_text, upload=image_path is not None)
        picture = None
        if image_path is not None:
            picture = load_query_image(image_path, name=str(image_path),
                                       max_pixels=config.search.max_query_image_pixels)
        body = search_json(ClipSearch(config), catalog, plan, limit=limit, offset=offset,
                           timeout_ms=config.search.query_timeout_ms, image=picture)
    except QueryError as exc:
        if not exc.query:
            exc = exc.with_query(text)
        raise click.ClickException(exc.describe()) from exc
    except (VectorSearchUnavailable, QueryImageRejected) as exc:
        raise click.ClickException(str(exc)) from exc
    items = body["items"]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        score = f"{item['score']:6.3f}  " if "score" in item else ""
        click.echo(
            f"{score}{item['id'][:12]}  {item['width']}x{item['height']} {item['format']:<4} "
            f"{human_size(item['filesize']):>8}  {item['path']}"
        )
    click.echo(f"{len(items)} of {body['total']} ({body['elapsed_ms']:.0f} ms)", err=True)


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True)
@click.option("-f", "--follow", is_flag=True,
              help="Follow the running daemon live: progress bars, files, errors (Ctrl+C ends).")
@click.pass_obj
def status(obj: Context, config_path: Path | None, data_dir: Path | None, as_json: bool,
           follow: bool) -> None:
    """Counts of images, files, tags and errors; with a daemon running, what it is
    doing (indexing, watching)."""
    from pximse.cli.follow import daemon_status, describe_daemon, follow_status

    config = obj.load(config_path, data_dir)
    if follow:
        follow_status(config, as_json=as_json)
        return
    body = daemon_status(config)
    if body is None:
        catalog = obj.catalog(config)
        body = catalog.status()
        body["version"] = __version__
        body["data_dir"] = str(config.data_dir)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    click.echo(f"PxIMSE {__version__}, data in {config.data_dir}")
    click.echo(
        f"{body['images']} images ({body['images_offline']} offline), {body['files']} files, "
        f"{body['tags']} tags, {body['errors']} errors"
    )
    for root in body["roots"]:
        state = "online" if root["online"] else \
            f"OFFLINE: {root['offline_reason']}" if root.get("offline_reason") else "OFFLINE"
        click.echo(f"  {root['name']}: {root['path']} ({state}, {root['files']} files, "
                   f"last scan {root['last_scan'] or 'never'})")
    for stage, by_model in body["stages"].items():
        for model_id, counts in by_model.items():
            click.echo(f"  {stage} ({model_id}): {counts.get('done', 0)} done, "
                       f"{counts.get('error', 0)} failed")
    if "indexing" in body:
        click.echo(describe_daemon(body))
    for error in body["recent_errors"][:10]:
        click.echo(f"  error: {error['path']}: {error['message']}")


@main.command("parse-name")
@click.argument("names", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per name, per line.")
@config_options
@click.pass_obj
def parse_name_command(
    obj: Context, names: tuple[str, ...], as_json: bool, config_path: Path | None,
    data_dir: Path | None
) -> None:
    """Show what PxIMSE reads from file NAMES (source, user, post, page, date, tags),
    Danbooru's with the configured tagger's tag list, as indexing reads them."""
    from pximse.config import ConfigError, load_config
    from pximse.store.name_vocabulary import use_tag_vocabulary
    from pximse.store.names import parse_name

    try:  # read only: a missing configuration file is not written here
        config = load_config(config_path or obj.config_path, data_dir or obj.data_dir,
                             create=False)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    vocabulary = use_tag_vocabulary(config)
    for name in names:
        folder = os.path.basename(os.path.dirname(name)) or None
        info = parse_name(os.path.basename(name), folder, vocabulary)
        if as_json:
            click.echo(json.dumps(info.to_json(), ensure_ascii=False))
            continue
        click.echo(name)
        for key, value in info.to_json().items():
            if value not in (None, [], ()):
                click.echo(f"  {key}: {value}")


@main.group("config")
def config_group() -> None:
    """Where the configuration is, and what is in effect."""


@config_group.command("path")
@config_options
@click.pass_obj
def config_path_command(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Print the configuration file's path (creating it with defaults if missing)."""
    config = obj.load(config_path, data_dir)
    click.echo(str(config.config_path))


@config_group.command("show")
@config_options
@click.option("--show-secrets", is_flag=True,
              help="Also print tokens, keys and passwords (hidden by default, so that the "
                   "output can be pasted into a bug report).")
@click.option("--redact", is_flag=True, hidden=True)  # the default now; kept for old scripts
@click.pass_obj
def config_show(obj: Context, config_path: Path | None, data_dir: Path | None,
                show_secrets: bool, redact: bool) -> None:
    """Print the configuration in effect, as TOML (tokens, keys and passwords hidden)."""
    from pximse.config import config_to_toml

    config = obj.load(config_path, data_dir)
    click.echo(config_to_toml(config, redact=redact or not show_secrets), nl=False)


main.add_command(models_group)
main.add_command(dupes)
main.add_command(autostart_group)
main.add_command(migrate)
for _command in plugin_commands():  # pximse xmp, hydrus, pixiv, tray
    main.add_command(_command)

if __name__ == "__main__":
    main()
