"""``pximse serve``: take the data folder's lock, start the HTTP server, then the
daemon's background work; on SIGTERM or Ctrl+C, stop taking work, finish and
commit what is in hand, and release the lock."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from pximse.config import Config
from pximse.service.lock import DaemonLock
from pximse.service.runtime import Daemon

__all__ = ["serve_app"]

log = logging.getLogger(__name__)


class _DaemonServer(uvicorn.Server):
    """uvicorn, with the daemon's work started once the port is bound and stopped
    inside the graceful shutdown (uvicorn re-raises the signal afterwards)."""

    def __init__(self, config: uvicorn.Config, daemon: Daemon, start: Callable[[], None],
                 finish: Callable[[], None]) -> None:
        super().__init__(config)
        self.daemon = daemon
        self._start = start
        self._finish = finish

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._start()

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.daemon.begin_stop()  # event streams end, the indexer stops after its batch
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.daemon.begin_stop()
        await super().shutdown(sockets)
        await asyncio.to_thread(self._finish)


def serve_app(
    config: Config,
    make_app: Callable[[Any], Any],
    open_catalog: Callable[[Config], Any],
    *,
    host: str,
    port: int,
    scan: bool = True,
    models: bool = True,
    watch: bool | None = None,
    announce: Callable[[str], None] = lambda url: None,
) -> None:
    """Run the daemon until it is told to stop. Raises ``DataFolderLocked`` when
    another daemon uses the data folder."""
    url = f"http://{host}:{port}/"
    lock = DaemonLock(config.data_dir, url=url)
    lock.acquire()
    catalog = None
    daemon: Daemon | None = None
    finished = False
    try:
        catalog = open_catalog(config)
        app = make_app(catalog)
        daemon = app.state.daemon
        assert daemon is not None

        def start() -> None:
            daemon.start(scan=scan, models=models, watch=watch)
            announce(url)

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            assert daemon is not None
            daemon.stop()
            catalog.close()
            lock.release()
            log.info("stopped cleanly")

        server = _DaemonServer(
            # log_config=None: uvicorn's messages go through the root logger (the log file).
            uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None,
                           timeout_graceful_shutdown=3),
            daemon, start, finish,
        )
        server.run()
        if server.started:
            finish()
    finally:
        if not finished:
            if daemon is not None:
                daemon.stop()
            if catalog is not None:
                catalog.close()
            lock.release()
