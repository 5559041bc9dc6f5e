"""The tray's side of the status window: start it, feed it, hear its buttons.

Where Tk is missing (a Python built without it), the status is written to a
text file beside the logs and opened with the desktop's text viewer instead.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["StatusWindowProcess"]

log = logging.getLogger(__name__)


class StatusWindowProcess:
    def __init__(self, on_action: Callable[[str], None]) -> None:
        self.on_action = on_action
        self.process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def show(self, content: dict[str, Any]) -> None:
        """Open the window (or bring it to the front) with ``content``."""
        if importlib.util.find_spec("tkinter") is None:
            self._show_as_text(content)
            return
        with self._lock:
            if not self.is_open:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "pximse.tray.status_window"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                )
                threading.Thread(target=self._hear, args=(self.process,), name="status-window",
                                 daemon=True).start()
        self._send({**content, "raise": True})

    def update(self, content: dict[str, Any]) -> None:
        """New content for the window, if it is open."""
        if self.is_open:
            self._send(content)

    def close(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.close()  # the window closes when its input ends
            process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()

    def _send(self, content: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(json.dumps(content, ensure_ascii=False) + "\n")
            process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            log.debug("the status window has closed")

    def _hear(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            action = line.strip()
            if action:
                self.on_action(action)

    def _show_as_text(self, content: dict[str, Any]) -> None:
        from pximse.logs import log_dir
        from pximse.tray.desktop_open import open_file

        path = log_dir() / "status.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ([content["message"], ""] if content.get("message") else []) + content["lines"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        open_file(path)
