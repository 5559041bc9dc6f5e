"""Pixiv metadata as a PxIMSE plug-in: ``pximse pixiv``, ``/api/pixiv``, and
the loop that fetches in the background ([pixiv] background). The fetching
itself is the core's Pixiv source (:mod:`pximse.sources.pixiv`), which the
catalogue and the query language build on."""

from __future__ import annotations

from typing import Any

from pximse.plugins import Loop, LoopContext, Plugin

FETCH_LOOP = "pixiv fetch"


def _commands() -> list[Any]:
    from pximse.integrations.pixiv.cli import pixiv_group

    return [pixiv_group]


def _routers() -> list[Any]:
    from pximse.integrations.pixiv.routes import router

    return [router]


def make_fetch_loop(context: LoopContext) -> Any:
    """The fetch loop: made when the daemon starts it, or on the first
    ``POST /api/pixiv/fetch``; one per daemon either way."""
    from pximse.sources.pixiv_background import PixivFetchLoop

    return PixivFetchLoop(context.config, context.catalog, context.stopping,
                          events=context.events)


def _start_fetch(context: LoopContext) -> Any:
    """Fetch Pixiv metadata in the background ([pixiv] background), every
    background_interval_minutes; it stops between two requests when the
    daemon stops."""
    if not context.config.pixiv.background:
        return None
    fetcher = context.keep(FETCH_LOOP, make_fetch_loop)
    context.spawn(FETCH_LOOP, fetcher.run)
    return fetcher


plugin = Plugin(
    name="pixiv",
    commands=_commands,
    routers=_routers,
    loops=(Loop(FETCH_LOOP, _start_fetch),),
)
