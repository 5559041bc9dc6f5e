"""``pximse autostart enable|disable|status``: start PxIMSE at login."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import click

from pximse.autostart import (
    AutostartError,
    default_kind,
    disable,
    enable,
    entry_command,
    entry_for,
    launch_command,
    platform_kinds,
)
from pximse.cli.common import Context, config_options


@click.group("autostart")
def autostart_group() -> None:
    """Start PxIMSE at login: the tray icon (which starts the daemon), or with
    --systemd the daemon alone as a systemd user service."""


@autostart_group.command("enable")
@config_options
@click.option("--systemd", is_flag=True,
              help="A systemd user unit running the daemon (no icon), instead of the "
                   "desktop entry. Linux only.")
@click.option("--run", "command", type=click.Choice(["tray", "serve"]), default=None,
              help="What starts at login: the tray icon (default) or the daemon alone "
                   "(the default with --systemd).")
@click.pass_obj
def enable_command(obj: Context, config_path: Path | None, data_dir: Path | None,
                   systemd: bool, command: str | None) -> None:
    """Write the platform's autostart entry (replacing an older one)."""
    from pximse.config import CONFIG_ENV, DATA_DIR_ENV
    from pximse.config.paths import argument_or_env, expand_path
    from pximse.logs import log_dir

    kind = "systemd" if systemd else default_kind()
    if kind not in platform_kinds():
        raise click.ClickException(f"--systemd is for Linux; this platform uses {default_kind()}")
    command = command or ("serve" if systemd else "tray")
    if systemd and command == "tray":
        raise click.ClickException(
            "a systemd user service has no display for the tray icon: use "
            "`pximse autostart enable` (the desktop entry) for the tray"
        )
    if command == "tray" and importlib.util.find_spec("pystray") is None:
        raise click.ClickException(
            "the tray icon needs pystray: pip install 'pximse[tray]' (or use --run serve)"
        )
    obj.load(config_path, data_dir)  # a bad file is an error now, not at the next login
    env, cwd = os.environ, Path.cwd()
    named_config = argument_or_env(config_path or obj.config_path, env, CONFIG_ENV)
    named_data = argument_or_env(data_dir or obj.data_dir, env, DATA_DIR_ENV)
    argv = launch_command(
        command,
        config_path=expand_path(named_config, env, cwd) if named_config else None,
        data_dir=expand_path(named_data, env, cwd) if named_data else None,
    )
    entry = entry_for(kind)
    try:
        notes = enable(entry, argv, log_dir=log_dir())
    except AutostartError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"autostart enabled ({kind}): {entry.path}")
    click.echo(f"  runs at login: {' '.join(argv)}")
    for note in notes:
        click.echo(f"  {note}")


@autostart_group.command("disable")
@click.option("--systemd", is_flag=True, help="Remove only the systemd user unit.")
def disable_command(systemd: bool) -> None:
    """Remove PxIMSE's autostart entries (every kind this platform has, or
    only the systemd unit). A running daemon or icon keeps running."""
    kinds = ("systemd",) if systemd else platform_kinds()
    removed: list[Path] = []
    try:
        for kind in kinds:
            removed += disable(entry_for(kind))
    except AutostartError as exc:
        raise click.ClickException(str(exc)) from exc
    if not removed:
        click.echo("autostart was not enabled")
    for path in removed:
        click.echo(f"removed {path}")


@autostart_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_command(as_json: bool) -> None:
    """Which autostart entries exist, and what they run."""
    rows = []
    for kind in platform_kinds():
        entry = entry_for(kind)
        rows.append({"kind": kind, "path": str(entry.path), "enabled": entry.enabled,
                     "command": entry_command(entry) if entry.enabled else None})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        if not row["enabled"]:
            click.echo(f"{row['kind']}: not enabled ({row['path']})")
            continue
        command = row["command"]
        shown = " ".join(command) if isinstance(command, list) else command
        click.echo(f"{row['kind']}: enabled, {row['path']}" + (f"\n  runs: {shown}" if shown
                                                                else ""))
