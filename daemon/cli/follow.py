"""``pximse status --follow``: the running daemon's live status in the terminal.

It reads the daemon's event stream (``/api/events``) and shows a progress bar
per model stage (done of total, rate, time left), for each model's weights
being downloaded (bytes) and for a running scan, a line with the counts and
each root's watch mode, and a line for each batch of files added or removed,
each stage whose weights wait (why, and when they are tried again) and each
error, until Ctrl+C or the daemon stops.
Without a terminal (or with ``--json``) each event is printed as a JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click
import httpx

from pximse.config import Config
from pximse.service.lock import read_lock_info

__all__ = ["daemon_status", "daemon_url", "describe_daemon", "follow_status", "read_events"]


def daemon_url(config: Config) -> str:
    """The running daemon's address, from its lock file; a clear error without one."""
    info = read_lock_info(config.data_dir)
    if info is None or not info.get("url"):
        raise click.ClickException(
            f"no PxIMSE daemon is running for the data folder {config.data_dir}: "
            "start one with `pximse serve` (or the tray)")
    return str(info["url"]).rstrip("/")


def daemon_status(config: Config) -> dict[str, Any] | None:
    """``GET /api/status`` of the running daemon, or None when none runs."""
    info = read_lock_info(config.data_dir)
    if info is None or not info.get("url"):
        return None
    headers = {"Authorization": f"Bearer {config.server.token}"} if config.server.token else {}
    try:
        response = httpx.get(f"{str(info['url']).rstrip('/')}/api/status", headers=headers,
                             timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def describe_daemon(status: dict[str, Any]) -> str:
    """The daemon's part of ``pximse status``: what it does, stage by stage."""
    lines = ["  daemon: " + _summary("", status).split(": ", 1)[1].split(" — ")[0]]
    if status.get("data_folder"):
        lines.append(f"    WAITING: {status['data_folder']['message']}")
    worker = status.get("indexing", {}).get("worker") or {}
    if worker.get("deaths"):
        times = "time" if worker["deaths"] == 1 else "times"
        lines.append(f"    the model worker died {worker['deaths']} {times} "
                     f"(last: {worker.get('last_death')}); "
                     f"{worker.get('quarantined', 0)} images quarantined")
    for name, stage in status.get("indexing", {}).get("stages", {}).items():
        if not stage.get("done") and not stage.get("total") and stage.get("state"):
            lines.append(f"    {name}: {stage['state']}")
            continue
        rate = f", {stage['rate']:.1f}/s" if stage.get("rate") else ""
        lines.append(f"    {name}: {stage['done']} of {stage['total']} ({stage['state']}"
                     f"{rate}{', ' + _eta(stage['eta_s']) if stage.get('eta_s') else ''})")
    for root, mode in status.get("watch", {}).get("roots", {}).items():
        lines.append(f"    {root}: {mode}")
    return "\n".join(lines)


def read_events(url: str, token: str | None) -> Iterator[dict[str, Any]]:
    """The daemon's events (``{"id", "kind", "time", "data"}``) as they come."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(10.0, read=75.0)  # a status comes at least every 30 s
    with httpx.stream("GET", f"{url}/api/events", headers=headers, timeout=timeout) as response:
        if response.status_code != 200:
            response.read()
            raise click.ClickException(
                f"the daemon at {url} answered {response.status_code}: {response.text}")
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                yield json.loads("\n".join(data))
                data = []


def follow_status(config: Config, *, as_json: bool) -> None:
    url = daemon_url(config)
    events = read_events(url, config.server.token)
    try:
        if as_json:
            for event in events:
                click.echo(json.dumps(event, ensure_ascii=False))
        else:
            _live(url, events)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"lost the daemon at {url}: {exc}") from exc
    except KeyboardInterrupt:
        return
    click.echo("the daemon stopped", err=True)


def _live(url: str, events: Iterator[dict[str, Any]]) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.text import Text

    bars = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>10}"), TextColumn("{task.fields[eta]}"))
    tasks: dict[str, Any] = {}
    header = Text(f"PxIMSE at {url}: connecting…")

    def bar(name: str, done: int, total: int, rate: float | None, eta: float | None,
            state: str = "") -> None:
        shown_rate = f"{rate:.1f}/s" if rate else ""
        shown_eta = _eta(eta) if state in ("", "running") else state
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=max(total, 1), rate=shown_rate,
                                        eta=shown_eta)
        bars.update(tasks[name], completed=done, total=max(total, done, 1), rate=shown_rate,
                    eta=shown_eta)

    with Live(Group(header, bars), refresh_per_second=4, transient=False) as live:
        for event in events:
            kind, data = event["kind"], event["data"]
            if kind == "status":
                header.plain = _summary(url, data)
                for name, stage in data.get("indexing", {}).get("stages", {}).items():
                    bar(name, stage["done"], stage["total"], stage["rate"], stage["eta_s"],
                        stage.get("state", ""))
                scan = data.get("scan") or {}
                if scan.get("progress"):
                    p = scan["progress"]
                    bar(f"scan ({p['phase']})", p["done"], p["total"], None, None)
            elif kind == "indexing" and "stage" in data:
                bar(data["stage"], data["done"], data["total"], data["rate"], data["eta_s"],
                    data.get("state", ""))
            elif kind == "weights":
                label = f"{data['stage']} weights, MB"
                if data.get("state") == "downloading":
                    bar(label, int(data.get("done") or 0) // 1_000_000,
                        int(data.get("total") or 0) // 1_000_000, None, None,
                        data.get("file", ""))
                else:
                    if label in tasks:
                        bars.remove_task(tasks.pop(label))
                    live.console.print(f"{data['stage']}: {data.get('text') or data['state']}")
            elif kind == "files":
                live.console.print(f"files: {data['added']} added, {data['removed']} removed,"
                                   f" {data['moved']} moved")
            elif kind == "scan":
                live.console.print("scan started" if data.get("running") else
                                   f"scan finished: {data.get('files', 0)} files, "
                                   f"{data.get('new_images', 0)} new images")
            elif kind == "error":
                live.console.print(f"[red]error[/red]: {data.get('path')}: "
                                   f"{data.get('message') or data.get('reason')}")


def _summary(url: str, status: dict[str, Any]) -> str:
    indexing = status.get("indexing", {})
    state = "paused" if indexing.get("paused") else \
        "indexing" if indexing.get("running") else "idle"
    if (status.get("scan") or {}).get("running"):
        state = "scanning"
    watch = status.get("watch", {})
    roots = ", ".join(f"{name}: {mode}" for name, mode in watch.get("roots", {}).items())
    return (f"PxIMSE at {url}: {state} — {status.get('images', 0)} images "
            f"({status.get('images_offline', 0)} offline), {status.get('files', 0)} files, "
            f"{status.get('errors', 0)} errors"
            + (f"\nroots: {roots}" if roots else
               "\nnot watching" if not watch.get("enabled") else ""))


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m left"
    return f"{seconds // 60}:{seconds % 60:02d} left"
