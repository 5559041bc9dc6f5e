"""The digiKam bridge as a PxIMSE plug-in: ``pximse xmp``, the search page's
"write XMP now" and its feature entry, and the follower that keeps sidecars
current while the daemon runs."""

from __future__ import annotations

from typing import Any

from pximse.plugins import Loop, LoopContext, Plugin


def _commands() -> list[Any]:
    from pximse.integrations.digikam.cli import xmp_group

    return [xmp_group]


def _routers() -> list[Any]:
    from pximse.integrations.digikam.routes import router

    return [router]


def _xmp_feature(state: Any) -> dict[str, Any]:
    from pximse.integrations.digikam.routes import xmp_feature

    return xmp_feature(state.config)


def _start_sidecars(context: LoopContext) -> Any:
    """Keep XMP sidecars current where write-back is on ([xmp] write, or a
    root's xmp key): the follower, every few seconds, from the catalogue's
    write generation; None when no root writes sidecars."""
    from pximse.integrations.digikam.follower import follower_thread

    return follower_thread(context.catalog, context.config, context.stopping)


plugin = Plugin(
    name="digikam",
    commands=_commands,
    routers=_routers,
    loops=(Loop("xmp sidecars", _start_sidecars),),
    features={"xmp": _xmp_feature},
)
