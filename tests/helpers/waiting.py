"""Waiting on a condition, never on a fixed sleep: the one ``wait_for`` of the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 120.0, what: str = "",
             interval: float = 0.05) -> Any:
    """``condition()``'s first true value, polled every ``interval`` seconds;
    an ``AssertionError`` naming ``what`` when ``timeout`` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)
