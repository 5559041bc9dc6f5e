"""Reading the daemon's server-sent events stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def sse_messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    message: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "event" in message:
                yield message
            message = {}
            continue
        key, _, value = line.partition(": ")
        message[key] = json.loads(value) if key == "data" else value
