"""``pximse xmp``: write, remove and check the XMP sidecars digiKam reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options, progress_bar
from pximse.integrations.digikam.sidecar_writer import SyncReport

__all__ = ["xmp_group"]


@click.group("xmp")
def xmp_group() -> None:
    """XMP sidecars with PxIMSE's tags, for digiKam and other photo managers."""


def _pool(workers: int) -> Any:
    from pximse.integrations.digikam.exiftool_session import ExiftoolMissing, ExiftoolPool

    try:
        return ExiftoolPool(workers)
    except ExiftoolMissing as exc:
        raise click.ClickException(str(exc)) from exc


def _workers_option(func: Any) -> Any:
    from pximse.integrations.digikam.exiftool_session import default_workers

    return click.option(
        "--workers", type=click.IntRange(1, 32), default=default_workers(), show_default=True,
        help="exiftool processes working side by side.",
    )(func)


def _content_ids(catalog: Any, query: tuple[str, ...]) -> list[int] | None:
    """The images QUERY selects, or None for all of them."""
    from pximse.integrations.digikam.catalog_images import query_content_ids
    from pximse.query.errors import QueryError

    text = " ".join(query).strip()
    if not text:
        return None
    try:
        return query_content_ids(catalog, text)
    except QueryError as exc:
        if not exc.query:
            exc = exc.with_query(text)
        raise click.ClickException(exc.describe()) from exc


