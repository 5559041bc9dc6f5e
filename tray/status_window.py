"""The status window: counts, rate, time left and the last errors, with a
button for each of the tray menu's actions.

It runs as a process of its own (``python -m pximse.tray.status_window``), so
that Tk and the tray's event loop never share a thread. It is only a view:
the tray writes what to show on its stdin, one JSON object a line
(``{"lines": [...], "paused": bool, "message": str}``), and the window writes
the action a button asks for on its stdout (``pause``, ``resume``, ``rescan``,
``open_page``, ``open_log``, ``open_config``, ``quit``). It closes when its
stdin ends (the tray quit) or when the user closes it.

It is also what a click on the icon opens where the tray cannot show a menu
(pystray's X backend): every action stays one click away.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["TITLE", "StatusWindow", "main"]

TITLE = "PxIMSE status"


class StatusWindow:
    """The window's widgets in a Tk root; ``send`` carries an action to the tray."""

    def __init__(self, root: Any, send: Callable[[str], None]) -> None:
        import tkinter as tk

        self.root = root
        self.send = send
        self.paused = False
        root.title(TITLE)
        root.minsize(420, 200)
        self.message = tk.Label(root, text="", fg="#b00000", anchor="w", justify="left",
                                wraplength=560)
        self.message.pack(fill="x", padx=10, pady=(10, 0))
        self.text = tk.Label(root, text="…", anchor="w", justify="left", font="TkFixedFont")
        self.text.pack(fill="both", expand=True, padx=10, pady=10)
        bar = tk.Frame(root)
        bar.pack(fill="x", padx=10, pady=(0, 10))
        self.buttons: dict[str, Any] = {}
        for label, action in (("Open search page", "open_page"), ("Pause indexing", "pause"),
                              ("Rescan now", "rescan"), ("Open log file", "open_log"),
                              ("Open config", "open_config"), ("Quit PxIMSE", "quit")):
            button = tk.Button(bar, text=label, command=self._presser(action))
            button.pack(side="left", padx=(0, 6))
            self.buttons[action] = button

    def _presser(self, action: str) -> Callable[[], None]:
        return lambda: self._press(action)

    def _press(self, action: str) -> None:
        if action == "pause" and self.paused:
            action = "resume"
        self.send(action)

    def show(self, update: dict[str, Any]) -> None:
        self.text.configure(text="\n".join(update.get("lines") or []))
        self.message.configure(text=update.get("message") or "")
        self.paused = bool(update.get("paused"))
        self.buttons["pause"].configure(
            text="Resume indexing" if self.paused else "Pause indexing")
        if update.get("raise"):
            self.root.deiconify()
            self.root.lift()


def main() -> None:
    import tkinter as tk

    root = tk.Tk()

    def send(action: str) -> None:
        try:
            print(action, flush=True)
        except (BrokenPipeError, ValueError):  # the tray is gone
            root.destroy()

    window = StatusWindow(root, send)
    updates: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            try:
                update = json.loads(line)
            except ValueError:
                continue
            if isinstance(update, dict):
                updates.put(update)
        updates.put(None)

    threading.Thread(target=read, name="updates", daemon=True).start()

    def apply() -> None:
        while True:
            try:
                update = updates.get_nowait()
            except queue.Empty:
                break
            if update is None:
                root.destroy()
                return
            window.show(update)
        root.after(100, apply)

    root.after(50, apply)
    root.mainloop()


if __name__ == "__main__":
    main()
