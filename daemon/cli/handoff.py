"""``pximse index`` beside a running daemon: one process works on a data folder.

When a daemon holds the data folder (``daemon.lock``) and watches the roots
asked for, the command asks it to rescan (``POST /api/scan``) and follows its
progress until the scan and the indexing of what it found are done, instead
of hashing, decoding and running the models a second time in parallel. For
paths the daemon does not watch, or when another ``pximse index`` holds the
folder, it waits for the lock, saying so, and then does the work itself
holding the lock (a daemon started meanwhile is told who holds it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from pximse.config import Config, RootConfig
from pximse.service.lock import DaemonLock, DataFolderLocked, read_lock_info

__all__ = ["daemon_holding", "hand_to_daemon", "index_lock"]

POLL_S = 0.5
WAKE_S = 5.0
"""How long the indexer is given to start on what a scan found."""


def daemon_holding(config: Config) -> dict[str, Any] | None:
    """The running daemon's lock information (pid, url), or None."""
    info = read_lock_info(config.data_dir)
    return info if info is not None and info.get("url") else None


def watched_by_daemon(config: Config, roots: Sequence[RootConfig]) -> bool:
    """Whether every root asked for is one of the configured roots (the daemon's)."""
    configured = {root.path for root in config.roots}
    return all(root.path in configured for root in roots)


def hand_to_daemon(config: Config, holder: dict[str, Any], *, models: bool,
                   echo: Callable[[str], None]) -> dict[str, Any]:
    """Have the daemon rescan and index; returns its scan report and status."""
    client = _Client(str(holder["url"]).rstrip("/"), config.server.token)
    echo(f"a PxIMSE daemon (pid {holder.get('pid')}) runs on this data folder at "
         f"{client.url}: the work is handed to it")
    before = client.status()
    last = (before.get("scan") or {}).get("last")
    for _ in range(2):
        started = client.post("/api/scan").get("started")
        if started:
            break
        # A scan is running: let it end, then ask for one that sees everything now.
        status = client.wait(lambda s: not (s.get("scan") or {}).get("running"))
        last = (status.get("scan") or {}).get("last")
    status = client.wait(lambda s: not (s.get("scan") or {}).get("running")
                         and (s.get("scan") or {}).get("last") != last)
    report = (status.get("scan") or {}).get("last") or {}
    if models and not (status.get("indexing") or {}).get("paused"):
        deadline = time.monotonic() + WAKE_S
        while time.monotonic() < deadline and not _indexing(status):
            time.sleep(POLL_S)
            status = client.status()
        status = client.wait(lambda s: not _indexing(s))
    return {"report": report, "status": status}


def _indexing(status: dict[str, Any]) -> bool:
    indexing = status.get("indexing") or {}
    return bool(indexing.get("running")) and not indexing.get("paused")


def index_lock(data_dir: Path, echo: Callable[[str], None]) -> DaemonLock:
    """The data folder's lock, held for ``pximse index`` (release it when done),
    after waiting (and saying so) while a daemon or another ``pximse index``
    holds it. OSError when the data folder cannot be made."""
    lock = DaemonLock(data_dir, command="index")
    waiting = False
    while True:
        try:
            lock.acquire()
            break
        except DataFolderLocked as held:
            if not waiting:
                who = f"pid {held.holder.get('pid')}" if held.holder.get("pid") else "a process"
                what = "pximse index" if held.holder.get("command") == "index" \
                    else "a PxIMSE daemon"
                echo(f"{what} ({who}) holds the data folder {data_dir}: waiting for it to "
                     "finish (Ctrl+C gives up; a folder in [[library.roots]] is indexed by "
                     "the daemon itself)")
                waiting = True
            time.sleep(POLL_S)
    return lock


class _Client:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/api/status")

    def post(self, path: str) -> dict[str, Any]:
        return self._call("POST", path)

    def wait(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            status = self.status()
            if done(status):
                return status
            time.sleep(POLL_S)

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import httpx  # only when a daemon is there to talk to (its import costs 0.2 s)

        try:
            response = httpx.request(method, self.url + path, headers=self.headers, timeout=30)
        except httpx.HTTPError as exc:
            raise click.ClickException(
                f"the daemon at {self.url} stopped answering ({exc}); run the command "
                "again") from exc
        if response.status_code >= 400:
            raise click.ClickException(
                f"the daemon at {self.url} answered {method} {path} with "
                f"{response.status_code}: {response.text[:200]}")
        body = response.json()
        return body if isinstance(body, dict) else {}
