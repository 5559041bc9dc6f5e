"""The tray icon as a PxIMSE plug-in: ``pximse tray``."""

from __future__ import annotations

from typing import Any

from pximse.plugins import Plugin


def _commands() -> list[Any]:
    from pximse.tray.cli import tray_command

    return [tray_command]


plugin = Plugin(name="tray", commands=_commands)
