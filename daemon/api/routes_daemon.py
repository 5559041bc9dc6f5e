"""The daemon's own routes: status, the live event stream, pausing indexing, rescans.

``GET /api/events`` is a Server-Sent Events stream: every event published on
the daemon's bus (``files``, ``scan``, ``indexing``, ``error``, ``status``), one
message each (``id:``, ``event:``, ``data:`` with the event's JSON). A
``status`` snapshot is sent on connect, to that client alone (one made less
than a second ago is reused, so many clients connecting at once cost one), then
at least every 2 s while a scan or indexing runs and every 30 s otherwise, to
every client at once, which doubles as a keep-alive. Each event is encoded once
for all the clients that send it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from pximse.events import Event
from pximse.service.runtime import Daemon

router = APIRouter(prefix="/api")

_CLIENT_QUEUE = 2000
"""Events a slow client may fall behind by before the oldest are dropped."""


def get_daemon(request: Request) -> Daemon:
    return request.app.state.daemon  # type: ignore[no-any-return]


@router.get("/status", summary="Counts, scanning, indexing, watching and errors")
def status(daemon: Annotated[Daemon, Depends(get_daemon)]) -> dict[str, Any]:
    return daemon.status()


@router.post("/indexing/pause", summary="Pause background indexing")
def pause(daemon: Annotated[Daemon, Depends(get_daemon)]) -> dict[str, bool]:
    daemon.pause()
    return {"paused": True}


@router.post("/indexing/resume", summary="Resume background indexing")
def resume(daemon: Annotated[Daemon, Depends(get_daemon)]) -> dict[str, bool]:
    daemon.resume()
    return {"paused": False}


@router.post("/scan", summary="Rescan every library root now", status_code=202)
def scan(daemon: Annotated[Daemon, Depends(get_daemon)]) -> JSONResponse:
    started, reason = daemon.request_scan("requested")
    body: dict[str, Any] = {"started": started}
    if reason:
        body["reason"] = reason
    return JSONResponse(status_code=202, content=body)


@router.get("/events", summary="Server-Sent Events: status, files, scan, indexing, errors")
async def events(request: Request,
                 daemon: Annotated[Daemon, Depends(get_daemon)]) -> StreamingResponse:
    return StreamingResponse(
        _stream(request, daemon), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


_ENCODED: OrderedDict[int, tuple[Event, bytes]] = OrderedDict()
_ENCODED_KEPT = 256


def _message(event: Event, missed: int = 0) -> bytes:
    if not missed:  # the common case: the same bytes for every client
        # Ids count per event bus: the cached bytes are this very event's only
        # (another bus in the process, an app made again, has its own id 1).
        found = _ENCODED.get(event.id)
        if found is None or found[0] is not event:
            found = _ENCODED[event.id] = (event, _encode(event, 0))
            _ENCODED.move_to_end(event.id)
            if len(_ENCODED) > _ENCODED_KEPT:
                _ENCODED.popitem(last=False)
        return found[1]
    return _encode(event, missed)


def _encode(event: Event, missed: int) -> bytes:
    body = event.to_json()
    if missed:
        body["missed"] = missed
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


async def _stream(request: Request, daemon: Daemon) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    def wake() -> None:
        loop.call_soon_threadsafe(ready.set)

    subscription = daemon.events.subscribe(_CLIENT_QUEUE, wake)
    try:
        # This client's own snapshot (taken after subscribing, so nothing between
        # the two is lost); the others on the bus are not sent it.
        snapshot = await run_in_threadpool(daemon.state.status_event)
        yield b"retry: 2000\n\n" + _message(snapshot)
        last_status = time.monotonic()
        missed = 0
        while True:
            ready.clear()  # before draining: an event queued after this wakes the wait
            for event in subscription.drain():
                if event.kind == "status":
                    last_status = time.monotonic()
                yield _message(event, subscription.missed - missed)
                missed = subscription.missed
            if daemon.stopping:
                break
            due = last_status + daemon.state.status_interval() - time.monotonic()
            if due <= 0:
                await run_in_threadpool(daemon.state.publish_status)
                last_status = time.monotonic()
                continue
            try:
                await asyncio.wait_for(ready.wait(), timeout=min(due, 1.0))
            except TimeoutError:
                if await request.is_disconnected():
                    break
    finally:
        subscription.close()
