"""Opening a file or a web page with what the user's desktop uses for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import webbrowser
from pathlib import Path

__all__ = ["OpenFailed", "open_file", "open_url"]


class OpenFailed(Exception):
    """Nothing could open it; the message says what to do instead."""


def open_file(path: Path) -> None:
    """Open ``path`` in the application the desktop associates with it (a text
    editor for the log and the configuration)."""
    if not path.exists():
        raise OpenFailed(f"{path} does not exist yet")
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606 (a user's own file)
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        raise OpenFailed(f"{opener} is not installed: open {path} yourself")
    subprocess.Popen([opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def open_url(url: str) -> None:
    """Open ``url`` in the user's web browser: ``$BROWSER`` as it is set now (the
    standard library reads it once per process), else the desktop's default."""
    for command in os.environ.get("BROWSER", "").split(os.pathsep):
        if not command.strip():
            continue
        try:
            browser = webbrowser.get(command if "%s" in command else f"{command} %s")
        except webbrowser.Error:
            continue
        if browser.open(url):
            return
    if not webbrowser.open(url):
        raise OpenFailed(f"no web browser could be started: open {url} yourself")
