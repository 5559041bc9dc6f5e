"""Plug-ins: what an integration (digiKam, Hydrus) or the tray adds to PxIMSE.

A plug-in is a :class:`Plugin` object named by an entry point in the
``pximse.plugins`` group of some installed distribution (PxIMSE's own are in its
``pyproject.toml``). It may contribute

- ``commands``: click commands or groups added to ``pximse``;
- ``routers``: FastAPI routers the daemon's API includes;
- ``loops``: background work the daemon starts with its other work and stops
  with it (:class:`Loop`);
- ``features``: entries of ``GET /api/features``, which tell the search page
  whether one of its buttons can work here.

Each hook is a function called when the core needs it, so a plug-in's module
stays light to import and its heavy parts load only when used. The core
iterates :func:`plugins` and imports no plug-in itself. A plug-in that cannot
be loaded, or whose hook fails, is logged by name and left out: the other
plug-ins and the daemon go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, TypeVar

log = logging.getLogger(__name__)

GROUP = "pximse.plugins"
"""The entry-point group that names the plug-ins."""

__all__ = ["GROUP", "Loop", "LoopContext", "Plugin", "PluginProblem", "collect", "commands",
           "feature_states", "plugins", "problems", "refresh", "routers", "start_loops"]


@dataclass(frozen=True)
class LoopContext:
    """What a background loop gets from the daemon: its configuration, catalogue
    and event bus, the event set when the daemon stops, ``spawn`` to run a
    function on a daemon thread the daemon keeps track of, and ``keep`` for a
    handle a route may make first: ``keep(name, make)`` is the daemon's
    ``loops[name]``, made by ``make(context)`` the first time."""

    config: Any
    catalog: Any
    events: Any
    stopping: threading.Event
    spawn: Callable[[str, Callable[[], object]], None]
    keep: Callable[[str, Callable[[LoopContext], Any]], Any]


@dataclass(frozen=True)
class Loop:
    """Background work of a plug-in. ``start`` is called once when the daemon
    starts its work; it returns a handle the plug-in's routes may ask about
    (the daemon keeps it as ``daemon.loops[name]``), or None when the
    configuration leaves it nothing to do. It must return at once (a long
    loop goes on ``context.spawn``) and end when ``context.stopping`` is set."""

    name: str
    start: Callable[[LoopContext], Any]


@dataclass(frozen=True)
class Plugin:
    """What one plug-in contributes; every part is optional."""

    name: str
    commands: Callable[[], Sequence[Any]] | None = None
    """The click commands or groups it adds to ``pximse``."""
    routers: Callable[[], Sequence[Any]] | None = None
    """The FastAPI routers it adds to the daemon's API."""
    loops: Sequence[Loop] = ()
    features: dict[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)
    """``GET /api/features`` entries: each function gets the app's state."""


@dataclass(frozen=True)
class PluginProblem:
    """A plug-in left out: its entry point and why."""

    name: str
    entry_point: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"plugin": self.name, "entry_point": self.entry_point, "message": self.message}


_problems: list[PluginProblem] = []
_problems_lock = threading.Lock()


def _report(name: str, where: str, message: str) -> None:
    problem = PluginProblem(name, where, message)
    with _problems_lock:
        if problem not in _problems:
            _problems.append(problem)


@lru_cache(maxsize=1)
def _loaded() -> tuple[Plugin, ...]:
    found: list[Plugin] = []
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        try:
            plugin = point.load()
        except Exception as exc:  # one line, no traceback: every command loads these
            log.error("the plug-in %r (%s) could not be loaded (%r); PxIMSE goes on "
                      "without it", point.name, point.value, exc)
            _report(point.name, point.value, f"could not be loaded: {exc!r}")
            continue
        if not isinstance(plugin, Plugin):
            log.error("the plug-in %r (%s) is a %s, not a pximse.plugins.Plugin; it is "
                      "left out", point.name, point.value, type(plugin).__name__)
            _report(point.name, point.value,
                    f"is a {type(plugin).__name__}, not a pximse.plugins.Plugin")
            continue
        found.append(plugin)
    return tuple(found)


def plugins() -> tuple[Plugin, ...]:
    """The installed plug-ins that load, by entry-point name."""
    return _loaded()


def problems() -> list[PluginProblem]:
    """The plug-ins left out so far (not loaded, or a hook that failed)."""
    with _problems_lock:
        return list(_problems)


def refresh() -> None:
    """Look for plug-ins again (after a distribution was installed)."""
    _loaded.cache_clear()
    with _problems_lock:
        _problems.clear()


T = TypeVar("T")


def collect(what: str, hook: Callable[[Plugin], Sequence[T] | None]) -> Iterator[T]:
    """What each plug-in's ``hook`` gives; a plug-in whose hook fails is logged,
    named, and skipped."""
    for plugin in plugins():
        try:
            items = list(hook(plugin) or ())
        except Exception as exc:
            log.exception("the plug-in %r failed to give its %s; it is left out of them",
                          plugin.name, what)
            _report(plugin.name, what, f"its {what} failed: {exc!r}")
            continue
        yield from items


def commands() -> list[Any]:
    """The click commands and groups the plug-ins add to ``pximse``."""
    return list(collect("commands", lambda plugin: plugin.commands() if plugin.commands else None))


def routers() -> list[Any]:
    """The FastAPI routers the plug-ins add to the daemon's API."""
    return list(collect("routers", lambda plugin: plugin.routers() if plugin.routers else None))


def start_loops(context: LoopContext) -> dict[str, Any]:
    """Start every plug-in's loops; a loop that fails to start is logged, named,
    and the others start. The handles, by loop name (None: nothing to do)."""
    handles: dict[str, Any] = {}
    for plugin in plugins():
        for loop in plugin.loops:
            if context.stopping.is_set():
                return handles
            try:
                handles[loop.name] = loop.start(context)
            except Exception as exc:
                log.exception("the plug-in %r could not start its %r loop; the daemon goes "
                              "on without it", plugin.name, loop.name)
                _report(plugin.name, f"loop {loop.name}", f"could not start: {exc!r}")
    return handles


def feature_states(state: Any) -> dict[str, dict[str, Any]]:
    """Every plug-in's ``/api/features`` entries for the app whose state this is;
    one that fails says so as an unavailable feature."""
    result: dict[str, dict[str, Any]] = {}
    for plugin in plugins():
        for key, feature in plugin.features.items():
            try:
                result[key] = feature(state)
            except Exception as exc:
                log.exception("the plug-in %r failed to say whether %r can run",
                              plugin.name, key)
                result[key] = {"available": False, "code": "plugin",
                               "reason": f"the {plugin.name} plug-in failed",
                               "what_to_do": "see the daemon's log", "detail": repr(exc)}
    return result
