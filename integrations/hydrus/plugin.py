"""The Hydrus bridge as a PxIMSE plug-in: ``pximse hydrus``, the routes that
send a search or a selection to Hydrus, and the loop that pushes tags to it
while the daemon runs ([hydrus] push)."""

from __future__ import annotations

from typing import Any

from pximse.plugins import Loop, LoopContext, Plugin


def _commands() -> list[Any]:
    from pximse.integrations.hydrus.cli import hydrus_group

    return [hydrus_group]


def _routers() -> list[Any]:
    from pximse.integrations.hydrus.routes import router, selection_router

    return [router, selection_router]


def _start_push(context: LoopContext) -> Any:
    """Keep a Hydrus client's tags current ([hydrus] push): the bridge's own
    loop, which retries a stopped Hydrus quietly and stops with the daemon."""
    if not context.config.hydrus.push:
        return None
    from pximse.integrations.hydrus.background import HydrusPushLoop

    loop = HydrusPushLoop(context.config, context.catalog, context.stopping,
                          events=context.events)
    context.spawn("hydrus push", loop.run)
    return loop


plugin = Plugin(
    name="hydrus",
    commands=_commands,
    routers=_routers,
    loops=(Loop("hydrus push", _start_push),),
)