def _print_report(report: SyncReport, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        click.echo(json.dumps({**report.to_json(), **(extra or {})}, ensure_ascii=False))
        return
    click.echo(
        f"{report.created} sidecars created, {report.updated} updated, {report.deleted} deleted, "
        f"{report.unchanged} already up to date, {report.nothing} images with nothing to write, "
        f"{len(report.failed)} left alone"
    )
    for path, why in report.failed[:50]:
        click.echo(f"  {path}: {why}", err=True)
    if len(report.failed) > 50:
        click.echo(f"  ... and {len(report.failed) - 50} more", err=True)


@xmp_group.command("write")
@config_options
@click.argument("query", nargs=-1)
@click.option("--root", "roots", multiple=True, metavar="NAME",
              help="Also write in this library root, whatever its xmp switch says (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_workers_option
@click.pass_obj
def xmp_write(
    obj: Context, config_path: Path | None, data_dir: Path | None, query: tuple[str, ...],
    roots: tuple[str, ...], dry_run: bool, as_json: bool, workers: int,
) -> None:
    """Write PxIMSE's tags to the sidecars of the images QUERY selects (all
    images without one), in the roots that write sidecars ([xmp] write, a
    root's xmp key, --root). Sidecars that already say the same are not touched."""
    from dataclasses import replace

    from pximse.integrations.digikam.catalog_images import (
        XmpSettings,
        all_content_ids,
        sidecar_jobs,
    )
    from pximse.integrations.digikam.follower import (
        SidecarFollower,
        record_tag_root,
        tag_roots,
    )
    from pximse.integrations.digikam.sidecar_writer import SidecarWriter

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    settings = XmpSettings.from_config(config)
    known = {name for name, _path in catalog.root_paths()}
    unknown = [name for name in roots if name not in known]
    if unknown:
        raise click.ClickException(
            f"no library root named {', '.join(map(repr, unknown))}; the roots are: "
            f"{', '.join(sorted(known)) or '(none yet)'}"
        )
    if roots:
        settings = replace(settings, root_switches={**settings.root_switches,
                                                    **dict.fromkeys(roots, True)})
    if not any(settings.writes(name) for name in known):
        raise click.ClickException(
            f"no library root writes XMP sidecars: set `write = true` in [xmp] of "
            f"{config.config_path}, `xmp = true` in a root, or name one with --root"
        )
    ids = _content_ids(catalog, query)
    progress, callback = progress_bar(quiet=as_json)
    pool = _pool(workers)
    try:
        with progress:
            if ids is None and not roots and not dry_run:
                # Everything, as configured: the daemon's follower can start from here.
                follower = SidecarFollower(catalog, config, pool=pool)
                report = follower.run_once(
                    full=True, log_failures=False,
                    progress=lambda d, t: callback and callback("xmp", d, t),
                )
            else:
                jobs = sidecar_jobs(catalog, ids if ids is not None else all_content_ids(catalog),
                                    settings)
                writer = SidecarWriter(
                    pool.sessions, tag_roots(config), dry_run=dry_run,
                    progress=lambda d, t: callback and callback("xmp", d, t),
                )
                report = writer.write(jobs)
                if not dry_run:
                    record_tag_root(config)
    finally:
        pool.close()
        catalog.close()
    _print_report(report, as_json, {"dry_run": dry_run})
    if report.failed:  # with --json too: a script checks the status first
        raise SystemExit(1)


@xmp_group.command("remove")
@config_options
@click.argument("query", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Count what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_workers_option
@click.pass_obj
def xmp_remove(
    obj: Context, config_path: Path | None, data_dir: Path | None, query: tuple[str, ...],
    dry_run: bool, as_json: bool, workers: int,
) -> None:
    """Take PxIMSE's tags out of the sidecars of the images QUERY selects (all
    images without one), in every root. Entries outside the tag root are kept;
    a sidecar PxIMSE created is deleted when nothing else is left in it."""
    from pximse.integrations.digikam.catalog_images import (
        XmpSettings,
        all_content_ids,
        sidecar_jobs,
    )
    from pximse.integrations.digikam.follower import tag_roots
    from pximse.integrations.digikam.sidecar_writer import SidecarWriter

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    settings = XmpSettings.from_config(config)
    ids = _content_ids(catalog, query)
    progress, callback = progress_bar(quiet=as_json)
    pool = _pool(workers)
    try:
        jobs = sidecar_jobs(catalog, ids if ids is not None else all_content_ids(catalog),
                            settings, every_root=True, with_ocr=True)
        with progress:
            writer = SidecarWriter(pool.sessions, tag_roots(config), dry_run=dry_run,
                                   progress=lambda d, t: callback and callback("xmp", d, t))
            report = writer.remove(jobs)
    finally:
        pool.close()
        catalog.close()
    _print_report(report, as_json, {"dry_run": dry_run})
    if report.failed:  # with --json too: a script checks the status first
        raise SystemExit(1)


@xmp_group.command("touch")
@config_options
@click.argument("query", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def xmp_touch(
    obj: Context, config_path: Path | None, data_dir: Path | None, query: tuple[str, ...],
    as_json: bool,
) -> None:
    """Mark the sidecars of the images QUERY selects (all images without one), in
    every root, as changed now, so that digiKam's next scan reads them again: for
    changes digiKam recorded as seen without reading them (see docs/digikam.md)."""
    from pximse.integrations.digikam.catalog_images import all_content_ids, online_paths
    from pximse.integrations.digikam.sidecar_files import touch_sidecars

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    try:
        ids = _content_ids(catalog, query)
        images = online_paths(catalog, ids if ids is not None else all_content_ids(catalog))
    finally:
        catalog.close()
    touched, failed = touch_sidecars(images)
    if as_json:
        click.echo(json.dumps({"touched": touched, "failed": len(failed), "failures": [
            {"path": path, "reason": why} for path, why in failed[:100]]}, ensure_ascii=False))
    else:
        click.echo(f"{touched} sidecars marked as changed, {len(failed)} could not be")
        for path, why in failed[:50]:
            click.echo(f"  {path}: {why}", err=True)
    if failed:
        raise SystemExit(1)


@xmp_group.command("status")
@config_options
@click.option("--quick", is_flag=True,
              help="Only the settings and how far the daemon has caught up; read no sidecar.")
@click.option("--json", "as_json", is_flag=True)
@_workers_option
@click.pass_obj
def xmp_status(
    obj: Context, config_path: Path | None, data_dir: Path | None, quick: bool, as_json: bool,
    workers: int,
) -> None:
    """Whether write-back is on (per root), how far the sidecars have caught up
    with the catalogue, and (unless --quick) how many sidecars are up to date,
    would change, or cannot be read."""
    from pximse.integrations.digikam.catalog_images import (
        XmpSettings,
        all_content_ids,
        sidecar_jobs,
        write_generation,
    )
    from pximse.integrations.digikam.follower import SidecarFollower, tag_roots
    from pximse.integrations.digikam.sidecar_writer import SidecarWriter

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    settings = XmpSettings.from_config(config)
    follower = SidecarFollower(catalog, config)
    body: dict[str, Any] = {
        "tag_root": settings.options.root,
        "roots": {name: settings.writes(name) for name, _path in catalog.root_paths()},
        "generation": write_generation(catalog),
        "synced_generation": follower.synced_generation(),
        "images_changed_since": follower.pending() if settings.any_on else 0,
    }
    if not quick and settings.any_on:
        progress, callback = progress_bar(quiet=as_json)
        pool = _pool(workers)
        try:
            jobs = sidecar_jobs(catalog, all_content_ids(catalog), settings)
            with progress:
                report = SidecarWriter(
                    pool.sessions, tag_roots(config), dry_run=True,
                    progress=lambda d, t: callback and callback("xmp", d, t),
                ).write(jobs)
        finally:
            pool.close()
        body["check"] = {
            "files": len(jobs), "up_to_date": report.unchanged,
            "would_create": report.created, "would_update": report.updated,
            "nothing_to_write": report.nothing, "left_alone": len(report.failed),
            "failures": [{"path": p, "reason": why} for p, why in report.failed[:100]],
        }
    catalog.close()
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    on = [name for name, writes in body["roots"].items() if writes]
    off = [name for name, writes in body["roots"].items() if not writes]
    click.echo(f"XMP sidecars under {body['tag_root']!r}: "
               + (f"written in {', '.join(on)}" if on else "write-back is off in every root")
               + (f"; off in {', '.join(off)}" if on and off else ""))
    click.echo(f"catalogue generation {body['generation']}, sidecars current with "
               f"{body['synced_generation']} ({body['images_changed_since']} images changed since)")
    check = body.get("check")
    if check:
        click.echo(
            f"{check['files']} files: {check['up_to_date']} up to date, "
            f"{check['would_create']} sidecars to create, {check['would_update']} to update, "
            f"{check['nothing_to_write']} with nothing to write, {check['left_alone']} left alone"
        )
        for failure in check["failures"][:50]:
            click.echo(f"  {failure['path']}: {failure['reason']}", err=True)
