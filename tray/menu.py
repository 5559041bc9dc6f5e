"""The tray's menu for the backends pystray does not provide.

:class:`Menu` and :class:`MenuItem` have the part of pystray's interface the
tray uses (pystray's own classes cannot be had without importing pystray,
and with it a backend: its X backend connects to the display at import
time, and on Wayland there is none). A label may be a function of the item,
read each time the menu is shown: "Pause indexing" becomes "Resume indexing"
while the daemon is paused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Menu", "MenuItem"]


class MenuItem:
    def __init__(self, text: str | Callable[[MenuItem], str],
                 action: Callable[[Any, MenuItem], object] | None, *,
                 default: bool = False, visible: bool = True, enabled: bool = True) -> None:
        self._text = text
        self._action = action
        self.default = default
        self.visible = visible
        self.enabled = enabled

    @property
    def text(self) -> str:
        return self._text(self) if callable(self._text) else self._text

    @property
    def is_separator(self) -> bool:
        return self._action is None and self.text == SEPARATOR_TEXT

    def __call__(self, icon: Any) -> None:
        """What a click on the item does (pystray calls the action with the icon
        and the item)."""
        if self._action is not None:
            self._action(icon, self)

    def __repr__(self) -> str:
        return f"MenuItem({self.text!r})"


SEPARATOR_TEXT = "- - - -"


class Menu:
    SEPARATOR = MenuItem(SEPARATOR_TEXT, None)

    def __init__(self, *items: MenuItem) -> None:
        self.items = tuple(items)

    def __call__(self, icon: Any) -> None:
        """Run the default item (what a click on the icon does)."""
        for item in self.items:
            if item.default:
                item(icon)
                return
