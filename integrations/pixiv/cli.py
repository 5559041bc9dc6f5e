"""``pximse pixiv fetch|status|update``: Pixiv metadata for the library's Pixiv works."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options


@click.group("pixiv")
def pixiv_group() -> None:
    """Pixiv metadata: titles, counts, tags with translations, deleted works."""


@pixiv_group.command("fetch")
@config_options
@click.argument("query", nargs=-1)
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Fetch at most this many works.")
@click.option("--refetch-deleted", is_flag=True,
              help="Ask again about works Pixiv said were deleted or private.")
@click.option("--max-age", "max_age", type=click.IntRange(0), default=None, metavar="DAYS",
              help="Fetch again works fetched more than DAYS ago "
                   "(default: [pixiv] max_age_days; 0: every work).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress.")
@click.pass_obj
def fetch(obj: Context, config_path: Path | None, data_dir: Path | None, query: tuple[str, ...],
          limit: int | None, refetch_deleted: bool, max_age: int | None, as_json: bool,
          quiet: bool) -> None:
    """Fetch Pixiv's metadata for the library's Pixiv works.

    QUERY limits the images whose works are fetched (`pximse pixiv fetch
    user:someone`). Works fetched within the max age are left alone, and
    works Pixiv said were deleted or private are asked about again only with
    --refetch-deleted. Interrupt at any time: what was fetched is kept, and
    the next run goes on with the rest.
    """
    from pximse.query.errors import QueryError
    from pximse.query.parse import parse_query
    from pximse.sources.fetch_lock import FetchRunning
    from pximse.sources.pixiv import FetchOptions, FetchReport, fetch_library, refresh_token
    from pximse.sources.pixiv_answers import FetchFailure

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    text = " ".join(query)
    try:
        content_ids = catalog.filtered_ids(parse_query(text)) if text.strip() else None
    except QueryError as exc:
        raise click.ClickException((exc if exc.query else exc.with_query(text)).describe()) \
            from exc
    options = FetchOptions.from_config(config.pixiv, limit=limit, max_age_days=max_age,
                                       include_missing=refetch_deleted)
    door = "the app API" if refresh_token(config.pixiv) else \
        "the public web endpoint (no refresh token set)"
    progress = _Progress(quiet or as_json, door)
    try:
        report: FetchReport = fetch_library(catalog, config.pixiv, options=options,
                                            content_ids=content_ids, progress=progress.show,
                                            lock_dir=config.data_dir)
        missing = catalog.pixiv_summary()
    except KeyboardInterrupt:
        progress.close()
        click.echo("Interrupted: what was fetched is kept; run again to go on.", err=True)
        sys.exit(130)
    except (FetchFailure, FetchRunning) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()
    progress.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        hidden = 0 if refetch_deleted else missing["deleted"] + missing["private"]
        click.echo(_summary(report, options.max_age_days, hidden))
    if report.stopped and report.stopped != "stopped":
        raise click.ClickException(f"stopped early: {report.stopped}")


class _Progress:
    """A progress bar on a terminal; otherwise a line every few seconds."""

    def __init__(self, quiet: bool, door: str) -> None:
        self.quiet = quiet
        self.door = door
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def show(self, report: Any) -> None:
        if self.quiet:
            return
        if self._bar is None and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(f"Pixiv via {self.door}", total=report.selected)
        if self._bar is not None:
            self._bar.update(self._task, completed=report.done, total=report.selected)
            return
        now = time.monotonic()
        if now - self._last >= 5 or report.done == report.selected:
            self._last = now
            click.echo(f"pixiv: {report.done}/{report.selected} works ({_counts(report)})",
                       err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _counts(report: Any) -> str:
    states = report.states
    return (f"{states['ok']} ok, {states['deleted']} deleted, {states['private']} private, "
            f"{report.errors} failed")


def _summary(report: Any, max_age_days: int, hidden: int) -> str:
    door = "app API" if report.via == "app" else "web endpoint"
    lines = [f"Pixiv ({door}): {report.done} of {report.selected} works fetched: "
             f"{_counts(report)}."]
    if report.errors:
        lines.append(f"{report.errors} failed for a passing reason (kept as errors, tried "
                     f"again next run; last: {report.last_error}).")
    if report.retries:
        lines.append(f"{report.retries} requests were tried again after a wait.")
    if report.fresh and max_age_days:
        lines.append(f"{report.fresh} works were fetched within the last {max_age_days} days "
                     "and left alone (--max-age 0 to fetch them anyway).")
    if hidden:
        lines.append(f"{hidden} works Pixiv said were deleted or private were not asked "
                     "about again (--refetch-deleted to do so).")
    return "\n".join(lines)


@pixiv_group.command("status")
@config_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(obj: Context, config_path: Path | None, data_dir: Path | None,
           as_json: bool) -> None:
    """What the library's Pixiv works look like: fetched, deleted, private, failed."""
    from pximse.sources.pixiv import DAY_S, refresh_token

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    try:
        cutoff = int(time.time()) - config.pixiv.max_age_days * DAY_S
        counts = catalog.pixiv_summary(fetched_after=cutoff)
        errors = catalog.pixiv_errors(10)
    finally:
        catalog.close()
    token = bool(refresh_token(config.pixiv))
    body = {**counts, "refresh_token": "set" if token else "not set",
            "via": "app" if token else "ajax", "max_age_days": config.pixiv.max_age_days,
            "recent_errors": errors}
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    click.echo(f"Pixiv works in the library: {counts['works']}")
    click.echo(f"  never fetched: {counts['unfetched']}")
    click.echo(f"  ok: {counts['ok']}, deleted: {counts['deleted']}, "
               f"private: {counts['private']}")
    click.echo(f"  fetched within {config.pixiv.max_age_days} days: {counts['fresh']}")
    click.echo(f"  last attempt failed (tried again next run): {counts['errors']}")
    click.echo("Refresh token: " + ("set: the app API is used" if token
                                   else "not set: the public web endpoint is used"))
    for error in errors:
        click.echo(f"  {error['illust_id']}: {error['message']} "
                   f"({error['attempts']} attempts)")


@pixiv_group.command("update")
@config_options
@click.pass_obj
def update(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Give images with a Pixiv user id but no name the most recently seen name.

    The daemon and `pixiv fetch` keep names current by themselves; this runs
    the whole pass again (a name counts as seen when it was fetched, or when
    a file whose name carries it was saved)."""
    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    try:
        changed = catalog.update_user_names()
    finally:
        catalog.close()
    click.echo(f"{changed} images got a user name.")
